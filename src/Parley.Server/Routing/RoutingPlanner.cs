using Parley.Data;

namespace Parley.Server.Routing;

/// <summary>A conversation waiting in a queue, as the routing pass read it.</summary>
/// <param name="TeamId">The team whose queue it waits in; null is the general queue every online agent serves.</param>
/// <param name="Priority">Higher is served first (the VIP lane).</param>
/// <param name="RoutedAt">When it entered its current team's queue (overflow counts from here).</param>
/// <param name="OfferedToId">The agent it is offered to now, if any: it waits for their answer.</param>
/// <param name="DeclinedBy">Agents who refused or let an offer expire (see <see cref="AssignmentStore.HasDeclined"/>).</param>
internal sealed record WaitingConversation(
    Guid Id, Guid? TeamId, int Priority, Guid ContactId, DateTime QueuedAt, DateTime RoutedAt, Guid? OfferedToId = null, string? DeclinedBy = null);

/// <summary>A team's routing settings, with its online members and when each was last given a conversation.</summary>
internal sealed record RoutingTeam(
    Guid Id,
    RoutingStrategy Strategy,
    bool Sticky,
    int OfferTimeoutSeconds,
    BusinessHours Hours,
    IReadOnlyDictionary<Guid, DateTime?> Members,
    int? OverflowAfterMinutes = null,
    Guid? OverflowTeamId = null);

/// <summary>An online, active agent: how many conversations they may hold and how many they hold or are offered now.</summary>
internal sealed record RoutingAgent(Guid Id, int Capacity, int Load);

/// <summary>What the general queue (no team) uses: <see cref="RoutingOptions"/>' defaults.</summary>
internal sealed record RoutingDefaults(RoutingStrategy Strategy, bool Sticky, int OfferTimeoutSeconds);

/// <summary>
/// Everything one routing pass decides from, read in one go: the waiting conversations, the teams, the agents who
/// can take work, and each waiting visitor's last agent (for sticky routing).
/// </summary>
internal sealed record RoutingSnapshot(
    IReadOnlyList<WaitingConversation> Queue,
    IReadOnlyDictionary<Guid, RoutingTeam> Teams,
    IReadOnlyDictionary<Guid, RoutingAgent> Agents,
    IReadOnlyDictionary<Guid, Guid> LastAgentByContact,
    RoutingDefaults Defaults);

/// <summary>Waited too long in <paramref name="FromTeamId"/>: move it to <paramref name="ToTeamId"/>, or out of the queue (offline form) when null.</summary>
internal sealed record OverflowMove(Guid ConversationId, Guid FromTeamId, Guid? ToTeamId);

/// <summary>Give (or, with <see cref="AssignMode.Offer"/>, offer) a waiting conversation to an agent.</summary>
internal sealed record PlannedAssignment(Guid ConversationId, Guid AgentId, AssignMode Mode, int OfferTimeoutSeconds, AssignReason Reason)
{
    /// <summary>What applying it yields when nothing raced it.</summary>
    public AssignOutcome Expected => Mode == AssignMode.Offer ? AssignOutcome.Offered : AssignOutcome.Assigned;
}

/// <summary>A whole pass's decisions when every assignment goes through as planned.</summary>
internal sealed record RoutingPlan(IReadOnlyList<OverflowMove> Overflows, IReadOnlyList<PlannedAssignment> Assignments, IReadOnlyList<QueueStatus> Positions);

/// <summary>
/// The decisions of a routing pass, without a database or services: from a <see cref="RoutingSnapshot"/> and the
/// time, which conversations overflow, which agent gets which conversation, and what every waiting visitor is told.
/// <para>
/// The queue is served priority lane first, then oldest first (then by id, so every node agrees). A conversation
/// offered to someone waits for them; a team that picks manually, is closed (business hours) or has nobody online
/// with room is skipped, and once a queue is full nothing behind it in that queue is tried. Sticky queues give a
/// returning visitor their last agent when that agent has room; otherwise the team's strategy chooses
/// (<see cref="Strategies"/>), never an agent who declined this conversation.
/// </para>
/// <para>
/// <see cref="Plan"/> assumes every assignment goes through. The routing engine walks the same planner step by step
/// (<see cref="Next"/>, then <see cref="Record"/> with what the store answered), because another node can fill an
/// agent or take a conversation in between; the rest of the pass then plans with what was learned.
/// </para>
/// </summary>
internal sealed class RoutingPlanner
{
    private static readonly int DefaultHandleSeconds = new RoutingOptions().AverageHandleSeconds;

