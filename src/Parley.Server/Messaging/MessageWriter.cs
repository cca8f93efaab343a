using System.Diagnostics;
using System.Threading.Channels;
using Microsoft.Extensions.Options;
using Parley.Server.Events;
using Parley.Server.Features.Metrics;

namespace Parley.Server.Messaging;

/// <summary>Thrown when a write cannot be accepted (shutting down) or the store failed; the client retries with the same client id.</summary>
public sealed class StoreUnavailableException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// The single entry point of the message write path. Senders enqueue; one loop drains whatever has queued up
/// into one transaction (group commit), acknowledges every sender after the commit, then raises
/// <see cref="MessageCommitted"/> in sequence order for fan-out and other listeners.
/// </summary>
public sealed partial class MessageWriter : BackgroundService
{
    private readonly Channel<PendingWrite> _queue;

    // Committed batches wait here for the event dispatcher, so fan-out of one batch overlaps the next commit.
    // Unbounded on purpose: it holds at most what the bounded write queue let in, and is drained in order.
    private readonly Channel<List<MessageCommitted>> _committed = Channel.CreateUnbounded<List<MessageCommitted>>(
        new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
    private readonly GroupCommit _store;
    private readonly DomainEvents _events;
    private readonly MessagingOptions _options;
    private readonly ILogger<MessageWriter> _logger;
    private readonly ParleyMetrics _metrics;

    internal MessageWriter(GroupCommit store, DomainEvents events, IOptions<MessagingOptions> options, ParleyMetrics metrics, ILogger<MessageWriter> logger)
    {
        _metrics = metrics;
        _store = store;
        _events = events;
        _options = options.Value;
        _logger = logger;
        _queue = Channel.CreateBounded<PendingWrite>(new BoundedChannelOptions(_options.QueueCapacity)
        {
            SingleReader = true,
            FullMode = BoundedChannelFullMode.Wait,
        });
    }

    /// <summary>Sends waiting for their commit (metrics, load governor).</summary>
    public int QueueDepth => _queue.Reader.Count;

    /// <summary>Stores the message (or finds the original of a retry) and completes once it is durable.</summary>
    public async Task<WriteResult> WriteAsync(WriteCommand command, CancellationToken cancellationToken = default) =>
        await await EnqueueAsync(command, cancellationToken);

    /// <summary>
    /// Queues the write and returns once it holds its place in the commit order; the returned task completes when
    /// it is durable. Callers that must keep an order between writes (<see cref="SendOrder"/>) enqueue the next one
    /// only after this returns.
    /// </summary>
    public async ValueTask<Task<WriteResult>> EnqueueAsync(WriteCommand command, CancellationToken cancellationToken = default)
    {
        var pending = new PendingWrite(command);
        try
        {
            await _queue.Writer.WriteAsync(pending, cancellationToken);
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
        await using var registration = stoppingToken.Register(() => _queue.Writer.TryComplete());
        var batch = new List<PendingWrite>(_options.MaxBatchSize);
        var commands = new List<WriteCommand>(_options.MaxBatchSize);
        var dispatcher = Task.Run(DispatchAsync, CancellationToken.None);
        while (await _queue.Reader.WaitToReadAsync(CancellationToken.None))
        {
            while (batch.Count < _options.MaxBatchSize && _queue.Reader.TryRead(out var item))
            {
                batch.Add(item);
                commands.Add(item.Command);
            }

            await ProcessAsync(batch, commands);
            batch.Clear();
            commands.Clear();
        }

        _committed.Writer.TryComplete();
        await dispatcher;
        await _store.DisposeAsync();
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
