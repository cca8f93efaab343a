using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;
using System.Threading.Channels;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Protocol;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Parley.Data;
using Parley.Server.Events;
using Parley.Server.Features.Access;
using Parley.Server.Messaging;
using Parley.Server.Realtime;
using Parley.Server.Realtime.Presence;
using Parley.Server.Routing;
using Parley.Server.ScaleOut;

namespace Parley.Server.Features.Supervision;

/// <summary>
/// Another node saw something change that live views show (cluster bus topic <c>live</c>): the conversations that
/// changed, those an agent wrote in (maybe a first reply), whether users or teams changed; <see cref="Everything"/>
/// when it could not keep the list (the receiver then reads everything again).
/// </summary>
public sealed record LiveViewPing(Guid NodeId)
{
    public IReadOnlyList<Guid> Changed { get; init; } = [];

    public IReadOnlyList<Guid> Replied { get; init; } = [];

    /// <summary>Too many conversations were replied in to list: every unanswered one may have been.</summary>
    public bool RepliedOverflow { get; init; }

    public bool Everything { get; init; }

    public bool Directory { get; init; }
}

/// <summary>
/// Computes the live view and pushes it to this node's subscribed supervisors. Nothing is computed per message:
/// the domain events that can change what the view shows (a conversation created, queued, assigned, closed or
/// moved; an offer; presence; an agent's visible message in a conversation not answered yet) only note the
/// conversation's id and raise a flag. A loop then, at most once per <see cref="LiveViewOptions.MinIntervalMs"/>,
/// reads back only the noted rows into memory (<see cref="LiveViewMemory"/>: the open conversations' live fields and
/// the directory, read whole when someone starts watching and every <see cref="LiveViewOptions.ReloadSeconds"/>),
/// builds each subscriber's view of their departments from memory and pushes it only when it differs from what that
/// subscriber last got. It also wakes when the next conversation crosses its first-response target and every
/// <see cref="LiveViewOptions.RefreshSeconds"/>. With several nodes, a node that saw a change tells the others on the
/// cluster bus which conversations changed (one ping per interval), so a supervisor on any node sees changes made on
/// any node; the rows themselves come from the shared database.
/// </summary>
internal sealed partial class LiveViewService(
    IServiceScopeFactory scopes,
    ConnectionRegistry registry,
    AccessDirectory access,
    IAgentPresence presence,
    IClusterBus bus,
    TimeProvider time,
    IOptions<LiveViewOptions> options,
    IOptions<RoutingOptions> routing,
    ILogger<LiveViewService> logger)
    : BackgroundService,
      IDomainEventListener<ConversationChanged>,
      IDomainEventListener<ConversationQueued>,
      IDomainEventListener<ConversationAssigned>,
      IDomainEventListener<ConversationOffered>,
      IDomainEventListener<OfferWithdrawn>,
      IDomainEventListener<AgentPresenceChanged>,
      IDomainEventListener<MessageCommitted>
{
    public const string LiveEvent = "live";
    public const string Topic = "live";

    // Ids one ping carries at most; past them it says "everything" (changed) or "every unanswered one" (replied).
    private const int ChangedLimit = 1000;
    private const int RepliedLimit = 4000;

    private const int QueueLimit = 200;
    private const int BreachLimit = 100;

    // The connection's state slot for the live view: a newer snapshot replaces one not yet sent.
    private static readonly Guid StateKey = new("5a1e0000-0000-4000-8000-00000000f1e0");
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private readonly Channel<bool> _wake = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });
    private readonly ConcurrentDictionary<string, Subscriber> _subscribers = new(StringComparer.Ordinal);
    private readonly LiveViewMemory _memory = new();
    private readonly SemaphoreSlim _gate = new(1, 1);

    // What the next ping tells the other nodes (only when clustered); past the limits it says "everything".
    private readonly ConcurrentDictionary<Guid, byte> _pingChanged = new();
    private readonly ConcurrentDictionary<Guid, byte> _pingReplied = new();
    private int _pingEverything;
    private int _pingRepliedOverflow;
    private long _pingedDirectoryVersion;
    private long _remoteDirectoryChanges;
    private int _dirty;
    private int _pingDue;
    private long _version;
    private long _nextBreachTicks; // 0: none pending

    private long _computations;
    private long _computeTicks;

    /// <summary>Snapshots computed and their total time, for the cost measurement (docs/benchmarks.md).</summary>
    public (long Count, TimeSpan Elapsed) Computations => (Interlocked.Read(ref _computations), TimeSpan.FromTicks(Interlocked.Read(ref _computeTicks)));

    public int SubscriberCount => _subscribers.Count;

    internal LiveViewMemory Memory => _memory;

    public void Handle(ConversationChanged domainEvent) => Changed(domainEvent.Conversation.Id);

    public void Handle(ConversationQueued domainEvent) => Changed(domainEvent.ConversationId);

    public void Handle(ConversationAssigned domainEvent) => Changed(domainEvent.ConversationId);

    public void Handle(ConversationOffered domainEvent) => Changed(domainEvent.ConversationId);

    public void Handle(OfferWithdrawn domainEvent) => Changed(domainEvent.ConversationId);

    // Presence is read whole (from the presence store) with every snapshot.
    public void Handle(AgentPresenceChanged domainEvent) => Flag();

    /// <summary>
    /// Only an agent's visible message in a conversation not answered yet can change the view (the first reply ends
    /// a breach); one already answered costs a dictionary look-up.
    /// </summary>
    public void Handle(MessageCommitted domainEvent)
    {
        if (domainEvent.Message.SenderKind != SenderKind.Agent || domainEvent.Message.Kind == MessageKind.Note)
        {
            return;
        }

        var id = domainEvent.Message.ConversationId;
        if (_memory.AwaitsFirstReply(id))
        {
            _memory.Touch(id);
            Flag();
        }
        else if (_memory.IsLoaded && _memory.Knows(id))
        {
            return; // answered before: nobody's view changes
        }

        if (bus.IsClustered)
        {
            Note(_pingReplied, id, RepliedLimit, ref _pingRepliedOverflow);
            Volatile.Write(ref _pingDue, 1);
        }
    }

    /// <summary>
    /// Subscribes the caller's connection (supervisors and admins; <see cref="AccessPolicy.RequireSupervisorAsync"/>)
    /// and answers the current view of their departments; later changes arrive as <c>live</c> events.
    /// </summary>
    public async Task<LiveViewDto> SubscribeAsync(AccessPolicy policy, Actor actor, string connectionId, CancellationToken cancellationToken)
    {
        var scope = await policy.RequireSupervisorAsync(actor, cancellationToken);
        var snapshot = await ComputeAsync(cancellationToken);
        var view = snapshot.For(scope);
        _subscribers[connectionId] = new Subscriber(connectionId, actor.PrincipalId) { Last = Fingerprint(view) };
        return view with { Version = snapshot.Version };
    }

    public void Unsubscribe(string connectionId) => _subscribers.TryRemove(connectionId, out _);

    public override Task StartAsync(CancellationToken cancellationToken)
    {
        bus.Subscribe<LiveViewPing>(Topic, Received);

        // Pings published while the link was down may be lost: read everything again.
        bus.Restored += _ =>
        {
            _memory.ReloadAll();
            Wake();
        };
        return base.StartAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var o = options.Value;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                var wait = TimeSpan.FromSeconds(o.RefreshSeconds);
                if (Interlocked.Read(ref _nextBreachTicks) is var next and > 0)
                {
                    var untilBreach = new DateTime(next, DateTimeKind.Utc) - time.GetUtcNow().UtcDateTime;
                    wait = untilBreach < wait ? (untilBreach > TimeSpan.Zero ? untilBreach : TimeSpan.Zero) : wait;
                }

                using (var waiting = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken))
                {
                    var delay = Task.Delay(wait, time, waiting.Token);
                    var woken = _wake.Reader.WaitToReadAsync(waiting.Token).AsTask();
                    await Task.WhenAny(delay, woken);
                    await waiting.CancelAsync();
                    _wake.Reader.TryRead(out _);
                }

                stoppingToken.ThrowIfCancellationRequested();
                Interlocked.Exchange(ref _dirty, 0);
                if (Interlocked.Exchange(ref _pingDue, 0) == 1 || (bus.IsClustered && access.Version != Interlocked.Read(ref _pingedDirectoryVersion)))
                {
                    Ping();
                }

                if (!_subscribers.IsEmpty)
                {
                    await PushAsync(stoppingToken);
                }
                else
                {
                    Interlocked.Exchange(ref _nextBreachTicks, 0);
                    if (_memory.IsLoaded)
                    {
                        await _gate.WaitAsync(stoppingToken);
                        try
                        {
                            if (_subscribers.IsEmpty)
                            {
                                _memory.Unload();
                            }
                        }
                        finally
                        {
                            _gate.Release();
                        }
                    }
                }

                // At most one snapshot (and one ping) per interval, however busy the node is.
                await Task.Delay(TimeSpan.FromMilliseconds(o.MinIntervalMs), time, stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                LogPushFailed(logger, ex);
                try
                {
                    await Task.Delay(TimeSpan.FromSeconds(1), time, stoppingToken);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    private void Changed(Guid conversationId)
    {
        _memory.Touch(conversationId);
        if (bus.IsClustered)
        {
            Note(_pingChanged, conversationId, ChangedLimit, ref _pingEverything);
            Volatile.Write(ref _pingDue, 1);
        }

        Flag();
    }

    private static void Note(ConcurrentDictionary<Guid, byte> ids, Guid id, int limit, ref int overflow)
    {
        if (Volatile.Read(ref overflow) == 1)
        {
            return;
        }

        if (ids.Count >= limit)
        {
            Volatile.Write(ref overflow, 1);
            return;
        }

        ids.TryAdd(id, 0);
    }

    // One wake-up per interval, whatever the rate of events (a flag write, not a channel write, per event).
    private void Flag()
    {
        if (Interlocked.Exchange(ref _dirty, 1) == 0)
        {
            _wake.Writer.TryWrite(true);
        }
    }

    private void Wake() => _wake.Writer.TryWrite(true);

    private void Ping()
    {
        var directory = access.Version;
        var ping = new LiveViewPing(bus.NodeId)
        {
            Everything = Interlocked.Exchange(ref _pingEverything, 0) == 1,
            RepliedOverflow = Interlocked.Exchange(ref _pingRepliedOverflow, 0) == 1,
            Changed = Drain(_pingChanged),
            Replied = Drain(_pingReplied),
            Directory = Interlocked.Exchange(ref _pingedDirectoryVersion, directory) != directory,
        };
        bus.Publish(Topic, ping);
    }

    private static List<Guid> Drain(ConcurrentDictionary<Guid, byte> ids)
    {
        var list = new List<Guid>(ids.Count);
        foreach (var id in ids.Keys)
        {
            if (ids.TryRemove(id, out _))
            {
                list.Add(id);
            }
        }

        return list;
    }

    /// <summary>Another node's ping: note what it names (only what this node's memory cannot rule out), then wake.</summary>
    private void Received(LiveViewPing ping)
    {
        if (ping.Everything)
        {
            _memory.ReloadAll();
        }

        foreach (var id in ping.Changed)
        {
            _memory.Touch(id);
        }

        if (ping.RepliedOverflow)
        {
            _memory.TouchUnanswered();
        }

        foreach (var id in ping.Replied)
        {
            if (_memory.AwaitsFirstReply(id))
            {
                _memory.Touch(id);
            }
        }

        if (ping.Directory)
        {
            Interlocked.Increment(ref _remoteDirectoryChanges);
        }

        Wake();
    }

    private async Task PushAsync(CancellationToken cancellationToken)
    {
        var snapshot = await ComputeAsync(cancellationToken);
        var views = new Dictionary<Guid, (LiveViewDto View, string Fingerprint)>();
        foreach (var subscriber in _subscribers.Values)
        {
            if (registry.Find(subscriber.ConnectionId) is not { } connection)
            {
                _subscribers.TryRemove(subscriber.ConnectionId, out _);
                continue;
            }

            if (!views.TryGetValue(subscriber.UserId, out var view))
            {
                // A user demoted or deactivated since subscribing stops receiving (fail closed).
                var scope = await access.GetAsync(subscriber.UserId, cancellationToken);
                if (scope is null || !scope.IsSupervisor)
                {
                    _subscribers.TryRemove(subscriber.ConnectionId, out _);
                    continue;
                }

                var v = snapshot.For(scope);
                view = (v with { Version = snapshot.Version }, Fingerprint(v));
                views[subscriber.UserId] = view;
            }

            if (!string.Equals(subscriber.Last, view.Fingerprint, StringComparison.Ordinal))
            {
                subscriber.Last = view.Fingerprint;
                connection.EnqueueState(StateKey, new SerializedHubMessage(new InvocationMessage(LiveEvent, [view.View])));
            }
        }
    }

    /// <summary>
    /// The live state: memory brought up to date (the rows events named since the last time, or everything when it
    /// is first watched or the safety reload is due), presence, then one pass over memory.
    /// </summary>
    internal async Task<Snapshot> ComputeAsync(CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            var started = Stopwatch.GetTimestamp();
            var now = time.GetUtcNow().UtcDateTime;
            var reloadDue = _memory.IsLoaded && now - _memory.LoadedAt >= TimeSpan.FromSeconds(options.Value.ReloadSeconds);
            var directoryVersion = access.Version + Interlocked.Read(ref _remoteDirectoryChanges);
            if (_memory.NeedsDatabase(reloadDue, directoryVersion))
            {
                await using var scope = scopes.CreateAsyncScope();
                var db = scope.ServiceProvider.GetRequiredService<ParleyDbContext>();
                await _memory.RefreshAsync(db, now, reloadDue, directoryVersion, cancellationToken);
            }

            var present = await presence.GetPresentAsync(cancellationToken);
            var snapshot = Snapshot.Build(
                now, _memory.Teams, _memory.Users, _memory.Members, _memory.Open, present, routing.Value.FirstResponseTargetSeconds, Interlocked.Increment(ref _version));
            Interlocked.Exchange(ref _nextBreachTicks, snapshot.NextBreach?.Ticks ?? 0);
            Interlocked.Increment(ref _computations);
            Interlocked.Add(ref _computeTicks, Stopwatch.GetElapsedTime(started).Ticks);
            return snapshot;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>The same state read whole from the database, as every snapshot did before memory (tests compare).</summary>
    internal async Task<Snapshot> ComputeFromDatabaseAsync(CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ParleyDbContext>();
        var (teams, users, members) = await LiveViewMemory.ReadDirectoryAsync(db, cancellationToken);
        var open = await LiveViewMemory.ReadOpenAsync(db, cancellationToken);
        var present = await presence.GetPresentAsync(cancellationToken);
        return Snapshot.Build(time.GetUtcNow().UtcDateTime, teams, users, members, open, present, routing.Value.FirstResponseTargetSeconds, 0);
    }

    /// <summary>What a snapshot shows a scope, without its version: equal views have equal fingerprints.</summary>
    internal static string Fingerprint(LiveViewDto view) => JsonSerializer.Serialize(view with { Version = 0 }, Json);

    internal sealed record TeamRow(Guid Id, string Name, int? FirstResponseTargetSeconds);

    internal sealed record UserRow(Guid Id, string DisplayName, int Capacity);

    internal sealed record OpenRow(
        Guid Id, Guid? TeamId, Guid? AssigneeId, Guid? OfferedToId, DateTime? QueuedAt, int Priority, bool BotActive, bool IsOpen, DateTime CreatedAt,
        DateTime? FirstResponseAt, DateTime? FirstQueuedAt, DateTime? FirstAssignedAt);

    /// <summary>Everything the view shows, for every department; <see cref="For"/> cuts one supervisor's part.</summary>
    internal sealed class Snapshot
    {
        public long Version { get; private init; }

        public DateTime? NextBreach { get; private init; }

        private List<TeamRow> _teams = [];
        private int _defaultTarget;
        private Dictionary<Guid, DeptCounts> _counts = [];
        private DeptCounts _general = new();
        private List<LiveAgentDto> _agents = [];
        private List<LiveQueueEntryDto> _queue = [];
        private List<LiveBreachDto> _breaches = [];

        public static Snapshot Build(
            DateTime now, List<TeamRow> teams, List<UserRow> users, ILookup<Guid, Guid> members, IEnumerable<OpenRow> open,
            IReadOnlyDictionary<Guid, AgentStatus> present, int defaultTarget, long version)
        {
            var targets = teams.ToDictionary(t => t.Id, t => t.FirstResponseTargetSeconds ?? defaultTarget);
            var counts = teams.ToDictionary(t => t.Id, _ => new DeptCounts());
            var general = new DeptCounts();
            var load = new Dictionary<Guid, int>();
            var queue = new List<LiveQueueEntryDto>();
            var breaches = new List<LiveBreachDto>();
            DateTime? nextBreach = null;
            foreach (var c in open)
            {
                // A conversation of a team deleted meanwhile counts in the general queue, as routing treats it.
                var team = c.TeamId is { } t && counts.ContainsKey(t) ? t : (Guid?)null;
                var dept = team is { } id ? counts[id] : general;
                if ((c.AssigneeId ?? c.OfferedToId) is { } holder)
                {
                    load[holder] = load.GetValueOrDefault(holder) + 1;
                }

                if (c.AssigneeId is not null)
                {
                    dept.InProgress++;
                }
                else if (c.QueuedAt is { } queuedAt)
                {
                    dept.Waiting++;
                    dept.OldestQueuedAt = dept.OldestQueuedAt is { } oldest && oldest <= queuedAt ? oldest : queuedAt;
                    queue.Add(new LiveQueueEntryDto { ConversationId = c.Id, TeamId = team, Priority = c.Priority, QueuedAt = queuedAt, OfferedToId = c.OfferedToId });
                }

                // First-response SLA: an open conversation a person should answer (queued or assigned, the bot is not
                // on it) that no agent has answered yet.
                if (c.IsOpen && !c.BotActive && c.FirstResponseAt is null && (c.QueuedAt is not null || c.AssigneeId is not null))
                {
                    var since = c.FirstQueuedAt ?? c.QueuedAt ?? c.FirstAssignedAt ?? c.CreatedAt;
                    var target = team is { } tid ? targets[tid] : defaultTarget;
                    var due = since.AddSeconds(target);
                    if (due <= now)
                    {
                        dept.SlaBreaches++;
                        breaches.Add(new LiveBreachDto { ConversationId = c.Id, TeamId = team, AssigneeId = c.AssigneeId, WaitingSince = since, TargetSeconds = target });
                    }
                    else if (nextBreach is null || due < nextBreach)
                    {
                        nextBreach = due;
                    }
                }
            }

            var agents = users.ConvertAll(u =>
            {
                var status = present.GetValueOrDefault(u.Id, AgentStatus.Offline);
                var held = load.GetValueOrDefault(u.Id);
                return new LiveAgentDto
                {
                    Id = u.Id,
                    DisplayName = u.DisplayName,
                    Status = status switch
                    {
                        AgentStatus.Online when held >= u.Capacity => "busy",
                        AgentStatus.Online => "online",
                        AgentStatus.Away => "away",
                        _ => "offline",
                    },
                    Load = held,
                    Capacity = u.Capacity,
                    TeamIds = [.. members[u.Id]],
                };
            });

            // Service order: priority lane, then arrival; breaches longest waiting first (ids break ties: stable views).
            queue.Sort(static (a, b) => b.Priority != a.Priority ? b.Priority.CompareTo(a.Priority)
                : a.QueuedAt != b.QueuedAt ? a.QueuedAt.CompareTo(b.QueuedAt) : a.ConversationId.CompareTo(b.ConversationId));
            breaches.Sort(static (a, b) => a.WaitingSince != b.WaitingSince ? a.WaitingSince.CompareTo(b.WaitingSince) : a.ConversationId.CompareTo(b.ConversationId));
            return new Snapshot
            {
                Version = version,
                NextBreach = nextBreach,
                _teams = teams,
                _defaultTarget = defaultTarget,
                _counts = counts,
                _general = general,
                _agents = agents,
                _queue = queue,
                _breaches = breaches,
            };
        }

        /// <summary>
        /// The part of the view a supervisor may see (<see cref="AccessScope.SeesDepartment"/>): his departments (and the
        /// general queue while unteamed conversations are visible to everyone), their conversations, and the agents who
        /// are members of them. An admin or a user granted all departments sees everything.
        /// </summary>
        public LiveViewDto For(AccessScope scope)
        {
            var departments = new List<LiveDepartmentDto>();
            if (scope.SeesDepartment(null))
            {
                departments.Add(_general.ToDto(null, null, _defaultTarget));
            }

            foreach (var team in _teams.Where(t => scope.SeesDepartment(t.Id)))
            {
                departments.Add(_counts[team.Id].ToDto(team.Id, team.Name, team.FirstResponseTargetSeconds ?? _defaultTarget));
            }

            return new LiveViewDto
            {
                Departments = departments,
                Agents = scope.SeesAllDepartments ? _agents : [.. _agents.Where(a => a.Id == scope.UserId || a.TeamIds.Any(t => scope.SeesDepartment(t)))],
                Queue = [.. _queue.Where(q => scope.SeesDepartment(q.TeamId)).Take(QueueLimit)],
                Breaches = [.. _breaches.Where(b => scope.SeesDepartment(b.TeamId)).Take(BreachLimit)],
            };
        }
    }

    private sealed class DeptCounts
    {
        public int Waiting { get; set; }

        public DateTime? OldestQueuedAt { get; set; }

        public int InProgress { get; set; }

        public int SlaBreaches { get; set; }

        public LiveDepartmentDto ToDto(Guid? teamId, string? name, int target) => new()
        {
            TeamId = teamId,
            Name = name,
            Waiting = Waiting,
            OldestQueuedAt = OldestQueuedAt,
            InProgress = InProgress,
            SlaBreaches = SlaBreaches,
            FirstResponseTargetSeconds = target,
        };
    }

    private sealed class Subscriber(string connectionId, Guid userId)
    {
        public string ConnectionId { get; } = connectionId;

        public Guid UserId { get; } = userId;

        public string? Last { get; set; }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Live view update failed; the next change or refresh retries")]
    private static partial void LogPushFailed(ILogger logger, Exception exception);
}
