using System.Text.Json;
using System.Threading.Channels;
using Microsoft.EntityFrameworkCore;
using Parley.Data;
using Parley.Server.Events;

namespace Parley.Server.Features.Integration;

/// <summary>What a domain event becomes in the integration log (webhooks, gRPC subscribers).</summary>
public sealed record IntegrationEventDraft(string Type, Guid? ConversationId, Guid? ContactId, object Data);

/// <summary>
/// Turns one kind of domain event into an integration event. Registered once per event kind with
/// <see cref="IntegrationEventsSetup.AddIntegrationEvent{TEvent}"/>; return null to skip an occurrence.
/// </summary>
internal sealed class IntegrationEventSource<TEvent>(IntegrationEventLog log, Func<TEvent, IntegrationEventDraft?> map) : IDomainEventListener<TEvent>
{
    public void Handle(TEvent domainEvent)
    {
        if (map(domainEvent) is { } draft)
        {
            log.Enqueue(draft);
        }
    }
}

/// <summary>
/// Wakes whoever waits for new integration events on this node: gRPC streams on every stored event, webhook workers
/// only when webhook outbox rows were written too. Every group commit stores a <c>message.created</c> event, so with
/// no endpoint subscribed the webhook workers would otherwise look at an empty outbox (two queries) after each burst.
/// </summary>
public sealed class IntegrationEventSignal
{
    private TaskCompletionSource _next = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private TaskCompletionSource _outbox = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>A task that completes at the next <see cref="Notify"/>.</summary>
    public Task WaitAsync(CancellationToken cancellationToken) => Volatile.Read(ref _next).Task.WaitAsync(cancellationToken);

    /// <summary>A task that completes at the next <see cref="Notify"/> that wrote webhook outbox rows.</summary>
    public Task OutboxWaitAsync(CancellationToken cancellationToken) => Volatile.Read(ref _outbox).Task.WaitAsync(cancellationToken);

