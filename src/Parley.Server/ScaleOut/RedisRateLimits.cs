using System.Globalization;
using System.Threading.RateLimiting;
using Microsoft.Extensions.Options;
using Parley.Server.Features.Widget;
using StackExchange.Redis;

namespace Parley.Server.ScaleOut;

/// <summary>
/// Anonymous rate limits counted in Redis, shared by every node: a fixed window per policy and key (client IP,
/// visitor), one atomic script call per request (INCR, and PEXPIRE on the window's first hit). When Redis is
/// unreachable (or slow) the request is counted by this node's own limiter instead, so limits keep holding per
/// node and nothing waits on Redis.
/// </summary>
internal sealed partial class RedisRateLimits(
    IConnectionMultiplexer redis,
    IOptions<RedisOptions> options,
    TimeProvider time,
    ILogger<RedisRateLimits> logger) : IAnonymousRateLimits
{
    private const string Script = """
        local n = redis.call('INCR', KEYS[1])
        if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
        return n
        """;

    /// <summary>Longest a request waits for Redis before the node counts it itself.</summary>
    private static readonly TimeSpan RedisBudget = TimeSpan.FromMilliseconds(500);

    private int _failing;

    internal TimeProvider Time => time;

    public RateLimitPartition<string> Partition(string policy, string key, int permits, TimeSpan window) =>
        RateLimitPartition.Get(key, k => new SharedWindowLimiter(this, policy, k, permits, window));

    /// <summary>This request's number in the current window, or null when Redis could not tell in time.</summary>
    private async ValueTask<long?> CountAsync(string policy, string key, TimeSpan window, CancellationToken cancellationToken)
    {
        if (!redis.IsConnected)
        {
            NoteFailure(null);
            return null;
        }

        var windowMs = (long)window.TotalMilliseconds;
        var index = time.GetUtcNow().ToUnixTimeMilliseconds() / windowMs;
        RedisKey redisKey = $"{options.Value.Prefix}:rl:{policy}:{key}:{index.ToString(CultureInfo.InvariantCulture)}";
        try
        {
            var result = await redis.GetDatabase()
                .ScriptEvaluateAsync(Script, [redisKey], [windowMs + 1000])
                .WaitAsync(RedisBudget, time, cancellationToken);
            if (Interlocked.Exchange(ref _failing, 0) == 1)
            {
                LogShared(logger);
            }

            return (long)result;
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            NoteFailure(ex);
            return null;
        }
    }

    private void NoteFailure(Exception? ex)
    {
        if (Interlocked.Exchange(ref _failing, 1) == 0)
        {
            LogFallback(logger, ex);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Redis unreachable for rate limits: this node counts anonymous requests on its own until it is back")]
    private static partial void LogFallback(ILogger logger, Exception? exception);

    [LoggerMessage(Level = LogLevel.Information, Message = "Rate limits are counted in Redis again")]
    private static partial void LogShared(ILogger logger);

    /// <summary>
    /// One key's limiter for the ASP.NET Core rate-limiting middleware. The middleware first tries the synchronous
    /// path; that one never touches the network and answers "not yet", so the request goes on to the
    /// asynchronous path, which asks Redis.
    /// </summary>
    private sealed class SharedWindowLimiter(RedisRateLimits owner, string policy, string key, int permits, TimeSpan window) : RateLimiter
    {
        private readonly FixedWindowRateLimiter _local = new(InProcessAnonymousRateLimits.Options(permits, window));
        private long _lastUsed = owner.Time.GetTimestamp();

        public override TimeSpan? IdleDuration => owner.Time.GetElapsedTime(Interlocked.Read(ref _lastUsed));

        public override RateLimiterStatistics? GetStatistics() => null;

        protected override RateLimitLease AttemptAcquireCore(int permitCount) => Lease.Pending;

        protected override async ValueTask<RateLimitLease> AcquireAsyncCore(int permitCount, CancellationToken cancellationToken)
        {
            Interlocked.Exchange(ref _lastUsed, owner.Time.GetTimestamp());
            if (await owner.CountAsync(policy, key, window, cancellationToken) is { } hits)
            {
                return hits <= permits ? Lease.Granted : Lease.Refused;
            }

            return await _local.AcquireAsync(permitCount, cancellationToken);
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                _local.Dispose();
            }

            base.Dispose(disposing);
        }
    }

    private sealed class Lease(bool acquired) : RateLimitLease
    {
        public static readonly Lease Granted = new(true);
        public static readonly Lease Refused = new(false);
        public static readonly Lease Pending = new(false);

        public override bool IsAcquired => acquired;

        public override IEnumerable<string> MetadataNames => [];

        public override bool TryGetMetadata(string metadataName, out object? metadata)
        {
            metadata = null;
            return false;
        }
    }
}