    private readonly RoutingSnapshot _snapshot;
    private readonly DateTimeOffset _now;
    private readonly List<Row> _queue;
    private readonly Dictionary<Guid, int> _capacity;
    private readonly Dictionary<Guid, int> _load;
    private readonly Dictionary<Guid, Dictionary<Guid, DateTime?>> _members;
    private readonly Dictionary<Guid, DateTime?> _generalCursor = [];
    private readonly HashSet<Guid> _full = []; // queues (Guid.Empty: the general one) where nobody online has room
    private readonly List<OverflowMove> _overflows = [];
    private int _next;
    private (Row Row, PlannedAssignment Step)? _pending;

    public RoutingPlanner(RoutingSnapshot snapshot, DateTimeOffset now)
    {
        _snapshot = snapshot;
        _now = now;
        _queue = snapshot.Queue
            .OrderByDescending(c => c.Priority).ThenBy(c => c.QueuedAt).ThenBy(c => c.Id)
            .Select(c => new Row(c))
            .ToList();
        _capacity = snapshot.Agents.Values.ToDictionary(a => a.Id, a => a.Capacity);
        _load = snapshot.Agents.Values.ToDictionary(a => a.Id, a => a.Load);
        _members = snapshot.Teams.Values.ToDictionary(t => t.Id, t => new Dictionary<Guid, DateTime?>(t.Members));
        Overflow();
    }

    /// <summary>Conversations that waited longer than their team allows, in queue order; apply them before the assignments.</summary>
    public IReadOnlyList<OverflowMove> Overflows => _overflows;

    /// <summary>True when an agent turned out to be full: run another pass right after this one.</summary>
    public bool Again { get; private set; }

    /// <summary>
    /// The decisions of a pass in which every assignment goes through as planned. Estimated waits use
    /// <paramref name="handleSeconds"/> per conversation (by team; null: the general queue), by default the configured default.
    /// </summary>
    public static RoutingPlan Plan(RoutingSnapshot snapshot, DateTimeOffset now, Func<Guid?, int>? handleSeconds = null)
    {
        var planner = new RoutingPlanner(snapshot, now);
        var assignments = new List<PlannedAssignment>();
        while (planner.Next() is { } step)
        {
            assignments.Add(step);
            planner.Record(step.Expected);
        }

        return new RoutingPlan(planner.Overflows, assignments, planner.Positions(handleSeconds ?? (_ => DefaultHandleSeconds)));
    }

    /// <summary>The next assignment to make, or null when the pass has nothing more to hand out.</summary>
    public PlannedAssignment? Next()
    {
        if (_pending is not null)
        {
            throw new InvalidOperationException("Record the outcome of the previous assignment first.");
        }

        while (_next < _queue.Count)
        {
            var row = _queue[_next++];
            if (row.OfferedToId is not null)
            {
                continue;
            }

            var team = TeamOf(row);
            var key = team?.Id ?? Guid.Empty;
            var strategy = team?.Strategy ?? _snapshot.Defaults.Strategy;
            if (strategy == RoutingStrategy.Manual || _full.Contains(key) || (team is not null && !team.Hours.IsOpen(_now)))
            {
                continue;
            }

            var pool = Pool(team);
            if (!pool.Any(c => c.HasRoom))
            {
                _full.Add(key);
                continue;
            }

            var candidates = pool.Where(c => !AssignmentStore.HasDeclined(row.Source.DeclinedBy, c.AgentId)).ToList();
            var sticky = team?.Sticky ?? _snapshot.Defaults.Sticky;
            Guid? preferred = sticky && _snapshot.LastAgentByContact.TryGetValue(row.Source.ContactId, out var last) ? last : null;
            if (Strategies.Choose(strategy, candidates, preferred) is not { } agentId)
            {
                continue;
            }

            var offerSeconds = team?.OfferTimeoutSeconds ?? _snapshot.Defaults.OfferTimeoutSeconds;
            var step = new PlannedAssignment(
                row.Source.Id, agentId, offerSeconds > 0 ? AssignMode.Offer : AssignMode.Route, offerSeconds,
                agentId == preferred ? AssignReason.Sticky : AssignReason.Routed);
            _pending = (row, step);
            return step;
        }

        return null;
    }

