using System.Collections.Concurrent;
using System.Threading.Channels;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Parley.Data;
using Parley.Server.Events;
using Parley.Server.Messaging;
using Parley.Server.Realtime;
using Parley.Server.Realtime.Presence;

namespace Parley.Server.Routing;

/// <summary>
/// Each node's routing loop. Woken by anything that can change who gets what (a conversation queued or closed,
/// an agent coming online or freeing capacity) and by a periodic sweep, it walks the waiting queue in order
/// (priority lane first, then arrival) and hands conversations to the online agents of their team through
/// <see cref="AssignmentStore"/>. One pass at a time per node; across nodes the store's transactions decide.
/// </summary>
internal sealed partial class RoutingEngine(
    IServiceScopeFactory scopes,
    IAgentPresence presence,
    AssignmentStore store,
    HandleTimes handleTimes,
    DomainEvents events,
    TimeProvider time,
    IOptions<RoutingOptions> options,
    ILogger<RoutingEngine> logger)
    : BackgroundService,
      IDomainEventListener<ConversationChanged>,
      IDomainEventListener<ConversationQueued>,
      IDomainEventListener<AgentPresenceChanged>,
      IDomainEventListener<OfferWithdrawn>
{
    private readonly Channel<bool> _wake = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });
    private readonly ConcurrentQueue<Guid> _wentOffline = new();

    private const int MaxSeen = 200_000;

    // The routing fields of each open conversation as last seen in a change, to skip changes that do not move them.
    private readonly ConcurrentDictionary<Guid, RoutingFields> _seen = new();

    // What each waiting visitor was last told, so only changes are pushed.
    private readonly ConcurrentDictionary<Guid, QueueStatus> _told = new();

    public void Wake() => _wake.Writer.TryWrite(true);

    // Conversations whose visitor just subscribed (Resend): the next pass tells them they are assigned if they are.
    private readonly ConcurrentDictionary<Guid, byte> _subscribed = new();

    /// <summary>
    /// Tell this visitor their queue status again on the next pass (they just subscribed): their position if they wait,
    /// or that they are assigned if an agent took the conversation before they subscribed (that push found nobody).
    /// </summary>
    public void Resend(Guid conversationId)
    {
        _told.TryRemove(conversationId, out _);
        _subscribed[conversationId] = 0;
        Wake();
    }

    /// <summary>
    /// Wakes the loop only when what routing decides from changed (status, assignee, team, bot): most changes (the
    /// intent, a takeover alert, a label) do not, and a pass reads the whole queue (measured at 16 % of a core under
    /// overload when every change woke it, docs/benchmarks.md).
    /// </summary>
    public void Handle(ConversationChanged domainEvent)
    {
        var c = domainEvent.Conversation;
        var fields = new RoutingFields(c.Status, c.AssigneeId, c.TeamId, c.BotActive);
        if (c.Status == ConversationStatus.Closed)
        {
            _seen.TryRemove(c.Id, out _);
        }
        else if (_seen.TryGetValue(c.Id, out var before) && before == fields)
        {
            return;
        }
        else
        {
            if (_seen.Count >= MaxSeen)
            {
                _seen.Clear(); // conversations closed on other nodes are never removed here; start over
            }

            _seen[c.Id] = fields;
        }

        Wake();
    }

    public void Handle(ConversationQueued domainEvent) => Wake();

    public void Handle(OfferWithdrawn domainEvent) => Wake();

    public void Handle(AgentPresenceChanged domainEvent)
    {
        if (domainEvent.Status == AgentStatus.Offline)
        {
            _wentOffline.Enqueue(domainEvent.AgentId);
        }

        Wake();
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var interval = TimeSpan.FromSeconds(options.Value.SweepIntervalSeconds);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                using var sweep = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
                sweep.CancelAfter(interval);
                await _wake.Reader.ReadAsync(sweep.Token);
            }
            catch (OperationCanceledException) when (!stoppingToken.IsCancellationRequested)
            {
                // The sweep interval elapsed.
            }
            catch (OperationCanceledException)
            {
                return;
            }

            try
            {
                if (await PassAsync(stoppingToken))
                {
                    Wake();
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                LogPassFailed(logger, ex);
            }
        }
    }

    /// <summary>
    /// One pass over the queue: settle what expired (offers, agents gone offline), read a <see cref="RoutingSnapshot"/>,
    /// let <see cref="RoutingPlanner"/> decide, and apply its decisions through conditional updates that make them safe
    /// across nodes. True when it should run again right away (it lost a race and backed off).
    /// </summary>
    internal async Task<bool> PassAsync(CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ParleyDbContext>();
        var routing = scope.ServiceProvider.GetRequiredService<RoutingService>();
        var now = time.GetUtcNow();
        var nowUtc = now.UtcDateTime;

        await HandleOfflineAgentsAsync(db, routing, cancellationToken);

        var expired = await db.Conversations.AsNoTracking()
            .Where(c => c.OfferedToId != null && c.OfferExpiresAt <= nowUtc && c.Status != ConversationStatus.Closed)
            .Select(c => new { c.Id, Agent = c.OfferedToId!.Value })
            .ToListAsync(cancellationToken);
        foreach (var offer in expired)
        {
            await routing.DeclineOfferAsync(offer.Id, offer.Agent, expired: true, cancellationToken);
        }

        var snapshot = await ReadSnapshotAsync(db, cancellationToken);
        var planner = new RoutingPlanner(snapshot, now);
        foreach (var move in planner.Overflows)
        {
            await OverflowAsync(db, move, nowUtc, cancellationToken);
        }

        var assigned = 0;
        while (planner.Next() is { } step)
        {
            var result = await store.AssignAsync(step.ConversationId, step.AgentId, step.Mode, TimeSpan.FromSeconds(step.OfferTimeoutSeconds), cancellationToken);
            planner.Record(result.Outcome);
            if (result.Outcome == AssignOutcome.Assigned)
            {
                assigned++;
                await routing.CompleteAsync(step.ConversationId, step.AgentId, result, step.Reason, Actor.Agent(step.AgentId, "Routing"), cancellationToken);
            }
            else if (result.Outcome == AssignOutcome.Offered)
            {
                events.Publish(new ConversationOffered(step.ConversationId, step.AgentId, nowUtc.AddSeconds(step.OfferTimeoutSeconds)));
            }
        }

        if (snapshot.Queue.Count > assigned)
        {
            await handleTimes.RefreshAsync(db, cancellationToken);
        }

        PublishPositions(planner.Positions(handleTimes.SecondsFor));
        await TellSubscribedIfAssignedAsync(db, cancellationToken);
        return planner.Again;
    }

    /// <summary>
    /// What the pass decides from: the waiting conversations, the teams, the online agents with what they hold now
    /// (assigned or offered), and for sticky queues each waiting visitor's last agent.
    /// </summary>
    private async Task<RoutingSnapshot> ReadSnapshotAsync(ParleyDbContext db, CancellationToken cancellationToken)
    {
        var o = options.Value;
        var defaults = new RoutingDefaults(o.DefaultStrategy, o.DefaultSticky, o.DefaultOfferTimeoutSeconds);
        var queue = await db.Conversations.AsNoTracking()
            .Where(c => c.QueuedAt != null && c.AssigneeId == null && c.Status != ConversationStatus.Closed)
            .Select(c => new WaitingConversation(c.Id, c.TeamId, c.Priority, c.ContactId, c.QueuedAt!.Value, c.RoutedAt ?? c.CreatedAt, c.OfferedToId, c.DeclinedBy))
            .ToListAsync(cancellationToken);
        if (queue.Count == 0)
        {
            // Nobody waits: nothing to assign, overflow or number, so nothing else to read. This is every pass of a
            // quiet server (one every SweepIntervalSeconds on each node).
            return new RoutingSnapshot(queue, new Dictionary<Guid, RoutingTeam>(), new Dictionary<Guid, RoutingAgent>(), new Dictionary<Guid, Guid>(), defaults);
        }

        var teams = await db.Teams.AsNoTracking().ToListAsync(cancellationToken);
        var present = await presence.GetPresentAsync(cancellationToken);
        var onlineIds = present.Where(p => p.Value == AgentStatus.Online).Select(p => p.Key).ToList();
        var agents = new Dictionary<Guid, RoutingAgent>();
        ILookup<Guid, TeamMember> members = Array.Empty<TeamMember>().ToLookup(m => m.TeamId);
        if (onlineIds.Count > 0)
        {
            var capacities = await db.Users.AsNoTracking()
                .Where(u => onlineIds.Contains(u.Id) && u.IsActive)
                .Select(u => new { u.Id, u.Capacity })
                .ToDictionaryAsync(u => u.Id, u => u.Capacity, cancellationToken);
            var held = await db.Conversations.AsNoTracking()
                .Where(c => c.Status != ConversationStatus.Closed
                    && ((c.AssigneeId != null && onlineIds.Contains(c.AssigneeId.Value)) || (c.OfferedToId != null && onlineIds.Contains(c.OfferedToId.Value))))
                .Select(c => c.AssigneeId ?? c.OfferedToId)
                .ToListAsync(cancellationToken);
            var load = held.Where(a => a is not null).CountBy(a => a!.Value).ToDictionary();
            agents = capacities.ToDictionary(a => a.Key, a => new RoutingAgent(a.Key, a.Value, load.GetValueOrDefault(a.Key)));
            members = (await db.TeamMembers.AsNoTracking().Where(m => onlineIds.Contains(m.UserId)).ToListAsync(cancellationToken))
                .ToLookup(m => m.TeamId);
        }

        var routingTeams = teams.ToDictionary(t => t.Id, t => new RoutingTeam(
            t.Id, t.Strategy, t.Sticky, t.OfferTimeoutSeconds, BusinessHours.FromStored(t.TimeZone, t.HoursJson),
            members[t.Id].ToDictionary(m => m.UserId, m => m.LastAssignedAt), t.OverflowAfterMinutes, t.OverflowTeamId));

        // Sticky: the agent of the visitor's newest assigned conversation. Read for every waiting visitor when any queue
        // is sticky (overflow can move a conversation into a sticky queue during the pass). A contact has one open
        // conversation at a time (unique index), so nothing this pass assigns changes another waiting row's answer.
        var anySticky = o.DefaultSticky || teams.Any(t => t.Sticky);
        var stickyContacts = anySticky ? queue.Where(r => r.OfferedToId is null).Select(r => r.ContactId).Distinct().ToList() : [];
        var lastAgents = stickyContacts.Count == 0
            ? new Dictionary<Guid, Guid>()
            : await db.Conversations.AsNoTracking()
                .Where(c => stickyContacts.Contains(c.ContactId) && c.AssigneeId != null)
                .GroupBy(c => c.ContactId)
                .Select(g => g.OrderByDescending(c => c.CreatedAt).Select(c => new { c.ContactId, AgentId = c.AssigneeId!.Value }).First())
                .ToDictionaryAsync(x => x.ContactId, x => x.AgentId, cancellationToken);

        return new RoutingSnapshot(queue, routingTeams, agents, lastAgents, defaults);
    }

    private async Task HandleOfflineAgentsAsync(ParleyDbContext db, RoutingService routing, CancellationToken cancellationToken)
    {
        while (_wentOffline.TryDequeue(out var agentId))
        {
            if (await presence.GetStatusAsync(agentId, cancellationToken) != AgentStatus.Offline)
            {
                continue; // back already
            }

            var offers = await db.Conversations.AsNoTracking()
                .Where(c => c.OfferedToId == agentId && c.Status != ConversationStatus.Closed).Select(c => c.Id).ToListAsync(cancellationToken);
            foreach (var id in offers)
            {
                await routing.DeclineOfferAsync(id, agentId, expired: true, cancellationToken);
            }

            if (!options.Value.RequeueOnAgentOffline)
            {
                continue;
            }

            var open = await db.Conversations.AsNoTracking()
                .Where(c => c.AssigneeId == agentId && c.Status != ConversationStatus.Closed).Select(c => c.Id).ToListAsync(cancellationToken);
            var name = await db.Users.AsNoTracking().Where(u => u.Id == agentId).Select(u => u.DisplayName).FirstOrDefaultAsync(cancellationToken);
            foreach (var id in open)
            {
                await routing.RequeueAsync(id, agentId, "agent_offline", Actor.Agent(agentId, name), cancellationToken);
            }

            if (open.Count > 0)
            {
                LogRequeued(logger, open.Count, agentId);
            }
        }
    }

    private async Task OverflowAsync(ParleyDbContext db, OverflowMove move, DateTime now, CancellationToken cancellationToken)
    {
        // Conditional on the team it is in: of two nodes overflowing it, one moves it.
        var (id, from) = (move.ConversationId, move.FromTeamId);
        var changed = move.ToTeamId is { } next
            ? await db.Conversations.Where(c => c.Id == id && c.TeamId == from && c.AssigneeId == null)
                .ExecuteUpdateAsync(s => s.SetProperty(c => c.TeamId, next).SetProperty(c => c.RoutedAt, now).SetProperty(c => c.DeclinedBy, (string?)null), cancellationToken)
            : await db.Conversations.Where(c => c.Id == id && c.TeamId == from && c.AssigneeId == null && c.QueuedAt != null)
                .ExecuteUpdateAsync(s => s.SetProperty(c => c.QueuedAt, (DateTime?)null), cancellationToken);
        if (changed == 1)
        {
            events.Publish(new ConversationOverflowed(id, from, move.ToTeamId));
        }
    }

    /// <summary>
    /// The visitors who subscribed since the last pass and whose conversation already has an agent: the
    /// <see cref="ConversationAssigned"/> push went out before they subscribed, so they hear it now. Read after taking
    /// the ids, so an assignment is either seen here or happens after the subscription and reaches them itself (both at
    /// worst: the status is the same twice).
    /// </summary>
    private async Task TellSubscribedIfAssignedAsync(ParleyDbContext db, CancellationToken cancellationToken)
    {
        if (_subscribed.IsEmpty)
        {
            return;
        }

        var ids = new List<Guid>();
        foreach (var id in _subscribed.Keys)
        {
            if (_subscribed.TryRemove(id, out _))
            {
                ids.Add(id);
            }
        }

        var assigned = await db.Conversations.AsNoTracking()
            .Where(c => ids.Contains(c.Id) && c.AssigneeId != null && c.Status != ConversationStatus.Closed)
            .Select(c => c.Id)
            .ToListAsync(cancellationToken);
        if (assigned.Count > 0)
        {
            events.Publish(new QueuePositionsChanged(assigned.ConvertAll(id => new QueueStatus { ConversationId = id, State = QueueStatus.Assigned })));
        }
    }

    /// <summary>Pushes the planner's queue statuses that changed since this node last told each visitor.</summary>
    private void PublishPositions(IReadOnlyList<QueueStatus> statuses)
    {
        var changes = new List<QueueStatus>();
        var seen = new HashSet<Guid>();
        foreach (var status in statuses)
        {
            seen.Add(status.ConversationId);
            if (status.State == QueueStatus.Assigned)
            {
                // Assigned by another node (or closed): always tell, and forget it.
                _told.TryRemove(status.ConversationId, out _);
                changes.Add(status);
            }
            else if (!_told.TryGetValue(status.ConversationId, out var previous) || previous != status)
            {
                _told[status.ConversationId] = status;
                changes.Add(status);
            }
        }

        // Left the queue, or assigned by this pass (those visitors learn it from ConversationAssigned).
        foreach (var id in _told.Keys.Where(id => !seen.Contains(id)))
        {
            _told.TryRemove(id, out _);
        }

        if (changes.Count > 0)
        {
            events.Publish(new QueuePositionsChanged(changes));
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Routing pass failed; the next wake-up or sweep retries")]
    private static partial void LogPassFailed(ILogger logger, Exception exception);

    [LoggerMessage(Level = LogLevel.Information, Message = "Re-queued {Count} open conversation(s) of agent {AgentId}, who went offline")]
    private static partial void LogRequeued(ILogger logger, int count, Guid agentId);

    private readonly record struct RoutingFields(ConversationStatus Status, Guid? AssigneeId, Guid? TeamId, bool BotActive);
}
