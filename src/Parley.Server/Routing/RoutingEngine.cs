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

    // What each waiting visitor was last told, so only changes are pushed.
    private readonly ConcurrentDictionary<Guid, QueueStatus> _told = new();

    public void Wake() => _wake.Writer.TryWrite(true);

    /// <summary>Tell this visitor their queue status again on the next pass (they just subscribed).</summary>
    public void Resend(Guid conversationId)
    {
        _told.TryRemove(conversationId, out _);
        Wake();
    }

    public void Handle(ConversationChanged domainEvent) => Wake();

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

    /// <summary>One pass over the queue. True when it should run again right away (it lost a race and backed off).</summary>
    internal async Task<bool> PassAsync(CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ParleyDbContext>();
        var routing = scope.ServiceProvider.GetRequiredService<RoutingService>();
        var o = options.Value;
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

        var teams = await db.Teams.AsNoTracking().ToDictionaryAsync(t => t.Id, cancellationToken);
        var hours = teams.ToDictionary(t => t.Key, t => BusinessHours.FromStored(t.Value.TimeZone, t.Value.HoursJson));
        var queue = await db.Conversations.AsNoTracking()
            .Where(c => c.QueuedAt != null && c.AssigneeId == null && c.Status != ConversationStatus.Closed)
            .OrderByDescending(c => c.Priority).ThenBy(c => c.QueuedAt).ThenBy(c => c.Id)
            .Select(c => new QueueRow { Id = c.Id, TeamId = c.TeamId, Priority = c.Priority, ContactId = c.ContactId, RoutedAt = c.RoutedAt ?? c.CreatedAt, OfferedToId = c.OfferedToId, DeclinedBy = c.DeclinedBy })
            .ToListAsync(cancellationToken);

        await OverflowAsync(db, queue, teams, nowUtc, cancellationToken);

        // The agents this node can route to, with what they hold now.
        var present = await presence.GetPresentAsync(cancellationToken);
        var onlineIds = present.Where(p => p.Value == AgentStatus.Online).Select(p => p.Key).ToList();
        var agents = await db.Users.AsNoTracking()
            .Where(u => onlineIds.Contains(u.Id) && u.IsActive)
            .Select(u => new { u.Id, u.Capacity })
            .ToDictionaryAsync(u => u.Id, u => u.Capacity, cancellationToken);
        var load = agents.Keys.ToDictionary(id => id, _ => 0);
        var held = await db.Conversations.AsNoTracking()
            .Where(c => c.Status != ConversationStatus.Closed
                && ((c.AssigneeId != null && onlineIds.Contains(c.AssigneeId.Value)) || (c.OfferedToId != null && onlineIds.Contains(c.OfferedToId.Value))))
            .Select(c => c.AssigneeId ?? c.OfferedToId)
            .ToListAsync(cancellationToken);
        foreach (var agent in held)
        {
            if (agent is { } a && load.TryGetValue(a, out var count))
            {
                load[a] = count + 1;
            }
        }

        var members = (await db.TeamMembers.AsNoTracking().Where(m => onlineIds.Contains(m.UserId)).ToListAsync(cancellationToken))
            .ToLookup(m => m.TeamId);
        var generalCursor = new Dictionary<Guid, DateTime?>();

        var again = false;
        var assigned = new HashSet<Guid>(); // visitors learn it from ConversationAssigned
        var taken = new HashSet<Guid>();    // assigned by another node (or closed): tell them here
        var full = new HashSet<Guid>(); // teams (Guid.Empty: the general queue) where nobody online has room
        foreach (var row in queue)
        {
            if (row.OfferedToId is not null)
            {
                continue;
            }

            var team = row.TeamId is { } tid ? teams.GetValueOrDefault(tid) : null;
            var key = team?.Id ?? Guid.Empty;
            var strategy = team?.Strategy ?? o.DefaultStrategy;
            if (strategy == RoutingStrategy.Manual || full.Contains(key) || (team is not null && !hours[team.Id].IsOpen(now)))
            {
                continue;
            }

            var pool = team is null
                ? agents.Keys.Select(id => new Candidate(id, load[id], agents[id], generalCursor.GetValueOrDefault(id)))
                : members[team.Id].Where(m => agents.ContainsKey(m.UserId)).Select(m => new Candidate(m.UserId, load[m.UserId], agents[m.UserId], m.LastAssignedAt));
            var all = pool.ToList();
            if (!all.Any(c => c.HasRoom))
            {
                full.Add(key);
                continue;
            }

            var candidates = all.Where(c => !AssignmentStore.HasDeclined(row.DeclinedBy, c.AgentId)).ToList();
            var sticky = team?.Sticky ?? o.DefaultSticky;
            var preferred = sticky ? await LastAgentAsync(db, row, cancellationToken) : null;
            if (Strategies.Choose(strategy, candidates, preferred) is not { } agentId)
            {
                continue;
            }

            var offerSeconds = team?.OfferTimeoutSeconds ?? o.DefaultOfferTimeoutSeconds;
            var result = await store.AssignAsync(row.Id, agentId, offerSeconds > 0 ? AssignMode.Offer : AssignMode.Route, TimeSpan.FromSeconds(offerSeconds), cancellationToken);
            switch (result.Outcome)
            {
                case AssignOutcome.Assigned:
                    load[agentId]++;
                    generalCursor[agentId] = nowUtc;
                    UpdateCursor(members, team, agentId, nowUtc);
                    assigned.Add(row.Id);
                    var reason = agentId == preferred ? AssignReason.Sticky : AssignReason.Routed;
                    await routing.CompleteAsync(row.Id, agentId, result, reason, Actor.Agent(agentId, "Routing"), cancellationToken);
                    break;
                case AssignOutcome.Offered:
                    load[agentId]++;
                    row.OfferedToId = agentId;
                    events.Publish(new ConversationOffered(row.Id, agentId, nowUtc.AddSeconds(offerSeconds)));
                    break;
                case AssignOutcome.AtCapacity:
                    // Another node filled the agent meanwhile: count them full and look again after this pass.
                    load[agentId] = agents[agentId];
                    again = true;
                    break;
                case AssignOutcome.AgentUnavailable:
                    agents.Remove(agentId);
                    load[agentId] = int.MaxValue;
                    break;
                default:
                    // Taken by another node, or closed: it leaves the queue.
                    taken.Add(row.Id);
                    break;
            }
        }

        if (queue.Count > assigned.Count)
        {
            await handleTimes.RefreshAsync(db, cancellationToken);
        }

        PublishPositions(queue, assigned, taken, teams, hours, members, agents, now);
        return again;
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

    private async Task OverflowAsync(ParleyDbContext db, List<QueueRow> queue, Dictionary<Guid, Team> teams, DateTime now, CancellationToken cancellationToken)
    {
        foreach (var row in queue)
        {
            if (row.OfferedToId is not null || row.TeamId is not { } teamId || !teams.TryGetValue(teamId, out var team)
                || team.OverflowAfterMinutes is not { } minutes || row.RoutedAt.AddMinutes(minutes) > now)
            {
                continue;
            }

            var to = team.OverflowTeamId is { } target && teams.ContainsKey(target) ? target : (Guid?)null;
            // Conditional on the team it is in: of two nodes overflowing it, one moves it.
            var changed = to is { } next
                ? await db.Conversations.Where(c => c.Id == row.Id && c.TeamId == teamId && c.AssigneeId == null)
                    .ExecuteUpdateAsync(s => s.SetProperty(c => c.TeamId, next).SetProperty(c => c.RoutedAt, now).SetProperty(c => c.DeclinedBy, (string?)null), cancellationToken)
                : await db.Conversations.Where(c => c.Id == row.Id && c.TeamId == teamId && c.AssigneeId == null && c.QueuedAt != null)
                    .ExecuteUpdateAsync(s => s.SetProperty(c => c.QueuedAt, (DateTime?)null), cancellationToken);
            if (changed == 1)
            {
                events.Publish(new ConversationOverflowed(row.Id, teamId, to));
            }

            row.TeamId = to;
            row.Offline = to is null;
            row.RoutedAt = now;
        }
    }

    private static async Task<Guid?> LastAgentAsync(ParleyDbContext db, QueueRow row, CancellationToken cancellationToken) =>
        await db.Conversations.AsNoTracking()
            .Where(c => c.ContactId == row.ContactId && c.Id != row.Id && c.AssigneeId != null)
            .OrderByDescending(c => c.CreatedAt)
            .Select(c => c.AssigneeId)
            .FirstOrDefaultAsync(cancellationToken);

    private static void UpdateCursor(ILookup<Guid, TeamMember> members, Team? team, Guid agentId, DateTime now)
    {
        if (team is not null && members[team.Id].FirstOrDefault(m => m.UserId == agentId) is { } member)
        {
            member.LastAssignedAt = now;
        }
    }

    /// <summary>
    /// Positions per queue (1 = next), an estimated wait from the online capacity and the measured handle time, pushed
    /// only when changed.
    /// </summary>
    private void PublishPositions(
        List<QueueRow> queue, HashSet<Guid> assigned, HashSet<Guid> taken, Dictionary<Guid, Team> teams, Dictionary<Guid, BusinessHours> hours,
        ILookup<Guid, TeamMember> members, Dictionary<Guid, int> agents, DateTimeOffset now)
    {
        var changes = new List<QueueStatus>();
        var positions = new Dictionary<Guid, int>();
        var seen = new HashSet<Guid>();
        foreach (var row in queue)
        {
            seen.Add(row.Id);
            if (assigned.Contains(row.Id) || taken.Contains(row.Id))
            {
                _told.TryRemove(row.Id, out _);
                if (taken.Contains(row.Id))
                {
                    changes.Add(new QueueStatus { ConversationId = row.Id, State = QueueStatus.Assigned });
                }

                continue;
            }

            QueueStatus status;
            var team = row.TeamId is { } tid ? teams.GetValueOrDefault(tid) : null;
            if (row.Offline || (team is not null && !hours[team.Id].IsOpen(now)))
            {
                status = new QueueStatus { ConversationId = row.Id, State = QueueStatus.Offline };
            }
            else if (row.OfferedToId is not null)
            {
                status = new QueueStatus { ConversationId = row.Id, State = QueueStatus.Offered };
            }
            else
            {
                var key = team?.Id ?? Guid.Empty;
                var position = positions[key] = positions.GetValueOrDefault(key) + 1;
                var capacity = team is null
                    ? agents.Values.Sum()
                    : members[team.Id].Where(m => agents.ContainsKey(m.UserId)).Sum(m => agents[m.UserId]);
                status = new QueueStatus
                {
                    ConversationId = row.Id,
                    State = QueueStatus.Queued,
                    Position = position,
                    EstimatedWaitSeconds = capacity > 0 ? (int)Math.Ceiling((double)position * handleTimes.SecondsFor(team?.Id) / capacity) : null,
                };
            }

            if (!_told.TryGetValue(row.Id, out var previous) || previous != status)
            {
                _told[row.Id] = status;
                changes.Add(status);
            }
        }

        foreach (var id in _told.Keys.Where(id => !seen.Contains(id)))
        {
            _told.TryRemove(id, out _);
        }

        if (changes.Count > 0)
        {
            events.Publish(new QueuePositionsChanged(changes));
        }
    }

    private sealed class QueueRow
    {
        public Guid Id { get; init; }

        public Guid? TeamId { get; set; }

        public int Priority { get; init; }

        public Guid ContactId { get; init; }

        public DateTime RoutedAt { get; set; }

        public Guid? OfferedToId { get; set; }

        public string? DeclinedBy { get; init; }

        public bool Offline { get; set; }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Routing pass failed; the next wake-up or sweep retries")]
    private static partial void LogPassFailed(ILogger logger, Exception exception);

    [LoggerMessage(Level = LogLevel.Information, Message = "Re-queued {Count} open conversation(s) of agent {AgentId}, who went offline")]
    private static partial void LogRequeued(ILogger logger, int count, Guid agentId);
}