    /// <summary>What applying the assignment <see cref="Next"/> returned came to; the rest of the pass plans with it.</summary>
    public void Record(AssignOutcome outcome)
    {
        if (_pending is not { } pending)
        {
            throw new InvalidOperationException("No assignment is waiting for its outcome.");
        }

        _pending = null;
        var (row, step) = pending;
        var agentId = step.AgentId;
        switch (outcome)
        {
            case AssignOutcome.Assigned:
                _load[agentId]++;
                _generalCursor[agentId] = _now.UtcDateTime;
                if (TeamOf(row) is { } team && _members[team.Id].ContainsKey(agentId))
                {
                    _members[team.Id][agentId] = _now.UtcDateTime;
                }

                row.Outcome = RowOutcome.Assigned;
                break;
            case AssignOutcome.Offered:
                _load[agentId]++;
                row.OfferedToId = agentId;
                break;
            case AssignOutcome.AtCapacity:
                // Another node filled the agent meanwhile: count them full and look again after this pass.
                _load[agentId] = _capacity[agentId];
                Again = true;
                break;
            case AssignOutcome.AgentUnavailable:
                _capacity.Remove(agentId);
                _load[agentId] = int.MaxValue;
                break;
            default:
                // Taken by another node, or closed: it leaves the queue.
                row.Outcome = RowOutcome.Taken;
                break;
        }
    }

    /// <summary>
    /// What each waiting visitor is told after the pass: their position in their queue (1 = next) and an estimated
    /// wait from the online capacity and <paramref name="handleSeconds"/> per conversation; offered, offline (closed
    /// hours or overflowed out of the queue), or assigned elsewhere. Conversations this pass assigned are left out
    /// (their visitors learn it from the assignment).
    /// </summary>
    public IReadOnlyList<QueueStatus> Positions(Func<Guid?, int> handleSeconds)
    {
        var statuses = new List<QueueStatus>();
        var positions = new Dictionary<Guid, int>();
        foreach (var row in _queue)
        {
            if (row.Outcome == RowOutcome.Assigned)
            {
                continue;
            }

            if (row.Outcome == RowOutcome.Taken)
            {
                statuses.Add(new QueueStatus { ConversationId = row.Source.Id, State = QueueStatus.Assigned });
                continue;
            }

            var team = TeamOf(row);
            if (row.Offline || (team is not null && !team.Hours.IsOpen(_now)))
            {
                statuses.Add(new QueueStatus { ConversationId = row.Source.Id, State = QueueStatus.Offline });
            }
            else if (row.OfferedToId is not null)
            {
                statuses.Add(new QueueStatus { ConversationId = row.Source.Id, State = QueueStatus.Offered });
            }
            else
            {
                var key = team?.Id ?? Guid.Empty;
                var position = positions[key] = positions.GetValueOrDefault(key) + 1;
                var capacity = team is null
                    ? _capacity.Values.Sum()
                    : _members[team.Id].Keys.Where(_capacity.ContainsKey).Sum(id => _capacity[id]);
                statuses.Add(new QueueStatus
                {
                    ConversationId = row.Source.Id,
                    State = QueueStatus.Queued,
                    Position = position,
                    EstimatedWaitSeconds = capacity > 0 ? (int)Math.Ceiling((double)position * handleSeconds(team?.Id) / capacity) : null,
                });
            }
        }

        return statuses;
    }

    private void Overflow()
    {
        var now = _now.UtcDateTime;
        foreach (var row in _queue)
        {
            if (row.OfferedToId is not null || row.TeamId is not { } teamId || !_snapshot.Teams.TryGetValue(teamId, out var team)
                || team.OverflowAfterMinutes is not { } minutes || row.RoutedAt.AddMinutes(minutes) > now)
            {
                continue;
            }

            var to = team.OverflowTeamId is { } target && _snapshot.Teams.ContainsKey(target) ? target : (Guid?)null;
            _overflows.Add(new OverflowMove(row.Source.Id, teamId, to));
            row.TeamId = to;
            row.Offline = to is null;
            row.RoutedAt = now;
        }
    }

    private RoutingTeam? TeamOf(Row row) => row.TeamId is { } id ? _snapshot.Teams.GetValueOrDefault(id) : null;

    private List<Candidate> Pool(RoutingTeam? team) => team is null
        ? _capacity.Keys.Select(id => new Candidate(id, _load[id], _capacity[id], _generalCursor.GetValueOrDefault(id))).ToList()
        : _members[team.Id].Where(m => _capacity.ContainsKey(m.Key)).Select(m => new Candidate(m.Key, _load[m.Key], _capacity[m.Key], m.Value)).ToList();

    private enum RowOutcome
    {
        Waiting,
        Assigned,
        Taken,
    }

    /// <summary>A waiting conversation and what this pass has done to it so far.</summary>
    private sealed class Row(WaitingConversation source)
    {
        public WaitingConversation Source { get; } = source;

        public Guid? TeamId { get; set; } = source.TeamId;

        public DateTime RoutedAt { get; set; } = source.RoutedAt;

        public Guid? OfferedToId { get; set; } = source.OfferedToId;

        public bool Offline { get; set; }

        public RowOutcome Outcome { get; set; }
    }
}
