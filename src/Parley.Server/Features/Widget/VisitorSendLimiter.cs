using Microsoft.Extensions.Options;
using Parley.Server.Infrastructure;

namespace Parley.Server.Features.Widget;

/// <summary>Token bucket per visitor connection: anonymous senders cannot flood a conversation or the store.</summary>
internal sealed class VisitorSendLimiter
{
    private readonly Metrics.ParleyMetrics _metrics;
    private readonly Func<object> _newBucket;

    public VisitorSendLimiter(IOptions<WidgetOptions> options, TimeProvider time, Metrics.ParleyMetrics metrics)
    {
        _metrics = metrics;
        _newBucket = () => new TokenBucket(options.Value.SendBurst, options.Value.SendPerSecond, time);
    }

    public void Acquire(Realtime.ClientConnection connection)
    {
        // Kept with the connection, made at its first send.
        var bucket = (TokenBucket)connection.SendLimit(_newBucket);
        if (!bucket.TryTake())
        {
            _metrics.RateLimited("visitor-send-connection");
            throw new ParleyException(ErrorCatalogue.RateLimited, "Too many messages; slow down.");
        }
    }

    private sealed class TokenBucket(int capacity, double perSecond, TimeProvider time)
    {
        private readonly Lock _gate = new();
        private double _tokens = capacity;
        private long _last = time.GetTimestamp();

        public bool TryTake()
        {
            lock (_gate)
            {
                var now = time.GetTimestamp();
                _tokens = Math.Min(capacity, _tokens + (time.GetElapsedTime(_last, now).TotalSeconds * perSecond));
                _last = now;
                if (_tokens < 1)
                {
                    return false;
                }

                _tokens -= 1;
                return true;
            }
        }
    }
}
