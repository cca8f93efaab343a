using System.Collections.Concurrent;

namespace Parley.Server.Features.Ai;

/// <summary>
/// Tokens each site spent with the LLM provider per UTC day (<see cref="LlmOptions.DailyTokenBudgetPerSite"/>). One
/// node counts in process (<see cref="LocalTokenBudget"/>); with Redis scale-out the count is shared by every node
/// (<see cref="ScaleOut.RedisTokenBudget"/>).
/// </summary>
public interface ILlmTokenBudget
{
    ValueTask<long> SpentAsync(Guid siteId, DateOnly day, CancellationToken cancellationToken);

    ValueTask AddAsync(Guid siteId, DateOnly day, long tokens, CancellationToken cancellationToken);
}

/// <summary>The count of one node (single-node installs, and the fallback while Redis is unreachable).</summary>
public sealed class LocalTokenBudget : ILlmTokenBudget
{
    private readonly ConcurrentDictionary<(Guid Site, DateOnly Day), long> _spent = new();

    public ValueTask<long> SpentAsync(Guid siteId, DateOnly day, CancellationToken cancellationToken) =>
        ValueTask.FromResult(_spent.GetValueOrDefault((siteId, day)));

    public ValueTask AddAsync(Guid siteId, DateOnly day, long tokens, CancellationToken cancellationToken)
    {
        _spent.AddOrUpdate((siteId, day), tokens, (_, n) => n + tokens);
        // Yesterday's counts are never read again.
        foreach (var key in _spent.Keys)
        {
            if (key.Day < day)
            {
                _spent.TryRemove(key, out _);
            }
        }

        return ValueTask.CompletedTask;
    }
}
