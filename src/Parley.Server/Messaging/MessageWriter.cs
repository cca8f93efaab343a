using System.Diagnostics;
using System.Threading.Channels;
using Microsoft.Extensions.Options;
using Parley.Data;
using Parley.Server.Events;
using Parley.Server.Features.Metrics;
using Parley.Server.Infrastructure;

namespace Parley.Server.Messaging;

/// <summary>Thrown when a write cannot be accepted (shutting down) or the store failed; the client retries with the same client id.</summary>
public sealed class StoreUnavailableException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// The single entry point of the message write path. Senders enqueue; one loop drains whatever has queued up
/// into one transaction (group commit), acknowledges every sender after the commit, then raises
/// <see cref="MessageCommitted"/> in sequence order for fan-out and other listeners.
/// </summary>
/// <remarks>
/// Two lanes feed the loop: agents', bots' and the system's writes, taken first, and visitors' writes, which fill
/// the rest of each batch. A backlog of visitor messages (a traffic spike) therefore never delays an agent's reply
/// by more than one commit. Each sender's writes stay in one lane, so one connection's sends keep their order
/// (docs/protocol.md rule 9). Optionally (<c>Parley:Governor:MaxVisitorWriteQueue</c>) a visitor send that finds its
/// lane at a bound is refused at once (<c>overloaded</c>, retried by the widget after a pause) instead of queueing
/// behind seconds of others (docs/operations.md, Overload).
/// </remarks>
public sealed partial class MessageWriter : BackgroundService
{
    private readonly Channel<PendingWrite> _priority;
    private readonly Channel<PendingWrite> _visitors;

    // Rung after every enqueue, into either lane: the loop sleeps on this one signal when both lanes are empty.
    // (Waiting on both lanes at once would leave the quiet lane's waiter behind on every wake-up.)
    private readonly Channel<bool> _doorbell = Channel.CreateBounded<bool>(
        new BoundedChannelOptions(1) { SingleReader = true, FullMode = BoundedChannelFullMode.DropWrite });

    // Committed batches wait here for the event dispatcher, so fan-out of one batch overlaps the next commit.
    // Unbounded on purpose: it holds at most what the bounded write queue let in, and is drained in order.
    private readonly Channel<List<MessageCommitted>> _committed = Channel.CreateUnbounded<List<MessageCommitted>>(
        new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
    private readonly GroupCommit _store;
    private readonly DomainEvents _events;
    private readonly MessagingOptions _options;
    private readonly ILogger<MessageWriter> _logger;
    private readonly ParleyMetrics _metrics;
    private readonly LoadGovernor _governor;

    internal MessageWriter(GroupCommit store, DomainEvents events, IOptions<MessagingOptions> options, ParleyMetrics metrics, LoadGovernor governor, ILogger<MessageWriter> logger)
    {
        _metrics = metrics;
        _governor = governor;
        _store = store;
        _events = events;
        _options = options.Value;
        _logger = logger;
        var lane = new BoundedChannelOptions(_options.QueueCapacity) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait };
        _priority = Channel.CreateBounded<PendingWrite>(lane);
        _visitors = Channel.CreateBounded<PendingWrite>(lane);
    }

    /// <summary>Sends waiting for their commit, both lanes (metrics, load governor).</summary>
    public int QueueDepth => _priority.Reader.Count + _visitors.Reader.Count;

    /// <summary>Agents', bots' and the system's writes waiting (the lane taken first).</summary>
    public int PriorityQueueDepth => _priority.Reader.Count;

    /// <summary>Visitors' writes waiting.</summary>
    public int VisitorQueueDepth => _visitors.Reader.Count;

    /// <summary>Stores the message (or finds the original of a retry) and completes once it is durable.</summary>
    public async Task<WriteResult> WriteAsync(WriteCommand command, CancellationToken cancellationToken = default) =>
        await await EnqueueAsync(command, cancellationToken);

    /// <summary>
    /// Queues the write and returns once it holds its place in the commit order; the returned task completes when
    /// it is durable. Callers that must keep an order between writes (<see cref="SendOrder"/>) enqueue the next one
    /// only after this returns.
    /// </summary>
    /// <exception cref="ParleyException"><c>overloaded</c>: a visitor's write refused by the load governor.</exception>
    public async ValueTask<Task<WriteResult>> EnqueueAsync(WriteCommand command, CancellationToken cancellationToken = default)
    {
        var visitor = command.SenderKind == SenderKind.Visitor;
        if (visitor && _governor.ShouldRefuseVisitorWrite(_visitors.Reader.Count))
        {
            throw new ParleyException(ErrorCatalogue.Overloaded, $"The server is busy; retry in {ClientBackOff.FirstRetrySeconds} s with the same client id.");
        }

        var pending = new PendingWrite(command);
        try
        {
            await (visitor ? _visitors : _priority).Writer.WriteAsync(pending, cancellationToken);
            _doorbell.Writer.TryWrite(true);
        }
        catch (ChannelClosedException)
        {
            throw new StoreUnavailableException("The server is shutting down.");
        }

        // Once queued the write happens whatever the caller does next, so the ack is not cancellable.
        return pending.Completion.Task;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // On shutdown stop accepting, but drain and commit everything already queued.
        await using var registration = stoppingToken.Register(() =>
        {
            _priority.Writer.TryComplete();
            _visitors.Writer.TryComplete();
            _doorbell.Writer.TryComplete();
        });
        var batch = new List<PendingWrite>(_options.MaxBatchSize);
        var commands = new List<WriteCommand>(_options.MaxBatchSize);
        var dispatcher = Task.Run(DispatchAsync, CancellationToken.None);
        while (true)
        {
            // Agents' (and bots', the system's) writes first, then visitors' to fill the batch.
            Fill(_priority.Reader, batch, commands);
            Fill(_visitors.Reader, batch, commands);
            if (batch.Count > 0)
            {
                await ProcessAsync(batch, commands);
                batch.Clear();
                commands.Clear();
            }
            else if (await _doorbell.Reader.WaitToReadAsync(CancellationToken.None))
            {
                _doorbell.Reader.TryRead(out _);
            }
            else if (_priority.Reader.Count == 0 && _visitors.Reader.Count == 0)
            {
                break; // shutting down, and everything queued before it is committed
            }
        }

        _committed.Writer.TryComplete();
        await dispatcher;
        await _store.DisposeAsync();
    }

