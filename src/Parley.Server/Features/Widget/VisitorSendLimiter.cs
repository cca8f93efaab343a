using Microsoft.AspNetCore.SignalR;
using Microsoft.Extensions.Options;
using Parley.Server.Infrastructure;

namespace Parley.Server.Features.Widget;

/// <summary>Token bucket per visitor connection: anonymous senders cannot flood a conversation or the store.</summary>
internal sealed class VisitorSendLimiter(IOptions<WidgetOptions> options, TimeProvider time, Metrics.ParleyMetrics metrics)
{
    private static readonly object ItemKey = new();

    public void Acquire(HubCallerContext context)
    {
        if (!context.Items.TryGetValue(ItemKey, out var value) || value is not TokenBucket bucket)
        {
            bucket = new TokenBucket(options.Value.SendBurst, options.Value.SendPerSecond, time);
            context.Items[ItemKey] = bucket;
        }

        if (!bucket.TryTake())
        {
            metrics.RateLimited("visitor-send-connection");
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
