using System.Collections.Concurrent;

namespace Parley.Server.Realtime;

/// <summary>This node's live connections and who is subscribed to which conversation.</summary>
internal sealed class ConnectionRegistry
{
    private readonly ConcurrentDictionary<string, ClientConnection> _connections = new();
    private readonly ConcurrentDictionary<Guid, ClientConnection[]> _byConversation = new();
    private ClientConnection[] _agents = [];
    private readonly Lock _agentsGate = new();

    private int _visitors;
    private int _agentCount;

    public int Count => _connections.Count;

    /// <summary>Visitor connections on this node (kept as connections come and go: reading it scans nothing).</summary>
    public int VisitorCount => Volatile.Read(ref _visitors);

    /// <summary>Agent connections on this node.</summary>
    public int AgentCount => Volatile.Read(ref _agentCount);

    /// <summary>
    /// Events waiting in every connection's outbound queue: one pass over the connections without a lock or a
    /// snapshot (each connection's count is a plain field), for the once-a-second operations sample.
    /// </summary>
    public int TotalPending()
    {
        var total = 0;
        foreach (var entry in _connections)
        {
            total += entry.Value.Pending;
        }

        return total;
    }

    /// <summary>Called with a conversation id after an agent connection subscribed to it or left it.</summary>
    public Action<Guid>? AgentSubscriptionChanged { get; set; }

    public IReadOnlyList<ClientConnection> Agents => _agents;

    public ClientConnection? Find(string connectionId) => _connections.GetValueOrDefault(connectionId);

    /// <summary>Every live connection of this node (a snapshot).</summary>
    public IEnumerable<ClientConnection> All => _connections.Values;

    /// <summary>Conversations that have at least one subscriber on this node (a snapshot).</summary>
    public IReadOnlyCollection<Guid> SubscribedConversations => [.. _byConversation.Keys];

    public IReadOnlyList<ClientConnection> SubscribersOf(Guid conversationId) =>
        _byConversation.TryGetValue(conversationId, out var list) ? list : [];

    public void Add(ClientConnection connection)
    {
        if (!_connections.TryAdd(connection.ConnectionId, connection))
        {
            return; // already registered (one hub connection is added once)
        }

        Interlocked.Increment(ref CountOf(connection.Audience));
        if (connection.Audience == Audience.Agent)
        {
            lock (_agentsGate)
            {
                _agents = [.. _agents, connection];
            }
        }
    }

    public void Remove(string connectionId)
    {
        if (!_connections.TryRemove(connectionId, out var connection))
        {
            return;
        }

        Interlocked.Decrement(ref CountOf(connection.Audience));
        connection.Close();
        var subscriptions = connection.Subscriptions; // an immutable snapshot (copy-on-write)
        foreach (var conversationId in subscriptions)
        {
            Unsubscribe(connection, conversationId);
        }

        if (connection.Audience == Audience.Agent && AgentSubscriptionChanged is { } changed)
        {
            foreach (var conversationId in subscriptions)
            {
                changed(conversationId);
            }
        }

        if (connection.Audience == Audience.Agent)
        {
            lock (_agentsGate)
            {
                _agents = _agents.Where(a => a != connection).ToArray();
            }
        }
    }

    private ref int CountOf(Audience audience) => ref audience == Audience.Agent ? ref _agentCount : ref _visitors;

    public void Subscribe(string connectionId, Guid conversationId)
    {
        if (Find(connectionId) is { } connection)
        {
            Subscribe(connection, conversationId);
        }
    }

    public void Subscribe(ClientConnection connection, Guid conversationId)
    {
        if (connection.AddSubscription(conversationId))
        {
            // Copy-on-write arrays: fan-out iterates without locks; subscriptions change rarely by comparison.
            _byConversation.AddOrUpdate(conversationId, _ => [connection], (_, list) => [.. list, connection]);
        }
    }

    public void Unsubscribe(ClientConnection connection, Guid conversationId)
    {
        connection.RemoveSubscription(conversationId);
        while (_byConversation.TryGetValue(conversationId, out var list))
        {
            var next = list.Where(c => c != connection).ToArray();
            if (next.Length == list.Length)
            {
                return;
            }

            var updated = next.Length == 0
                ? _byConversation.TryRemove(new KeyValuePair<Guid, ClientConnection[]>(conversationId, list))
                : _byConversation.TryUpdate(conversationId, next, list);
            if (updated)
            {
                return;
            }
        }
    }
}
