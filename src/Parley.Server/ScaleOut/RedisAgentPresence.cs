using Microsoft.Extensions.Options;
using Parley.Server.Events;
using Parley.Server.Infrastructure;
using Parley.Server.Realtime.Presence;
using StackExchange.Redis;

namespace Parley.Server.ScaleOut;

/// <summary>
/// Agent presence shared by every node through Redis, so routing on any node sees agents connected to any node.
/// <para>
/// Each node owns one hash (agent id → its connections there) that it rewrites on every change and every
/// heartbeat, with an expiry in a sorted set of nodes: a killed node stops refreshing, and once its expiry
/// passes its agents count as gone since then (away for the grace period, then offline), exactly as if their
/// connections had dropped. An agent's own choice (online/away) is one shared hash; the moment an agent's last
/// connection on a node closed is another, for the grace period.
/// </para>
/// <para>
/// Every node derives everyone's effective status from that state (on each change it hears of through the
/// cluster bus, on its heartbeat, and when routing asks) and raises <see cref="AgentPresenceChanged"/> for the
/// changes it sees, so each node's routing engine wakes. While Redis is unreachable a node keeps what it last
/// read about the other nodes (their agents are not treated as gone) and applies its own agents' changes.
/// </para>
/// </summary>
internal sealed partial class RedisAgentPresence : IAgentPresence, IHostedService, IDisposable
{
    public const string Topic = "presence";

    private readonly IConnectionMultiplexer _redis;
    private readonly IClusterBus _bus;
    private readonly DomainEvents _events;
    private readonly TimeProvider _time;
    private readonly RedisOptions _redisOptions;
    private readonly IOptions<PresenceOptions> _presenceOptions;
    private readonly ILogger<RedisAgentPresence> _logger;
    private readonly RedisKey _nodesKey;
    private readonly RedisKey _nodeKey;
    private readonly RedisKey _chosenKey;
    private readonly RedisKey _leftKey;
    private readonly string _nodeMember;
    private readonly Lock _gate = new();
    private readonly Dictionary<Guid, LocalAgent> _local = [];
    private readonly Dictionary<Guid, long> _localLeft = [];
    private readonly SemaphoreSlim _refreshGate = new(1, 1);
    private Dictionary<Guid, AgentStatus> _snapshot = [];
    private SharedState? _lastRead;
    private ITimer? _heartbeat;
    private int _failures;
    private volatile bool _disposed;

    public RedisAgentPresence(
        IConnectionMultiplexer redis,
        IClusterBus bus,
        DomainEvents events,
        TimeProvider time,
        IOptions<RedisOptions> redisOptions,
        IOptions<PresenceOptions> presenceOptions,
        ILogger<RedisAgentPresence> logger)
    {
        _redis = redis;
        _bus = bus;
        _events = events;
        _time = time;
        _redisOptions = redisOptions.Value;
        _presenceOptions = presenceOptions;
        _logger = logger;
        var prefix = _redisOptions.Prefix;
        _nodeMember = bus.NodeId.ToString("N");
        _nodesKey = $"{prefix}:presence:nodes";
        _nodeKey = $"{prefix}:presence:node:{_nodeMember}";
        _chosenKey = $"{prefix}:presence:chosen";
        _leftKey = $"{prefix}:presence:left";
    }

    private long GraceMs => (long)(_presenceOptions.Value.OfflineGraceSeconds * 1000);

    public async Task ConnectedAsync(Guid agentId, string connectionId, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            if (!_local.TryGetValue(agentId, out var agent))
            {
                agent = new LocalAgent();
                _local[agentId] = agent;
            }

            agent.Connections.Add(connectionId);
            _localLeft.Remove(agentId);
        }

