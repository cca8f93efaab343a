using System.Collections.Concurrent;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Parley.Data;
using Parley.Server.Events;
using Parley.Server.Messaging;
using Parley.Server.Realtime;

namespace Parley.Server.ScaleOut;

/// <summary>
/// Carries the fan-out's domain events between nodes. The node that committed a change publishes it on the
/// cluster bus; every other node hands it to its own <see cref="RealtimeFanout"/> (only the fan-out: webhooks,
/// metrics and other side effects run once, on the committing node).
/// <para>
/// The bus is best effort, so this class also repairs what it may have lost: when the bus comes back after an
/// outage, when another node reports that its own link came back, and when a node stops announcing itself
/// (killed before it could publish what it committed), every node re-reads from the database the messages
/// committed since then in the conversations its clients follow and pushes them again, oldest first, all of
/// them (up to <see cref="RedisOptions.CatchUpLimit"/> per conversation), so a client that stopped hearing
/// at seq N continues at N + 1 however long the outage was. Clients drop what they already have by seq
/// (docs/protocol.md), so a repeat is harmless. Inbox summaries changed meanwhile are pushed again too.
/// </para>
/// <para>
/// Order: from the moment the link breaks until the catch-up has pushed its part, messages arriving from the
/// bus are held back and delivered after it, so clients see the repaired stretch before newer messages
/// instead of a gap they would have to fill by a (possibly truncated) replay.
/// </para>
/// </summary>
internal sealed partial class ClusterRelay(
    IClusterBus bus,
    RealtimeFanout fanout,
    ConnectionRegistry registry,
    IServiceScopeFactory scopes,
    IOptions<RedisOptions> options,
    IOptions<RealtimeOptions> realtime,
    TimeProvider time,
    Features.Metrics.ParleyMetrics metrics,
    ILogger<ClusterRelay> logger)
    : IDomainEventListener<MessageCommitted>, IDomainEventListener<ConversationChanged>, IHostedService, IDisposable
{
    public const string MessageTopic = "message";
    public const string ConversationTopic = "conversation";
    public const string ResyncTopic = "resync";
    public const string HeartbeatTopic = "node";

    /// <summary>Messages read from the store per query during a catch-up.</summary>
    private const int CatchUpPage = 200;

    /// <summary>Inbox summaries pushed again after an outage, newest first.</summary>
    private const int InboxRefreshLimit = 2000;

    /// <summary>Live messages held back while the bus is down or a catch-up runs; beyond, the catch-up's own read covers them.</summary>
    private const int HoldLimit = 100_000;

    private readonly ConcurrentDictionary<Guid, DateTime> _nodes = new();
    private readonly ConcurrentDictionary<Guid, int> _agents = new();
    private readonly Lock _catchUpGate = new();
    private readonly Lock _holdGate = new();
    private readonly List<MessageCommitted> _held = [];
    private DateTime? _pendingSince;
    private Task _catchUp = Task.CompletedTask;
    private bool _linkDown;
    private bool _catchingUp;
    private bool _heldOverflow;
    private ITimer? _heartbeat;

    /// <summary>Agent connections on the other live nodes, as of their last heartbeat.</summary>
    public int RemoteAgentConnections => _agents.Where(a => _nodes.ContainsKey(a.Key)).Sum(a => a.Value);

    public void Handle(MessageCommitted domainEvent) => bus.Publish(MessageTopic, domainEvent);

    public void Handle(ConversationChanged domainEvent) => bus.Publish(ConversationTopic, domainEvent.Conversation);

    public Task StartAsync(CancellationToken cancellationToken)
    {
        bus.Subscribe<MessageCommitted>(MessageTopic, OnRemoteMessage);
        bus.Subscribe<ConversationState>(ConversationTopic, state => fanout.Handle(new ConversationChanged(state)));
        bus.Subscribe<ResyncRequest>(ResyncTopic, request => RequestCatchUp(request.Since, "another node's Redis link came back"));
        bus.Subscribe<NodeHeartbeat>(HeartbeatTopic, beat =>
        {
            _nodes[beat.NodeId] = time.GetUtcNow().UtcDateTime;
            _agents[beat.NodeId] = beat.Agents;
        });
        bus.Interrupted += () =>
        {
            lock (_holdGate)
            {
                _linkDown = true;
            }
        };
        bus.Restored += since =>
        {
            RequestCatchUp(since, "our Redis link came back");
            lock (_holdGate)
            {
                // The catch-up requested above keeps holding until it has pushed its part.
                _linkDown = false;
            }

            // What we published during the outage never reached the others either.
            bus.Publish(ResyncTopic, new ResyncRequest(since));
        };

        var period = TimeSpan.FromSeconds(options.Value.HeartbeatSeconds);
        _heartbeat = time.CreateTimer(_ => Beat(), null, TimeSpan.Zero, period);
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        _heartbeat?.Dispose();
        Task running;
        lock (_catchUpGate)
        {
            running = _catchUp;
        }

        await running.WaitAsync(cancellationToken);
    }

    public void Dispose() => _heartbeat?.Dispose();

    private void Beat()
    {
        bus.Publish(HeartbeatTopic, new NodeHeartbeat(bus.NodeId, registry.Agents.Count));
        var now = time.GetUtcNow().UtcDateTime;
        var timeout = TimeSpan.FromSeconds(options.Value.NodeTimeoutSeconds);
        foreach (var (node, lastSeen) in _nodes)
        {
            if (now - lastSeen > timeout && _nodes.TryRemove(new KeyValuePair<Guid, DateTime>(node, lastSeen)))
            {
                _agents.TryRemove(node, out _);
                // It may have committed and acknowledged messages it never got to publish.
                LogNodeLost(logger, node, lastSeen);
                RequestCatchUp(lastSeen - TimeSpan.FromSeconds(options.Value.HeartbeatSeconds), "a node stopped announcing itself");
            }
        }
    }

    /// <summary>A message another node committed: delivered now, or after the catch-up when one is due or running.</summary>
    private void OnRemoteMessage(MessageCommitted message)
    {
        metrics.BusLag(time.GetUtcNow().UtcDateTime - message.Message.CreatedAt);
        lock (_holdGate)
        {
            if (_linkDown || _catchingUp)
            {
                if (_held.Count < HoldLimit)
                {
                    _held.Add(message);
                }
                else
                {
                    _heldOverflow = true;
                }

                return;
            }
        }

        fanout.Handle(message);
    }

    /// <summary>Runs one catch-up at a time; requests arriving meanwhile merge into the next run (earliest start wins).</summary>
    private void RequestCatchUp(DateTime since, string reason)
    {
        LogCatchUpRequested(logger, since, reason);
        lock (_holdGate)
        {
            _catchingUp = true;
        }

        lock (_catchUpGate)
        {
            var wasPending = _pendingSince is not null;
            _pendingSince = _pendingSince is { } pending && pending < since ? pending : since;
            if (wasPending)
            {
                return;
            }

            _catchUp = _catchUp.ContinueWith(_ => CatchUpLoopAsync(), CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default).Unwrap();
        }
    }

    private async Task CatchUpLoopAsync()
    {
        DateTime since;
        lock (_catchUpGate)
        {
            if (_pendingSince is not { } pending)
            {
                return;
            }

            since = pending;
            _pendingSince = null;
        }

        lock (_holdGate)
        {
            // Everything held so far was committed before the reads below start, so they deliver it (in order).
            _held.Clear();
            if (_heldOverflow)
            {
                _heldOverflow = false;
                LogHoldOverflow(logger, HoldLimit);
            }
        }

        try
        {
            metrics.CatchUp();
            await CatchUpAsync(since - TimeSpan.FromSeconds(options.Value.CatchUpMarginSeconds));
        }
        catch (Exception ex)
        {
            LogCatchUpFailed(logger, ex);
        }
        finally
        {
            ReleaseHeld(since);
        }
    }

    /// <summary>Delivers what arrived during the catch-up, unless the link is down or another catch-up is due.</summary>
    private void ReleaseHeld(DateTime since)
    {
        bool again;
        lock (_holdGate)
        {
            lock (_catchUpGate)
            {
                again = _pendingSince is not null;
            }

            if (again || _linkDown)
            {
                return;
            }

            again = _heldOverflow;
            if (!again)
            {
                // Delivered under the lock so that a message arriving meanwhile cannot overtake these.
                foreach (var message in _held)
                {
                    fanout.Handle(message);
                }

                _held.Clear();
                _catchingUp = false;
                return;
            }
        }

        // Some arrived after the reads began and were not kept: read again from the same start.
        RequestCatchUp(since, "more live messages arrived during the catch-up than are held");
    }


    /// <summary>
    /// Pushes again, from the store, what was committed since <paramref name="since"/> in the conversations this
    /// node's clients follow: oldest first, page by page, each page only once the receiving connections have room
    /// for it (a burst must not trip the slow-consumer limit). Then the inbox summaries changed since then.
    /// </summary>
    private async Task CatchUpAsync(DateTime since)
    {
        var followed = registry.SubscribedConversations;
        var limit = options.Value.CatchUpLimit;
        var room = Math.Max(0, realtime.Value.OutboundQueueLimit - (2 * CatchUpPage));
        var pushed = 0;
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ParleyDbContext>();
        foreach (var chunk in followed.Chunk(200))
        {
            var ids = chunk.ToList();
            var active = await db.Conversations.AsNoTracking()
                .Where(c => ids.Contains(c.Id) && c.LastMessageAt >= since)
                .Select(c => new { c.Id, c.TeamId, c.AssigneeId, c.LastSeq })
                .ToListAsync();
            foreach (var conversation in active)
            {
                var after = Math.Max(0, conversation.LastSeq - limit);
                while (true)
                {
                    var id = conversation.Id;
                    var from = after;
                    var page = await db.Messages.AsNoTracking()
                        .Where(m => m.ConversationId == id && m.Seq > from && m.CreatedAt >= since)
                        .OrderBy(m => m.Seq)
                        .Take(CatchUpPage)
                        .ToListAsync();
                    if (page.Count == 0)
                    {
                        break;
                    }

                    await WaitForRoomAsync(id, room);
                    foreach (var message in page)
                    {
                        fanout.DeliverMessage(message, conversation.TeamId, conversation.AssigneeId);
                    }

                    pushed += page.Count;
                    after = page[^1].Seq;
                    if (page.Count < CatchUpPage)
                    {
                        break;
                    }
                }
            }
        }

        var refreshed = registry.Agents.Count > 0 ? await RefreshInboxesAsync(db, since) : 0;
        LogCaughtUp(logger, pushed, followed.Count, refreshed, since);
    }

    /// <summary>
    /// Waits until every subscriber of the conversation has at most <paramref name="pending"/> events queued. A
    /// connection that does not drain within the bound is left to the queue's own slow-consumer rule.
    /// </summary>
    private async Task WaitForRoomAsync(Guid conversationId, int pending)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10), time);
        foreach (var connection in registry.SubscribersOf(conversationId))
        {
            try
            {
                await connection.WaitForRoomAsync(pending, timeout.Token);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>
    /// Pushes the current summary of every conversation that changed since <paramref name="since"/> (newest first,
    /// bounded) to this node's agents, so inboxes do not keep what they showed before the outage.
    /// </summary>
    private async Task<int> RefreshInboxesAsync(ParleyDbContext db, DateTime since)
    {
        var rows = await (
                from c in db.Conversations.AsNoTracking()
                where (c.Status != ConversationStatus.Closed && c.UpdatedAt >= since) || (c.Status == ConversationStatus.Closed && c.LastMessageAt >= since)
                join ct in db.Contacts on c.ContactId equals ct.Id
                join u in db.Users on c.AssigneeId equals u.Id into assignees
                from u in assignees.DefaultIfEmpty()
                orderby c.UpdatedAt descending
                select new { Conversation = c, ContactName = ct.Name, AssigneeName = u == null ? null : u.DisplayName })
            .Take(InboxRefreshLimit)
            .ToListAsync();
        foreach (var row in rows)
        {
            fanout.RefreshSummary(ConversationState.From(row.Conversation, row.ContactName, row.AssigneeName));
        }

        return rows.Count;
    }

    internal sealed record ResyncRequest(DateTime Since);

    internal sealed record NodeHeartbeat(Guid NodeId, int Agents);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Node {Node} has not been heard from since {LastSeen:O}; catching up on what it committed")]
    private static partial void LogNodeLost(ILogger logger, Guid node, DateTime lastSeen);

    [LoggerMessage(Level = LogLevel.Information, Message = "Catch-up since {Since:O} requested: {Reason}")]
    private static partial void LogCatchUpRequested(ILogger logger, DateTime since, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Catch-up pushed {Count} message(s) in {Conversations} followed conversation(s) and {Summaries} inbox summaries, committed since {Since:O}")]
    private static partial void LogCaughtUp(ILogger logger, int count, int conversations, int summaries, DateTime since);

    [LoggerMessage(Level = LogLevel.Warning, Message = "More than {Limit} live messages arrived while catching up; they are read again from the store")]
    private static partial void LogHoldOverflow(ILogger logger, int limit);

    [LoggerMessage(Level = LogLevel.Error, Message = "Catch-up from the store failed; clients repair by replay on their next gap or reconnect")]
    private static partial void LogCatchUpFailed(ILogger logger, Exception exception);
}
