using System.Threading.RateLimiting;

namespace Parley.Server.Features.Widget;

/// <summary>
/// Where the limits on anonymous visitors count. On one node: in this process. With Redis (scale-out) the
/// counts are shared by every node, so a client cannot multiply a limit by the number of nodes behind the load
/// balancer (see ScaleOut/RedisRateLimits). Hub sends are limited per connection (<see cref="VisitorSendLimiter"/>,
/// in the node) and per visitor across connections here (<see cref="VisitorActionLimits"/>); the per-visitor check
/// is awaited inside the send's turn, so waiting on Redis never reorders a connection's sends.
/// </summary>
public interface IAnonymousRateLimits
{
    /// <summary>A fixed window of <paramref name="permits"/> per <paramref name="window"/> for one key (a client IP) of one policy.</summary>
    RateLimitPartition<string> Partition(string policy, string key, int permits, TimeSpan window);
}

/// <summary>Limits of this process only: enough for one node.</summary>
internal sealed class InProcessAnonymousRateLimits : IAnonymousRateLimits
{
    // One limiter factory per (permits, window): the partitioner runs on every request and every visitor send, and
    // RateLimitPartition.GetFixedWindowLimiter made two closures and two delegates each time.
    private readonly System.Collections.Concurrent.ConcurrentDictionary<(int Permits, TimeSpan Window), Func<string, RateLimiter>> _factories = new();

    public RateLimitPartition<string> Partition(string policy, string key, int permits, TimeSpan window) =>
        new(key, _factories.GetOrAdd((permits, window), static limit => _ => new FixedWindowRateLimiter(Options(limit.Permits, limit.Window))));

    internal static FixedWindowRateLimiterOptions Options(int permits, TimeSpan window) =>
        new() { PermitLimit = permits, Window = window, QueueLimit = 0, AutoReplenishment = true };
}