        await WriteAndRefreshAsync(left: null);
    }

    public async Task DisconnectedAsync(Guid agentId, string connectionId, CancellationToken cancellationToken = default)
    {
        Guid? left = null;
        lock (_gate)
        {
            if (_local.TryGetValue(agentId, out var agent) && agent.Connections.Remove(connectionId) && agent.Connections.Count == 0)
            {
                _local.Remove(agentId);
                _localLeft[agentId] = NowMs();
                left = agentId;
            }
        }

        await WriteAndRefreshAsync(left);
    }

    public async Task SetStatusAsync(Guid agentId, AgentStatus status, CancellationToken cancellationToken = default)
    {
        if (status == AgentStatus.Offline)
        {
            throw new ParleyException(ErrorCatalogue.InvalidStatus, "An agent can choose 'online' or 'away'; offline follows from disconnecting.");
        }

        lock (_gate)
        {
            if (!_local.TryGetValue(agentId, out var agent))
            {
                throw new ParleyException(ErrorCatalogue.NotConnected, "Connect to the agent hub before setting a status.");
            }

            agent.Chosen = status;
        }

        try
        {
            EnsureConnected();
            await _redis.GetDatabase().HashSetAsync(_chosenKey, agentId.ToString("N"), Name(status));
        }
        catch (Exception ex) when (IsRedisFailure(ex))
        {
            NoteFailure(ex);
        }

        await RefreshAsync(notify: true);
    }

    public async Task<AgentStatus> GetStatusAsync(Guid agentId, CancellationToken cancellationToken = default) =>
        (await RefreshAsync(notify: false)).GetValueOrDefault(agentId, AgentStatus.Offline);

    public async Task<IReadOnlyDictionary<Guid, AgentStatus>> GetPresentAsync(CancellationToken cancellationToken = default) =>
        await RefreshAsync(notify: false);

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _bus.Subscribe<PresencePing>(Topic, ping => _ = RefreshQuietlyAsync());
        var period = TimeSpan.FromSeconds(_redisOptions.HeartbeatSeconds);
        _heartbeat = _time.CreateTimer(_ => _ = HeartbeatAsync(), null, period, period);
        return Task.CompletedTask;
    }

    /// <summary>A node stopping on purpose removes itself at once: its agents are away from now (they reconnect elsewhere).</summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        _heartbeat?.Dispose();
        List<Guid> agents;
        lock (_gate)
        {
            agents = [.. _local.Keys];
        }

        try
        {
            var db = _redis.GetDatabase();
            var now = NowMs();
            var transaction = db.CreateTransaction();
            _ = transaction.HashSetAsync(_leftKey, agents.Select(a => new HashEntry(a.ToString("N"), now)).ToArray());
            _ = transaction.KeyDeleteAsync(_nodeKey);
            _ = transaction.SortedSetRemoveAsync(_nodesKey, _nodeMember);
            await transaction.ExecuteAsync().WaitAsync(TimeSpan.FromSeconds(2), cancellationToken);
            _bus.Publish(Topic, new PresencePing(_bus.NodeId));
        }
        catch (Exception ex) when (IsRedisFailure(ex) || ex is OperationCanceledException)
        {
            // Then the node's entry expires like a killed node's.
        }
    }

    public void Dispose()
    {
        _disposed = true;
        _heartbeat?.Dispose();
        _refreshGate.Dispose();
    }

    private async Task RefreshQuietlyAsync()
    {
        if (_disposed)
        {
            return;
        }

        try
        {
            await RefreshAsync(notify: false);
        }
        catch (ObjectDisposedException) when (_disposed)
        {
            // Shutting down.
        }
        catch (Exception ex)
        {
            LogRefreshFailed(_logger, ex);
        }
    }

    private async Task HeartbeatAsync()
    {
        try
        {
            await WriteNodeAsync(left: null);
            var db = _redis.GetDatabase();

            // Nodes gone for longer than any grace period: nothing left to learn from them.
            await db.SortedSetRemoveRangeByScoreAsync(_nodesKey, double.NegativeInfinity, NowMs() - GraceMs - 60_000);
        }
        catch (Exception ex) when (IsRedisFailure(ex))
        {
            NoteFailure(ex);
        }

        await RefreshQuietlyAsync();
    }

    private async Task WriteAndRefreshAsync(Guid? left)
    {
        try
        {
            await WriteNodeAsync(left);
        }
        catch (Exception ex) when (IsRedisFailure(ex))
        {
            NoteFailure(ex);
        }

        await RefreshAsync(notify: true);
    }

    /// <summary>Rewrites this node's entry from its own state: idempotent, and it repopulates a Redis that restarted empty.</summary>
    private async Task WriteNodeAsync(Guid? left)
    {
        HashEntry[] connections;
        HashEntry[] chosen;
        lock (_gate)
        {
            connections = _local.Select(a => new HashEntry(a.Key.ToString("N"), a.Value.Connections.Count)).ToArray();
            chosen = _local.Where(a => a.Value.Chosen is not null).Select(a => new HashEntry(a.Key.ToString("N"), Name(a.Value.Chosen!.Value))).ToArray();
        }

        EnsureConnected();
        var now = NowMs();
        var expires = now + (_redisOptions.NodeTimeoutSeconds * 1000L);
        var db = _redis.GetDatabase();
        var transaction = db.CreateTransaction();
        _ = transaction.KeyDeleteAsync(_nodeKey);
        if (connections.Length > 0)
        {
            _ = transaction.HashSetAsync(_nodeKey, connections);
        }

        _ = transaction.KeyExpireAsync(_nodeKey, TimeSpan.FromMilliseconds(expires - now + GraceMs + 60_000));
        _ = transaction.SortedSetAddAsync(_nodesKey, _nodeMember, expires);
        if (left is { } agent)
        {
            _ = transaction.HashSetAsync(_leftKey, agent.ToString("N"), now);
        }

        await transaction.ExecuteAsync();

        // A choice made on this node while Redis was unreachable (or lost with a Redis restart) is not lost;
        // one made since on another node wins (HSETNX).
        foreach (var entry in chosen)
        {
            await db.HashSetAsync(_chosenKey, entry.Name, entry.Value, When.NotExists);
        }
    }

    /// <summary>
    /// Reads the shared state (or, when Redis is unreachable, uses what was last read), derives every agent's
    /// status, raises the changes, and returns the agents who are not offline.
    /// </summary>
    private async Task<Dictionary<Guid, AgentStatus>> RefreshAsync(bool notify)
    {
        Dictionary<Guid, AgentStatus> current;
        List<AgentPresenceChanged> changes = [];
        await _refreshGate.WaitAsync();
        try
        {
            // Read under the gate too: a slower, older read must not overwrite a newer one.
            var shared = await ReadAsync();
            current = Derive(shared ?? _lastRead, reachable: shared is not null);
            if (shared is not null)
            {
                _lastRead = shared;
            }

            foreach (var (agent, status) in current)
            {
                var previous = _snapshot.GetValueOrDefault(agent, AgentStatus.Offline);
                if (previous != status)
                {
                    changes.Add(new AgentPresenceChanged(agent, status, previous));
                }
            }

            foreach (var (agent, previous) in _snapshot)
            {
                if (!current.ContainsKey(agent))
                {
                    changes.Add(new AgentPresenceChanged(agent, AgentStatus.Offline, previous));
                }
            }

            _snapshot = current;
        }
        finally
        {
            _refreshGate.Release();
        }

        // Raised outside the gate: listeners may ask presence again.
        foreach (var change in changes)
        {
            _events.Publish(change);
        }

        if (notify)
        {
            _bus.Publish(Topic, new PresencePing(_bus.NodeId));
        }

        return current;
    }

    private async Task<SharedState?> ReadAsync()
    {
        try
        {
            EnsureConnected();
            var db = _redis.GetDatabase();
            var now = NowMs();
            var nodes = await db.SortedSetRangeByScoreWithScoresAsync(_nodesKey, now - GraceMs, double.PositiveInfinity);
            var batch = db.CreateBatch();
            var chosenTask = batch.HashGetAllAsync(_chosenKey);
            var leftTask = batch.HashGetAllAsync(_leftKey);
            var nodeTasks = nodes.Where(n => n.Element != _nodeMember).Select(n => (Expires: (long)n.Score, Entries: batch.HashGetAllAsync($"{_redisOptions.Prefix}:presence:node:{n.Element}"))).ToList();
            batch.Execute();
            await Task.WhenAll(nodeTasks.Select(n => n.Entries).Append(chosenTask).Append(leftTask));
            var remote = nodeTasks.Select(n => new RemoteNode(n.Expires, n.Entries.Result.Where(e => (int)e.Value > 0).Select(e => Parse(e.Name)).OfType<Guid>().ToList())).ToList();
            var chosen = chosenTask.Result.Select(e => (Agent: Parse(e.Name), Status: ParseStatus(e.Value))).Where(e => e.Agent is not null && e.Status is not null).ToDictionary(e => e.Agent!.Value, e => e.Status!.Value);
            var left = leftTask.Result.Select(e => (Agent: Parse(e.Name), At: (long)e.Value)).Where(e => e.Agent is not null && e.At > now - GraceMs).ToDictionary(e => e.Agent!.Value, e => e.At);
            if (Interlocked.Exchange(ref _failures, 0) > 0)
            {
                LogReachableAgain(_logger);
            }

            return new SharedState(remote, chosen, left);
        }
        catch (Exception ex) when (IsRedisFailure(ex))
        {
            NoteFailure(ex);
            return null;
        }
    }

    /// <summary>Effective statuses: this node's own agents from memory, the others' from the shared state.</summary>
    private Dictionary<Guid, AgentStatus> Derive(SharedState? shared, bool reachable)
    {
        var now = NowMs();
        var grace = GraceMs;
        var result = new Dictionary<Guid, AgentStatus>();
        var gone = new Dictionary<Guid, long>();
        var chosen = shared?.Chosen ?? [];
        lock (_gate)
        {
            foreach (var (agent, local) in _local)
            {
                // The shared choice is the latest, wherever it was made; this node's own only stands in while
                // Redis is unreachable (or lost it by restarting empty, until the heartbeat writes it back).
                result[agent] = reachable && chosen.TryGetValue(agent, out var choice) ? choice : local.Chosen ?? AgentStatus.Online;
            }

            foreach (var (agent, at) in _localLeft.ToList())
            {
                if (now - at < grace)
                {
                    gone[agent] = at;
                }
                else
                {
                    _localLeft.Remove(agent);
                }
            }
        }

        foreach (var node in shared?.Nodes ?? [])
        {
            // Unreachable Redis: the other nodes' entries are as last read, and not expiring (we cannot tell).
            var alive = !reachable || node.Expires >= now;
            foreach (var agent in node.Agents)
            {
                if (alive)
                {
                    if (!result.ContainsKey(agent))
                    {
                        result[agent] = chosen.GetValueOrDefault(agent, AgentStatus.Online);
                    }
                }
                else
                {
                    gone[agent] = Math.Max(gone.GetValueOrDefault(agent), node.Expires);
                }
            }
        }

        foreach (var (agent, at) in shared?.Left ?? [])
        {
            gone[agent] = Math.Max(gone.GetValueOrDefault(agent), at);
        }

        foreach (var (agent, at) in gone)
        {
            if (!result.ContainsKey(agent) && now - at < grace)
            {
                result[agent] = AgentStatus.Away;
            }
        }

        return result;
    }

    private void NoteFailure(Exception ex)
    {
        if (Interlocked.Increment(ref _failures) == 1)
        {
            LogUnreachable(_logger, ex);
        }
    }

    /// <summary>
    /// While the multiplexer is disconnected, commands would wait in its backlog up to the async timeout; presence
    /// is asked on every routing pass and hub connect, so it answers from memory at once instead.
    /// </summary>
    private void EnsureConnected()
    {
        if (!_redis.IsConnected)
        {
            throw new NotConnectedException();
        }
    }

    private long NowMs() => _time.GetUtcNow().ToUnixTimeMilliseconds();

    private static bool IsRedisFailure(Exception ex) => ex is RedisException or TimeoutException or ObjectDisposedException or NotConnectedException;

    private static Guid? Parse(RedisValue value) => Guid.TryParseExact(value.ToString(), "N", out var id) ? id : null;

    private static string Name(AgentStatus status) => status == AgentStatus.Away ? "away" : "online";

    private static AgentStatus? ParseStatus(RedisValue value) => value.ToString() switch
    {
        "online" => AgentStatus.Online,
        "away" => AgentStatus.Away,
        _ => null,
    };

    internal sealed record PresencePing(Guid NodeId);

    private sealed class NotConnectedException() : Exception("Redis is not connected.");

    private sealed record RemoteNode(long Expires, List<Guid> Agents);

    private sealed record SharedState(List<RemoteNode> Nodes, Dictionary<Guid, AgentStatus> Chosen, Dictionary<Guid, long> Left);

    private sealed class LocalAgent
    {
        public HashSet<string> Connections { get; } = [];

        /// <summary>Set when the agent chose on this node; otherwise the shared choice (default online) applies.</summary>
        public AgentStatus? Chosen { get; set; }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Redis presence unreachable: routing uses this node's agents and what it last knew of the others")]
    private static partial void LogUnreachable(ILogger logger, Exception exception);

    [LoggerMessage(Level = LogLevel.Information, Message = "Redis presence reachable again")]
    private static partial void LogReachableAgain(ILogger logger);

    [LoggerMessage(Level = LogLevel.Error, Message = "Refreshing agent presence failed")]
    private static partial void LogRefreshFailed(ILogger logger, Exception exception);
}
