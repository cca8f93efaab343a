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
/// committed since then in the conversations its clients follow and pushes them again. Clients drop what they
/// already have by seq (docs/protocol.md), so a repeat is harmless and a gap becomes impossible.
/// </para>
/// </summary>
internal sealed partial class ClusterRelay(
    IClusterBus bus,
    RealtimeFanout fanout,
    ConnectionRegistry registry,
    IServiceScopeFactory scopes,
    IOptions<RedisOptions> options,
    IOptions<MessagingOptions> messaging,
    TimeProvider time,
    ILogger<ClusterRelay> logger)
    : IDomainEventListener<MessageCommitted>, IDomainEventListener<ConversationChanged>, IHostedService, IDisposable
{
    public const string MessageTopic = "message";
    public const string ConversationTopic = "conversation";
    public const string ResyncTopic = "resync";
    public const string HeartbeatTopic = "node";

    private readonly ConcurrentDictionary<Guid, DateTime> _nodes = new();
    private readonly ConcurrentDictionary<Guid, int> _agents = new();
    private readonly Lock _catchUpGate = new();
    private DateTime? _pendingSince;
    private Task _catchUp = Task.CompletedTask;
    private ITimer? _heartbeat;

    /// <summary>Agent connections on the other live nodes, as of their last heartbeat.</summary>
    public int RemoteAgentConnections => _agents.Where(a => _nodes.ContainsKey(a.Key)).Sum(a => a.Value);

    public void Handle(MessageCommitted domainEvent) => bus.Publish(MessageTopic, domainEvent);

    public void Handle(ConversationChanged domainEvent) => bus.Publish(ConversationTopic, domainEvent.Conversation);

    public Task StartAsync(CancellationToken cancellationToken)
    {
        bus.Subscribe<MessageCommitted>(MessageTopic, fanout.Handle);
        bus.Subscribe<ConversationState>(ConversationTopic, state => fanout.Handle(new ConversationChanged(state)));
        bus.Subscribe<ResyncRequest>(ResyncTopic, request => RequestCatchUp(request.Since, "another node's Redis link came back"));
        bus.Subscribe<NodeHeartbeat>(HeartbeatTopic, beat =>
        {
            _nodes[beat.NodeId] = time.GetUtcNow().UtcDateTime;
            _agents[beat.NodeId] = beat.Agents;
        });
        bus.Restored += since =>
        {
            RequestCatchUp(since, "our Redis link came back");

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

    /// <summary>Runs one catch-up at a time; requests arriving meanwhile merge into the next run (earliest start wins).</summary>
    private void RequestCatchUp(DateTime since, string reason)
    {
        LogCatchUpRequested(logger, since, reason);
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

        try
        {
            await CatchUpAsync(since - TimeSpan.FromSeconds(options.Value.CatchUpMarginSeconds));
        }
        catch (Exception ex)
        {
            LogCatchUpFailed(logger, ex);
        }
    }

    /// <summary>
    /// Pushes again, from the store, what was committed since <paramref name="since"/> in the conversations this
    /// node's clients follow. At most the replay limit per conversation: beyond it a client sees a gap and
    /// resumes, which is the protocol's answer to large gaps anyway.
    /// </summary>
    private async Task CatchUpAsync(DateTime since)
    {
        var followed = registry.SubscribedConversations;
        if (followed.Count == 0)
        {
            return;
        }

        var limit = messaging.Value.ReplayLimit;
        var pushed = 0;
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ParleyDbContext>();
        foreach (var chunk in followed.Chunk(200))
        {
            var ids = chunk.ToList();
            var messages = await (
                    from m in db.Messages.AsNoTracking()
                    join c in db.Conversations on m.ConversationId equals c.Id
                    where ids.Contains(c.Id) && m.Seq > c.LastSeq - limit && m.CreatedAt >= since
                    orderby m.ConversationId, m.Seq
                    select new { Message = m, c.TeamId, c.AssigneeId })
                .ToListAsync();
            foreach (var row in messages)
            {
                fanout.DeliverMessage(row.Message, row.TeamId, row.AssigneeId);
            }

            pushed += messages.Count;
        }

        LogCaughtUp(logger, pushed, followed.Count, since);
    }

    internal sealed record ResyncRequest(DateTime Since);

    internal sealed record NodeHeartbeat(Guid NodeId, int Agents);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Node {Node} has not been heard from since {LastSeen:O}; catching up on what it committed")]
    private static partial void LogNodeLost(ILogger logger, Guid node, DateTime lastSeen);

    [LoggerMessage(Level = LogLevel.Information, Message = "Catch-up since {Since:O} requested: {Reason}")]
    private static partial void LogCatchUpRequested(ILogger logger, DateTime since, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Catch-up pushed {Count} message(s) in {Conversations} followed conversation(s) committed since {Since:O}")]
    private static partial void LogCaughtUp(ILogger logger, int count, int conversations, DateTime since);

    [LoggerMessage(Level = LogLevel.Error, Message = "Catch-up from the store failed; clients repair by replay on their next gap or reconnect")]
    private static partial void LogCatchUpFailed(ILogger logger, Exception exception);
}
