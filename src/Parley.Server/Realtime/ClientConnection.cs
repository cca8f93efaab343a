using Microsoft.AspNetCore.SignalR;
using Parley.Server.Messaging;

namespace Parley.Server.Realtime;

/// <summary>
/// One live hub connection with its own bounded outbound queue. Fan-out only ever enqueues here, so one slow
/// client never stalls the writer or other clients.
/// </summary>
/// <remarks>
/// <para>
/// An idle connection holds no task and no channel: the queue is made at the first event, and the pump is a thread-pool
/// work item scheduled when an event arrives to an idle queue and ending when the queue is empty (a live chat's
/// visitor connections are idle nearly all of their lives; docs/benchmarks.md, memory per idle connection).
/// </para>
/// A slow consumer is judged by its socket, not by the queue alone: the connection is closed (it resumes by replay)
/// when more than <see cref="OutboundLimits.Soft"/> events wait <em>and</em> the write in progress has not drained for
/// <see cref="OutboundLimits.Stall"/>, i.e. the client stopped reading. A queue that grew because the server itself fell
/// behind (a burst, a busy core) while the client reads on is left to drain; only at <see cref="OutboundLimits.Hard"/>
/// events, the memory bound, is such a connection closed too.
/// </remarks>
internal sealed partial class ClientConnection : IThreadPoolWorkItem
{
    private readonly HubConnectionContext _context;
    private readonly ILogger _logger;
    private readonly Action _onSlowConsumer;
    private readonly OutboundLimits _limits;
    private readonly TimeProvider _time;
    private readonly Lock _gate = new();

    // When the pump's current write started waiting for the socket to drain (TimeProvider timestamp); 0 when none does.
    private long _writeBlockedSince;

    // Under _gate: the events waiting (null until the first), whether a pump is scheduled or running, whether the queue
    // takes no more events (closed, evicted: what is queued still goes out), and whether the pump stopped for good (the
    // connection is gone or a write failed: nothing more goes out).
    private Queue<OutboundItem>? _queue;
    private bool _pumping;
    private bool _completed;
    private bool _stopped;

    // The queue's length, also kept outside the lock so that reading it takes none: the soft-limit check on every
    // write and the sampler's backlog read it.
    private int _pending;
    private SendOrder? _sendOrder;
    private object? _sendLimit;
    private Guid[] _subscriptions = [];
    private Dictionary<Guid, SerializedHubMessage>? _latestState;
    private TaskCompletionSource? _roomWaiter;
    private int _roomTarget;

    public ClientConnection(HubConnectionContext context, Audience audience, Guid principalId, Guid siteId, OutboundLimits limits, TimeProvider time, ILogger logger, Action onSlowConsumer)
    {
        _onSlowConsumer = onSlowConsumer;
        _limits = limits;
        _time = time;
        _context = context;
        Audience = audience;
        PrincipalId = principalId;
        SiteId = siteId;
        _logger = logger;
    }

    public string ConnectionId => _context.ConnectionId;

    /// <summary>The connection's state, set when it opened (<see cref="TrackingHubLifetimeManager{THub}"/>).</summary>
    public static ClientConnection Of(HubCallerContext context) =>
        context.Features.Get<ClientConnection>() ?? throw new InvalidOperationException($"Connection {context.ConnectionId} was not registered.");

    public Audience Audience { get; }

    /// <summary>Contact id for visitors, user id for agents.</summary>
    public Guid PrincipalId { get; }

    /// <summary>The visitor's site; empty for agents.</summary>
    public Guid SiteId { get; }

    public IReadOnlyList<Guid> Subscriptions => _subscriptions;

    /// <summary>The agent's display name (who-is-viewing); null for visitors.</summary>
    public string? DisplayName { get; init; }

    /// <summary>
    /// Who calls the hub on this connection, read from the claims once when it opened (a claim lookup enumerates the
    /// principal's claims and allocates; the principal cannot change during a connection). Null without an identity.
    /// </summary>
    public Actor? Actor { get; init; }

    /// <summary>The order of this connection's sends (docs/protocol.md rule 9), made at its first send.</summary>
    public SendOrder SendOrder => LazyInitializer.EnsureInitialized(ref _sendOrder, static () => new SendOrder());

    /// <summary>The connection's API token scopes as <see cref="HubTokenScopeFilter"/> read them on its first call.</summary>
    internal object? TokenScopes { get; set; }

    /// <summary>
    /// The visitor's per-connection send limit (<see cref="Features.Widget.VisitorSendLimiter"/>), made by
    /// <paramref name="create"/> at the first send (concurrent first sends all get the one that was stored).
    /// </summary>
    internal object SendLimit(Func<object> create) => LazyInitializer.EnsureInitialized(ref _sendLimit, create);

    /// <summary>Whether a pump is scheduled or writing (diagnostics, tests): false whenever the queue is empty.</summary>
    internal bool IsPumping
    {
        get
        {
            lock (_gate)
            {
                return _pumping;
            }
        }
    }

