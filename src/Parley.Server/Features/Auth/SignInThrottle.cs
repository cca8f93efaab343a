using System.Collections.Concurrent;
using Microsoft.Extensions.Options;

namespace Parley.Server.Features.Auth;

/// <summary>
/// Failed sign-ins counted per account name and per client IP over a sliding window. Counting by the submitted email
/// (not only existing accounts) keeps the answer the same whether or not the account exists. The persistent account
/// lockout (User.LockedUntil) backs this up across restarts and nodes.
/// </summary>
public sealed class SignInThrottle(IOptions<SignInOptions> options, TimeProvider time)
{
    private readonly ConcurrentDictionary<string, Queue<DateTimeOffset>> _failures = new(StringComparer.Ordinal);

    public bool IsThrottled(string normalizedEmail, string? ip)
    {
        var o = options.Value;
        return Count("e:" + normalizedEmail) >= o.MaxFailuresPerAccount || (ip is not null && Count("i:" + ip) >= o.MaxFailuresPerIp);
    }

    public void RecordFailure(string normalizedEmail, string? ip)
    {
        Add("e:" + normalizedEmail);
        if (ip is not null)
        {
            Add("i:" + ip);
        }
    }

    public void RecordSuccess(string normalizedEmail) => _failures.TryRemove("e:" + normalizedEmail, out _);

    private int Count(string key)
    {
        if (!_failures.TryGetValue(key, out var queue))
        {
            return 0;
        }

        lock (queue)
        {
            Trim(queue);
            return queue.Count;
        }
    }

    private void Add(string key)
    {
        var queue = _failures.GetOrAdd(key, _ => new Queue<DateTimeOffset>());
        lock (queue)
        {
            Trim(queue);
            queue.Enqueue(time.GetUtcNow());
        }

        if (_failures.Count > 100_000)
        {
            // Bounded memory under a spray of distinct names: forget entries whose window has passed.
            foreach (var (k, q) in _failures)
            {
                lock (q)
                {
                    Trim(q);
                    if (q.Count == 0)
                    {
                        _failures.TryRemove(k, out _);
                    }
                }
            }
        }
    }

    private void Trim(Queue<DateTimeOffset> queue)
    {
        var cutoff = time.GetUtcNow() - TimeSpan.FromMinutes(options.Value.ThrottleWindowMinutes);
        while (queue.Count > 0 && queue.Peek() < cutoff)
        {
            queue.Dequeue();
        }
    }
}