    /// <summary>After a commit that stored integration events.</summary>
    /// <param name="outboxRows">Whether it also wrote webhook outbox rows (or may have: pass true when unsure).</param>
    public void Notify(bool outboxRows = true)
    {
        Interlocked.Exchange(ref _next, new(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
        if (outboxRows)
        {
            NotifyOutbox();
        }
    }

    /// <summary>Webhook outbox rows became due without a new event (a delivery queued again by hand).</summary>
    public void NotifyOutbox() => Interlocked.Exchange(ref _outbox, new(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
}

/// <summary>
/// The writer of the durable integration log for every event but <c>message.created</c> (which the message's group
/// commit stores itself: <see cref="MessageEventJournal"/>). Domain-event listeners only enqueue (they run on the message
/// path's dispatcher and must not block); one loop stores what has queued up in one transaction together with
/// the webhook outbox rows of every subscribed endpoint. It drains after every other hosted service stopped,
/// so events raised while the message writer drains on shutdown are stored too.
/// </summary>
public sealed partial class IntegrationEventLog(
    IServiceScopeFactory scopes,
    IntegrationEventSignal signal,
    TimeProvider time,
    ILogger<IntegrationEventLog> logger) : IHostedLifecycleService
{
    internal static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    /// <summary>
    /// PostgreSQL: every transaction that appends to the log takes this lock right before its insert and holds it to its
    /// commit, so event ids become visible in increasing order and a reader that follows ids (gRPC streams) never
    /// passes one that commits later. SQLite's single write lock gives the same order by itself.
    /// </summary>
    internal const string OrderLockSql = "SELECT pg_advisory_xact_lock(7020584437620617990)";

    /// <summary>How long the first event of a batch waits for others (webhooks and gRPC streams see events this much later).</summary>
    internal static readonly TimeSpan Linger = TimeSpan.FromMilliseconds(100);

    private readonly Channel<IntegrationEventDraft> _queue = Channel.CreateUnbounded<IntegrationEventDraft>(new UnboundedChannelOptions { SingleReader = true });
    private volatile bool _draining;
    private Task _loop = Task.CompletedTask;

    private long _enqueued;
    private long _handled;

    public void Enqueue(IntegrationEventDraft draft)
    {
        if (_queue.Writer.TryWrite(draft))
        {
            Interlocked.Increment(ref _enqueued);
        }
        else
        {
            LogDropped(logger, draft.Type);
        }
    }

    /// <summary>
    /// Completes when every event this node queued before the call is stored (or given up on): an erasure flushes
    /// the "closed" events it caused before it redacts, so none of them is stored with the payload afterwards.
    /// </summary>
    public async Task FlushAsync(CancellationToken cancellationToken)
    {
        var target = Interlocked.Read(ref _enqueued);
        while (Interlocked.Read(ref _handled) < target)
        {
            var next = signal.WaitAsync(cancellationToken);
            if (Interlocked.Read(ref _handled) >= target)
            {
                return;
            }

            await next;
        }
    }

    /// <summary>
    /// Adds the event and its webhook outbox rows to <paramref name="db"/> without saving, so a caller can store
    /// them in the same transaction as its own change (which it must have begun: on PostgreSQL this takes the log's
    /// order lock for it). Call <see cref="IntegrationEventSignal.Notify"/> after saving.
    /// </summary>
    public static async Task<IntegrationEvent> AddAsync(ParleyDbContext db, IntegrationEventDraft draft, DateTime now, CancellationToken cancellationToken)
    {
        // PostgreSQL: the caller's transaction holds the order lock (OrderLockSql) until it commits.
        if (db.Database.IsNpgsql())
        {
            await db.Database.ExecuteSqlRawAsync(OrderLockSql, cancellationToken);
        }

        var endpoints = await db.WebhookEndpoints.AsNoTracking().Where(e => e.Enabled).Select(e => new { e.Id, e.EventTypes }).ToListAsync(cancellationToken);
        var outbox = false;
        return Add(db, draft, now, endpoints.Select(e => (e.Id, e.EventTypes)), ref outbox);
    }

    /// <param name="outbox">Set when a webhook outbox row was added (an endpoint subscribes to the event).</param>
    private static IntegrationEvent Add(ParleyDbContext db, IntegrationEventDraft draft, DateTime now, IEnumerable<(Guid Id, string EventTypes)> endpoints, ref bool outbox)
    {
        var evt = new IntegrationEvent
        {
            Type = draft.Type,
            ConversationId = draft.ConversationId,
            ContactId = draft.ContactId,
            DataJson = draft.Data as string ?? JsonSerializer.Serialize(draft.Data, Json),
            CreatedAt = now,
        };
        db.IntegrationEvents.Add(evt);
        foreach (var (id, types) in endpoints)
        {
            if (Subscribes(types, draft.Type))
            {
                db.Add(new WebhookDelivery { EndpointId = id, Status = WebhookDeliveryStatus.Pending, NextAttemptAt = now, CreatedAt = now, Event = evt });
                outbox = true;
            }
        }

        return evt;
    }

    /// <summary>Whether a space-separated subscription list covers a type (<c>*</c>, exact, or a <c>prefix.*</c>).</summary>
    public static bool Subscribes(string eventTypes, string type)
    {
        foreach (var entry in eventTypes.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            if (entry == "*" || string.Equals(entry, type, StringComparison.OrdinalIgnoreCase)
                || (entry.EndsWith(".*", StringComparison.Ordinal) && type.StartsWith(entry[..^1], StringComparison.OrdinalIgnoreCase)))
            {
                return true;
            }
        }

        return false;
    }

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _loop = Task.Run(RunAsync, CancellationToken.None);
        return Task.CompletedTask;
    }

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public async Task StoppedAsync(CancellationToken cancellationToken)
    {
        _draining = true;
        _queue.Writer.TryComplete();
        await _loop.WaitAsync(cancellationToken);
    }

    private async Task RunAsync()
    {
        var batch = new List<IntegrationEventDraft>();
        while (await _queue.Reader.WaitToReadAsync(CancellationToken.None))
        {
            // Let a moment's events gather into one transaction: under chat load every message is an event, and a
            // commit per handful of them competes with the message writer for the database (on SQLite, its single
            // write lock) and doubles the fsyncs. Not while draining at shutdown.
            if (!_draining)
            {
                await Task.Delay(Linger, time, CancellationToken.None);
            }

            while (batch.Count < 500 && _queue.Reader.TryRead(out var draft))
            {
                batch.Add(draft);
            }

            var outbox = true; // unless the batch is known to have written no outbox row
            for (var attempt = 1; ; attempt++)
            {
                try
                {
                    outbox = await StoreAsync(batch);
                    break;
                }
                catch (Exception ex) when (attempt < 5)
                {
                    LogStoreFailed(logger, ex, batch.Count, attempt);
                    await Task.Delay(TimeSpan.FromMilliseconds(200 * attempt), time, CancellationToken.None);
                }
                catch (Exception ex)
                {
                    LogLost(logger, ex, batch.Count);
                    break;
                }
            }

            Interlocked.Add(ref _handled, batch.Count);
            batch.Clear();
            signal.Notify(outbox);
        }
    }

    /// <returns>Whether webhook outbox rows were written.</returns>
    private async Task<bool> StoreAsync(List<IntegrationEventDraft> batch)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ParleyDbContext>();
        var endpoints = (await db.WebhookEndpoints.AsNoTracking().Where(e => e.Enabled).Select(e => new { e.Id, e.EventTypes }).ToListAsync())
            .Select(e => (e.Id, e.EventTypes)).ToList();
        var now = time.GetUtcNow().UtcDateTime;

        // An event that describes a contact erased or a conversation anonymised meanwhile (a "closed" event queued by
        // the erasure itself) is stored without its payload: docs/privacy.md.
        var conversationIds = batch.Where(d => d.ConversationId is not null).Select(d => d.ConversationId!.Value).Distinct().ToList();
        var contactIds = batch.Where(d => d.ContactId is not null).Select(d => d.ContactId!.Value).Distinct().ToList();
        var removed = new HashSet<Guid>(await db.Conversations.AsNoTracking().Where(c => conversationIds.Contains(c.Id) && c.AnonymisedAt != null).Select(c => c.Id).ToListAsync());
        removed.UnionWith(await db.Contacts.AsNoTracking().Where(c => contactIds.Contains(c.Id) && c.ErasedAt != null).Select(c => c.Id).ToListAsync());
        var outbox = false;
        foreach (var draft in batch)
        {
            var redact = (draft.ConversationId is { } conversation && removed.Contains(conversation)) || (draft.ContactId is { } contact && removed.Contains(contact));
            Add(db, redact ? draft with { Data = Privacy.DataLifecycle.RedactedPayload } : draft, now, endpoints, ref outbox);
        }

        // PostgreSQL: the order lock (OrderLockSql) from the insert to the commit, like the group commit.
        await using var tx = db.Database.IsNpgsql() ? await db.Database.BeginTransactionAsync() : null;
        if (tx is not null)
        {
            await db.Database.ExecuteSqlRawAsync(OrderLockSql);
        }

        await db.SaveChangesAsync();
        if (tx is not null)
        {
            await tx.CommitAsync();
        }

        return outbox;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Integration event {Type} raised after shutdown; not stored")]
    private static partial void LogDropped(ILogger logger, string type);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Storing {Count} integration events failed (attempt {Attempt}); retrying")]
    private static partial void LogStoreFailed(ILogger logger, Exception exception, int count, int attempt);

    [LoggerMessage(Level = LogLevel.Error, Message = "Storing {Count} integration events failed for good; they are lost")]
    private static partial void LogLost(ILogger logger, Exception exception, int count);
}
