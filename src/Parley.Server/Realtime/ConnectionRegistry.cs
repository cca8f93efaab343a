using System.Collections.Concurrent;

namespace Parley.Server.Realtime;

/// <summary>This node's live connections and who is subscribed to which conversation.</summary>
internal sealed class ConnectionRegistry
{
    private readonly ConcurrentDictionary<string, ClientConnection> _connections = new();
    private readonly ConcurrentDictionary<Guid, ClientConnection[]> _byConversation = new();
    private ClientConnection[] _agents = [];
    private readonly Lock _agentsGate = new();

    public int Count => _connections.Count;

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
        _connections[connection.ConnectionId] = connection;
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

        connection.Close();
        foreach (var conversationId in connection.Subscriptions)
        {
            Unsubscribe(connection, conversationId);
        }

        if (connection.Audience == Audience.Agent)
        {
            lock (_agentsGate)
            {
                _agents = _agents.Where(a => a != connection).ToArray();
            }
        }
    }

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
