using System.Collections.Concurrent;
using Microsoft.Extensions.Options;

namespace Parley.Server.Features.Auth;

/// <summary>
/// Failed sign-ins counted per account name and client IP together, with progressive delays: after
/// <see cref="SignInOptions.FreeFailures"/> failures the next attempt from that IP on that account must wait
/// <see cref="SignInOptions.BaseDelaySeconds"/>, doubling with each failure up to <see cref="SignInOptions.MaxDelaySeconds"/>.
/// Nothing locks the account itself: a count per account alone (or a stored lockout) is something an outsider controls,
/// who could then keep an admin out by failing on purpose (#15). Each IP also has a cap over all accounts (spraying).
/// Counting by the submitted email (not only existing accounts) keeps the answer the same whether or not the account exists.
/// </summary>
public sealed class SignInThrottle(IOptions<SignInOptions> options, TimeProvider time)
{
    private readonly ConcurrentDictionary<string, Queue<DateTimeOffset>> _failures = new(StringComparer.Ordinal);

    /// <summary>The delay before the next attempt after <paramref name="failures"/> recent failures (zero: at once).</summary>
    public static TimeSpan DelayFor(int failures, SignInOptions o)
    {
        var beyond = failures - o.FreeFailures;
        if (beyond < 0)
        {
            return TimeSpan.Zero;
        }

        var seconds = beyond >= 30 ? o.MaxDelaySeconds : Math.Min(o.MaxDelaySeconds, o.BaseDelaySeconds * (1L << beyond));
        return TimeSpan.FromSeconds(seconds);
    }

    /// <summary>How long this account and IP must wait before another attempt; null when one may be made now.</summary>
    public TimeSpan? RetryAfter(string normalizedEmail, string? ip)
    {
        var o = options.Value;
        var now = time.GetUtcNow();
        if (ip is not null && Snapshot("i:" + ip) is { Count: var perIp, Oldest: { } oldest } && perIp >= o.MaxFailuresPerIp)
        {
            return Positive(oldest + TimeSpan.FromMinutes(o.ThrottleWindowMinutes) - now);
        }

        var (count, _, last) = Snapshot(PairKey(normalizedEmail, ip));
        var delay = DelayFor(count, o);
        return last is { } at && delay > TimeSpan.Zero && at + delay > now ? Positive(at + delay - now) : null;
    }

    public void RecordFailure(string normalizedEmail, string? ip)
    {
        Add(PairKey(normalizedEmail, ip));
        if (ip is not null)
        {
            Add("i:" + ip);
        }
    }

    public void RecordSuccess(string normalizedEmail, string? ip) => _failures.TryRemove(PairKey(normalizedEmail, ip), out _);

    private static string PairKey(string normalizedEmail, string? ip) => "a:" + (ip ?? "-") + "|" + normalizedEmail;

    private static TimeSpan Positive(TimeSpan t) => t > TimeSpan.FromSeconds(1) ? t : TimeSpan.FromSeconds(1);

    private (int Count, DateTimeOffset? Oldest, DateTimeOffset? Last) Snapshot(string key)
    {
        if (!_failures.TryGetValue(key, out var queue))
        {
            return (0, null, null);
        }

        lock (queue)
        {
            Trim(queue);
            return queue.Count == 0 ? (0, null, null) : (queue.Count, queue.Peek(), queue.Last());
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
