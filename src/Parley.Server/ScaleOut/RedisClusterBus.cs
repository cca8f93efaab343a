using System.Collections.Concurrent;
using System.Text.Json;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Parley.Server.ScaleOut;

/// <summary>
/// <see cref="IClusterBus"/> over Redis pub/sub: one channel per topic, each message is the publishing node's id
/// (16 bytes) followed by the JSON payload. Publishes are fire-and-forget on the shared multiplexer, so the
/// publisher's order is kept; each topic is read through its own <see cref="ChannelMessageQueue"/>, so the
/// handler sees them one at a time in that order.
/// </summary>
internal sealed partial class RedisClusterBus : IClusterBus
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private readonly IConnectionMultiplexer _redis;
    private readonly ISubscriber _subscriber;
    private readonly string _prefix;
    private readonly TimeProvider _time;
    private readonly ILogger<RedisClusterBus> _logger;
    private readonly byte[] _nodeBytes;
    private readonly RedisChannel _probeChannel;
    private readonly ConcurrentDictionary<Guid, TaskCompletionSource> _probes = new();
    private readonly Lock _gate = new();
    private DateTime? _outageSince;
    private long _dropped;

    private readonly Features.Metrics.ParleyMetrics _metrics;

    public RedisClusterBus(IConnectionMultiplexer redis, IOptions<RedisOptions> options, TimeProvider time, Features.Metrics.ParleyMetrics metrics, ILogger<RedisClusterBus> logger)
    {
        _metrics = metrics;
        _redis = redis;
        _subscriber = redis.GetSubscriber();
        _prefix = options.Value.Prefix;
        _time = time;
        _logger = logger;
        _nodeBytes = NodeId.ToByteArray();
        _probeChannel = RedisChannel.Literal($"{_prefix}:probe:{NodeId:N}");
        if (!redis.IsConnected)
        {
            // Started without Redis: whatever the others published before we connect is unknown to us.
            _outageSince = time.GetUtcNow().UtcDateTime;
        }

        redis.ConnectionFailed += OnConnectionFailed;
        redis.ConnectionRestored += OnConnectionRestored;
        SubscribeReliably(_probeChannel, message =>
        {
            if (Guid.TryParse((string?)message.Message, out var nonce) && _probes.TryRemove(nonce, out var waiter))
            {
                waiter.TrySetResult();
            }
        });
    }

    public Guid NodeId { get; } = Guid.NewGuid();

    public bool IsClustered => true;

    /// <summary>Messages that could not be handed to Redis (it was unreachable); the catch-up covers them.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    public event Action<DateTime>? Restored;

    public event Action? Interrupted;

    public void Publish<T>(string topic, T payload)
    {
        try
        {
            var json = JsonSerializer.SerializeToUtf8Bytes(payload, Json);
            var frame = new byte[_nodeBytes.Length + json.Length];
            _nodeBytes.CopyTo(frame, 0);
            json.CopyTo(frame, _nodeBytes.Length);
            _subscriber.Publish(Channel(topic), frame, CommandFlags.FireAndForget);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException or ObjectDisposedException)
        {
            _metrics.BusDropped();
            if (Interlocked.Increment(ref _dropped) % 1000 == 1)
            {
                LogPublishFailed(_logger, ex, topic);
            }
        }
    }

    public void Subscribe<T>(string topic, Action<T> handler)
    {
        SubscribeReliably(Channel(topic), message =>
        {
            byte[]? frame = message.Message;
            if (frame is null || frame.Length < 16 || frame.AsSpan(0, 16).SequenceEqual(_nodeBytes))
            {
                return;
            }

            try
            {
                var payload = JsonSerializer.Deserialize<T>(frame.AsSpan(16), Json);
                if (payload is not null)
                {
                    handler(payload);
                }
            }
            catch (Exception ex)
            {
                LogHandlerFailed(_logger, ex, topic);
            }
        });
    }

    private RedisChannel Channel(string topic) => RedisChannel.Literal($"{_prefix}:{topic}");

    /// <summary>
    /// Subscribes without ever throwing: when Redis is slow or unreachable while the node starts, the subscription
    /// is retried in the background, and the time without it counts as an outage (a catch-up follows).
    /// </summary>
    private void SubscribeReliably(RedisChannel channel, Action<ChannelMessage> onMessage)
    {
        try
        {
            _subscriber.Subscribe(channel).OnMessage(onMessage);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            LogSubscribeFailed(_logger, ex, channel);
            MarkOutage();
            _ = RetrySubscribeAsync(channel, onMessage);
        }
    }

    private async Task RetrySubscribeAsync(RedisChannel channel, Action<ChannelMessage> onMessage)
    {
        while (true)
        {
            await Task.Delay(TimeSpan.FromSeconds(1), _time);
            try
            {
                // Drop whatever the failed attempt left registered (one subscription per channel here), so no
                // message is handled twice and no orphaned queue fills up.
                await _subscriber.UnsubscribeAsync(channel);
                (await _subscriber.SubscribeAsync(channel)).OnMessage(onMessage);
                LogSubscribed(_logger, channel);
                if (_redis.IsConnected)
                {
                    OnConnectionRestored(this, null);
                }

                return;
            }
            catch (Exception ex) when (ex is RedisException or TimeoutException)
            {
                // Still not possible: try again.
            }
        }
    }

    private void MarkOutage()
    {
        bool began;
        lock (_gate)
        {
            began = _outageSince is null;
            _outageSince ??= _time.GetUtcNow().UtcDateTime;
        }

        if (began)
        {
            Interrupted?.Invoke();
        }
    }

    private void OnConnectionFailed(object? sender, ConnectionFailedEventArgs e)
    {
        LogConnectionFailed(_logger, e.ConnectionType, e.FailureType);
        MarkOutage();
    }

    private void OnConnectionRestored(object? sender, ConnectionFailedEventArgs? e)
    {
        DateTime since;
        lock (_gate)
        {
            if (_outageSince is not { } started)
            {
                return;
            }

            since = started;
            _outageSince = null;
        }

        LogConnectionRestored(_logger, e?.ConnectionType);
        _ = RaiseWhenSubscribedAsync(since);
    }

    /// <summary>
    /// The multiplexer re-subscribes after reconnecting, but not necessarily before it reports the reconnect. A
    /// message to ourselves that comes back proves our subscriptions are live again; only then is a catch-up
    /// certain to leave no gap (what commits later reaches us through the bus).
    /// </summary>
    private async Task RaiseWhenSubscribedAsync(DateTime since)
    {
        // No attempt limit: while Redis answers, our subscriptions come back sooner or later, and giving up would
        // leave this node without its catch-up for good (a later restore of the other connection finds no outage).
        for (var attempt = 1; ; attempt++)
        {
            if (attempt == 60)
            {
                LogProbeSlow(_logger);
            }

            var nonce = Guid.NewGuid();
            var arrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _probes[nonce] = arrived;
            var publishFailed = false;
            try
            {
                await _subscriber.PublishAsync(_probeChannel, nonce.ToString());
                await arrived.Task.WaitAsync(TimeSpan.FromSeconds(1), _time);
                Restored?.Invoke(since);
                return;
            }
            catch (TimeoutException)
            {
                // Published, but our subscription did not hear it within a second: not yet.
            }
            catch (RedisException)
            {
                publishFailed = true;
            }
            finally
            {
                _probes.TryRemove(nonce, out _);
            }

            if (publishFailed)
            {
                // The publish itself failed at once: wait before the next try instead of spinning.
                await Task.Delay(TimeSpan.FromSeconds(1), _time);
            }

            if (!_redis.IsConnected)
            {
                lock (_gate)
                {
                    // Down again: the next restore raises with the earlier start.
                    _outageSince = _outageSince is { } later && later < since ? later : since;
                }

                return;
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Publishing on the cluster bus failed ({Topic}); other nodes catch up when Redis is back")]
    private static partial void LogPublishFailed(ILogger logger, Exception exception, string topic);

    [LoggerMessage(Level = LogLevel.Error, Message = "Handling a cluster bus message on {Topic} failed")]
    private static partial void LogHandlerFailed(ILogger logger, Exception exception, string topic);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Redis connection lost ({ConnectionType}, {FailureType}); cross-node live delivery paused, clients catch up by replay")]
    private static partial void LogConnectionFailed(ILogger logger, ConnectionType connectionType, ConnectionFailureType failureType);

    [LoggerMessage(Level = LogLevel.Information, Message = "Redis connection restored ({ConnectionType}); catching up")]
    private static partial void LogConnectionRestored(ILogger logger, ConnectionType? connectionType);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Subscribing to {Channel} failed; retrying in the background (cross-node delivery on it is paused meanwhile)")]
    private static partial void LogSubscribeFailed(ILogger logger, Exception exception, RedisChannel channel);

    [LoggerMessage(Level = LogLevel.Information, Message = "Subscribed to {Channel} after retrying")]
    private static partial void LogSubscribed(ILogger logger, RedisChannel channel);

    [LoggerMessage(Level = LogLevel.Error, Message = "Redis reconnected but our subscriptions have not come back for a minute; still waiting before catching up")]
    private static partial void LogProbeSlow(ILogger logger);
}