    private void Fill(ChannelReader<PendingWrite> lane, List<PendingWrite> batch, List<WriteCommand> commands)
    {
        while (batch.Count < _options.MaxBatchSize && lane.TryRead(out var item))
        {
            batch.Add(item);
            commands.Add(item.Command);
        }
    }

    /// <summary>Raises the committed events, batch after batch, in commit (and so sequence) order.</summary>
    private async Task DispatchAsync()
    {
        await foreach (var committed in _committed.Reader.ReadAllAsync())
        {
            foreach (var evt in committed)
            {
                _events.Publish(evt);
            }
        }
    }

    private async Task ProcessAsync(List<PendingWrite> batch, List<WriteCommand> commands)
    {
        List<MessageCommitted> committed;
        try
        {
            var started = Stopwatch.GetTimestamp();
            foreach (var item in batch)
            {
                _metrics.QueueWaited(Stopwatch.GetElapsedTime(item.Enqueued, started));
            }

            // Traces: each send's trace gets its queue wait; the one commit is linked to every send it carried.
            using var commitSpan = ParleyTelemetry.Source.HasListeners() ? StartCommitSpan(batch) : null;

            (var results, committed) = await _store.CommitAsync(commands, CancellationToken.None);
            var duplicates = 0;
            for (var i = 0; i < batch.Count; i++)
            {
                duplicates += results[i].Outcome == WriteOutcome.Duplicate ? 1 : 0;
                batch[i].Completion.TrySetResult(results[i]);
            }

            _metrics.Committed(batch.Count, committed.Count, duplicates, Stopwatch.GetElapsedTime(started));
        }
        catch (Exception ex) when (batch.Count > 1 || ex is System.Data.Common.DbException { IsTransient: true })
        {
            // One poisoned message must not fail its neighbours, and a transient failure (PostgreSQL chose this
            // commit as a deadlock or serialization victim) deserves one more try: retry them one by one.
            LogBatchFailed(_logger, ex, batch.Count);
            committed = [];
            foreach (var item in batch)
            {
                committed.AddRange(await ProcessOneAsync(item));
            }
        }
        catch (Exception ex)
        {
            LogWriteFailed(_logger, ex);
            batch[0].Completion.TrySetException(new StoreUnavailableException("The message could not be stored.", ex));
            return;
        }

        if (committed.Count > 0)
        {
            _committed.Writer.TryWrite(committed);
        }
    }

    private static Activity? StartCommitSpan(List<PendingWrite> batch)
    {
        var now = TimeProvider.System.GetUtcNow();
        var links = new List<ActivityLink>(batch.Count);
        foreach (var item in batch)
        {
            if (item.Parent is not { } parent)
            {
                continue;
            }

            links.Add(new ActivityLink(parent));
            using var wait = ParleyTelemetry.Source.StartActivity("parley.queue_wait", ActivityKind.Internal, parent, startTime: item.EnqueuedAt);
            wait?.SetEndTime(now.UtcDateTime);
        }

        var span = ParleyTelemetry.Source.StartActivity("parley.group_commit", ActivityKind.Internal, parentContext: default, links: links);
        span?.SetTag("parley.batch_size", batch.Count);
        return span;
    }

    private async Task<List<MessageCommitted>> ProcessOneAsync(PendingWrite item)
    {
        try
        {
            var (results, committed) = await _store.CommitAsync([item.Command], CancellationToken.None);
            item.Completion.TrySetResult(results[0]);
            return committed;
        }
        catch (Exception ex)
        {
            LogWriteFailed(_logger, ex);
            item.Completion.TrySetException(new StoreUnavailableException("The message could not be stored.", ex));
            return [];
        }
    }

    private sealed class PendingWrite(WriteCommand command)
    {
        public WriteCommand Command { get; } = command;

        public long Enqueued { get; } = Stopwatch.GetTimestamp();

        /// <summary>The sender's span (a hub call, a REST request), when traces are recorded.</summary>
        public ActivityContext? Parent { get; } = Activity.Current is { } current && ParleyTelemetry.Source.HasListeners() ? current.Context : null;

        public DateTimeOffset EnqueuedAt { get; } = TimeProvider.System.GetUtcNow();

        public TaskCompletionSource<WriteResult> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Group commit of {Count} messages failed; retrying them one by one")]
    private static partial void LogBatchFailed(ILogger logger, Exception exception, int count);

    [LoggerMessage(Level = LogLevel.Error, Message = "Storing a message failed")]
    private static partial void LogWriteFailed(ILogger logger, Exception exception);
}