    /// <summary>Whether the pump waits for the socket to drain right now (diagnostics, tests).</summary>
    internal bool WaitingForSocket => Volatile.Read(ref _writeBlockedSince) != 0;

    /// <summary>Events waiting to be written (read without a lock; may lag the queue by an event in flight).</summary>
    public int Pending => Math.Max(0, Volatile.Read(ref _pending));

    /// <summary>
    /// Completes once at most <paramref name="pending"/> events wait to be written (or the connection is gone).
    /// For bulk pushes (the cluster catch-up) that must not overrun the queue; live fan-out never waits.
    /// </summary>
    public Task WaitForRoomAsync(int pending, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (QueuedLocked <= pending || _stopped || (_completed && QueuedLocked == 0) || _context.ConnectionAborted.IsCancellationRequested)
            {
                return Task.CompletedTask;
            }

            _roomTarget = _roomWaiter is null ? pending : Math.Min(_roomTarget, pending);
            _roomWaiter ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            return _roomWaiter.Task.WaitAsync(cancellationToken);
        }
    }

    public bool AddSubscription(Guid conversationId)
    {
        lock (_gate)
        {
            if (Array.IndexOf(_subscriptions, conversationId) >= 0)
            {
                return false;
            }

            _subscriptions = [.. _subscriptions, conversationId];
            return true;
        }
    }

    public bool RemoveSubscription(Guid conversationId)
    {
        lock (_gate)
        {
            if (Array.IndexOf(_subscriptions, conversationId) < 0)
            {
                return false;
            }

            _subscriptions = _subscriptions.Where(s => s != conversationId).ToArray();
            return true;
        }
    }

    private int QueuedLocked => _queue?.Count ?? 0;

    /// <summary>Queues an event; every one is delivered, in order.</summary>
    public void Enqueue(SerializedHubMessage message) => Write(new OutboundItem(message, default));

    /// <summary>
    /// Queues a state update (an inbox summary, a status) of which only the newest per key matters: while one is
    /// still waiting, a newer one replaces it instead of queueing behind it. A busy conversation then costs an
    /// agent who is behind one delivery, not one per message.
    /// </summary>
    public void EnqueueState(Guid key, SerializedHubMessage message)
    {
        lock (_gate)
        {
            _latestState ??= [];
            var alreadyQueued = _latestState.ContainsKey(key);
            _latestState[key] = message;
            if (alreadyQueued)
            {
                return;
            }
        }

        Write(new OutboundItem(null, key));
    }

    /// <summary>
    /// Queues one event carrying the newest state of several keys (the coalescer's <c>conversationsUpdated</c>): a
    /// single state of one of them still waiting is dropped, since this one is newer and goes out after it.
    /// </summary>
    public void EnqueueStates(IReadOnlyList<Guid> keys, SerializedHubMessage message)
    {
        lock (_gate)
        {
            if (_latestState is { Count: > 0 })
            {
                foreach (var key in keys)
                {
                    _latestState.Remove(key);
                }
            }

            Write(new OutboundItem(message, default));
        }
    }

    private void Write(OutboundItem item)
    {
        if (Pending >= _limits.Soft && IsStalled())
        {
            Evict(notReading: true);
        }
        else if (!TryEnqueue(item, thenComplete: false))
        {
            Evict(notReading: false); // at the hard limit (on a connection closed already, a no-op)
        }
    }

    /// <summary>
    /// Queues <paramref name="item"/> (then takes no more when <paramref name="thenComplete"/>) and schedules the pump
    /// unless one is scheduled or running. False, with nothing queued, when the queue is closed or at the hard limit.
    /// </summary>
    private bool TryEnqueue(OutboundItem item, bool thenComplete)
    {
        bool schedule;
        lock (_gate)
        {
            if (_completed || QueuedLocked >= _limits.Hard)
            {
                return false;
            }

            (_queue ??= new Queue<OutboundItem>()).Enqueue(item);
            Interlocked.Increment(ref _pending);
            _completed = thenComplete;
            schedule = !_pumping && !_stopped;
            _pumping |= schedule;
        }

        if (schedule)
        {
            ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
        }

        return true;
    }

    /// <summary>Whether the write in progress has waited for the socket to drain for at least the stall time.</summary>
    private bool IsStalled()
    {
        var since = Volatile.Read(ref _writeBlockedSince);
        return since != 0 && _time.GetElapsedTime(since) >= _limits.Stall;
    }

    private void Evict(bool notReading)
    {
        if (TryComplete())
        {
            if (notReading)
            {
                LogSlowConsumer(_logger, ConnectionId, Pending, _limits.Stall.TotalSeconds);
            }
            else
            {
                LogQueueOverflow(_logger, ConnectionId, _limits.Hard);
            }

            _onSlowConsumer();
            _context.Abort();
        }
    }

    /// <summary>Takes no more events (what is queued still goes out). False when it was closed already.</summary>
    private bool TryComplete()
    {
        lock (_gate)
        {
            if (_completed)
            {
                return false;
            }

            _completed = true;
        }

        return true;
    }

    public void Close() => TryComplete();

    /// <summary>Delivers what is queued, then <paramref name="closeMessage"/>; the client closes and reconnects elsewhere.</summary>
    public void CloseForReconnect(SerializedHubMessage closeMessage)
    {
        if (!TryEnqueue(new OutboundItem(closeMessage, default), thenComplete: true))
        {
            Abort();
        }
    }

    public void Abort() => _context.Abort();

    void IThreadPoolWorkItem.Execute() => _ = PumpAsync();

    /// <summary>
    /// Writes the queued events in order until the queue is empty, then ends (the next event schedules it again). Runs
    /// without a state machine on the heap unless a write has to wait for the socket.
    /// </summary>
    private async Task PumpAsync()
    {
        try
        {
            while (TryTake(out var item))
            {
                var message = item.Message ?? TakeState(item.StateKey);
                if (message is not null)
                {
                    var write = _context.WriteAsync(message, _context.ConnectionAborted);
                    if (write.IsCompleted)
                    {
                        write.GetAwaiter().GetResult();
                    }
                    else
                    {
                        // The transport's buffer is full: from now on the socket, i.e. the client, is what we wait for.
                        Volatile.Write(ref _writeBlockedSince, _time.GetTimestamp());
                        try
                        {
                            await write;
                        }
                        finally
                        {
                            Volatile.Write(ref _writeBlockedSince, 0);
                        }
                    }
                }

                if (Volatile.Read(ref _roomWaiter) is not null)
                {
                    SignalRoom(force: false);
                }
            }
        }
        catch (OperationCanceledException)
        {
            Stop(); // connection gone; nothing to deliver to
        }
        catch (Exception ex)
        {
            LogPumpFailed(_logger, ex, ConnectionId);
            Stop();
            _context.Abort();
        }
    }

    /// <summary>The next event to write, or false (and the pump marked idle) when there is none or the connection is gone.</summary>
    private bool TryTake(out OutboundItem item)
    {
        lock (_gate)
        {
            if (!_stopped && !_context.ConnectionAborted.IsCancellationRequested && _queue is not null && _queue.TryDequeue(out item))
            {
                Interlocked.Decrement(ref _pending);
                return true;
            }

            _pumping = false;
            if (_context.ConnectionAborted.IsCancellationRequested)
            {
                StopLocked();
            }
        }

        item = default;
        if (Volatile.Read(ref _roomWaiter) is not null)
        {
            SignalRoom(force: true); // the queue is empty (or gone): any wait for room is over
        }

        return false;
    }

    private void Stop()
    {
        lock (_gate)
        {
            StopLocked();
        }

        SignalRoom(force: true);
    }

    private void StopLocked()
    {
        _stopped = true;
        _completed = true;
        _pumping = false;
        _queue?.Clear();
        _latestState?.Clear();
        Volatile.Write(ref _pending, 0);
    }

    private void SignalRoom(bool force)
    {
        lock (_gate)
        {
            if (_roomWaiter is { } waiter && (force || QueuedLocked <= _roomTarget))
            {
                _roomWaiter = null;
                waiter.TrySetResult();
            }
        }
    }

    private SerializedHubMessage? TakeState(Guid key)
    {
        lock (_gate)
        {
            return _latestState is not null && _latestState.Remove(key, out var message) ? message : null;
        }
    }

    /// <summary>Either an event to deliver as is, or a marker for the newest state under a key.</summary>
    private readonly record struct OutboundItem(SerializedHubMessage? Message, Guid StateKey);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Connection {ConnectionId} is not reading ({Pending} events waiting, its socket has not drained for {Seconds} s); disconnecting (it will resume by replay)")]
    private static partial void LogSlowConsumer(ILogger logger, string connectionId, int pending, double seconds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Connection {ConnectionId} has {Limit} events waiting (the server is far behind); disconnecting (it will resume by replay)")]
    private static partial void LogQueueOverflow(ILogger logger, string connectionId, int limit);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Writing to connection {ConnectionId} failed")]
    private static partial void LogPumpFailed(ILogger logger, Exception exception, string connectionId);
}

/// <summary>A connection's outbound queue limits (<see cref="RealtimeOptions"/>).</summary>
/// <param name="Soft">Events waiting above which a connection whose socket stalled is closed.</param>
/// <param name="Hard">Events waiting at which any connection is closed (memory bound).</param>
/// <param name="Stall">How long a write may wait for the socket to drain before the client counts as not reading.</param>
internal readonly record struct OutboundLimits(int Soft, int Hard, TimeSpan Stall)
{
    public static OutboundLimits From(RealtimeOptions options) =>
        new(options.OutboundQueueLimit, Math.Max(options.OutboundQueueLimit, options.OutboundQueueHardLimit), TimeSpan.FromSeconds(options.SlowConsumerSeconds));
}
