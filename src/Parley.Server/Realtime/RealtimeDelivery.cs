using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Protocol;
using Parley.Server.ScaleOut;

namespace Parley.Server.Realtime;

/// <summary>Which connections of a conversation's subscribers receive an event.</summary>
public enum DeliveryAudience
{
    Everyone,
    Visitors,
    Agents,
}

/// <summary>
/// Sends a hub event to connections wherever they are connected: on this node directly, on the others through
/// the cluster bus. For events that are not messages (typing, read receipts, presence, routing offers); messages
/// go through the write path and <see cref="RealtimeFanout"/>. Like the fan-out it only ever enqueues on each
/// connection's bounded queue, so it never blocks. Delivery is best effort: while Redis is down, connections on
/// other nodes miss these events (they are transient state; nothing here is replayed).
/// <para>
/// The event is serialized once per hub protocol on the sending node; other nodes forward those bytes as they
/// are, so payload types need not be known to the receiver.
/// </para>
/// </summary>
internal sealed class RealtimeDelivery
{
    public const string Topic = "delivery";

    private readonly ConnectionRegistry _registry;
    private readonly IClusterBus _bus;
    private readonly IHubProtocolResolver _protocols;

    public RealtimeDelivery(ConnectionRegistry registry, IClusterBus bus, IHubProtocolResolver protocols)
    {
        _registry = registry;
        _bus = bus;
        _protocols = protocols;
        bus.Subscribe<Envelope>(Topic, Receive);
    }

    /// <summary>To the conversation's subscribers of <paramref name="audience"/>, except one connection (usually the sender's).</summary>
    public void ToConversation(Guid conversationId, DeliveryAudience audience, string target, object payload, string? exceptConnectionId = null) =>
        Send(new Envelope { Scope = Scope.Conversation, Id = conversationId, Audience = audience, Except = exceptConnectionId }, target, payload);

    /// <summary>To one connection, on whichever node holds it.</summary>
    public void ToConnection(string connectionId, string target, object payload) =>
        Send(new Envelope { Scope = Scope.Connection, ConnectionId = connectionId }, target, payload);

    /// <summary>To every connection of one agent (user id), on every node.</summary>
    public void ToUser(Guid userId, string target, object payload) =>
        Send(new Envelope { Scope = Scope.Principal, Id = userId, Audience = DeliveryAudience.Agents }, target, payload);

    /// <summary>To every connection of one visitor (contact id), on every node.</summary>
    public void ToContact(Guid contactId, string target, object payload) =>
        Send(new Envelope { Scope = Scope.Principal, Id = contactId, Audience = DeliveryAudience.Visitors }, target, payload);

    /// <summary>To every connected agent (presence, queue changes).</summary>
    public void ToAllAgents(string target, object payload) =>
        Send(new Envelope { Scope = Scope.AllAgents, Audience = DeliveryAudience.Agents }, target, payload);

    private void Send(Envelope envelope, string target, object payload)
    {
        var message = new SerializedHubMessage(new InvocationMessage(target, [payload]));
        DeliverLocally(envelope, message);
        if (_bus.IsClustered && !(envelope.Scope == Scope.Connection && _registry.Find(envelope.ConnectionId!) is not null))
        {
            envelope.Frames = _protocols.AllProtocols.ToDictionary(p => p.Name, p => message.GetSerializedMessage(p).ToArray());
            _bus.Publish(Topic, envelope);
        }
    }

    private void Receive(Envelope envelope)
    {
        if (envelope.Frames is not { Count: > 0 } frames)
        {
            return;
        }

        DeliverLocally(envelope, new SerializedHubMessage(frames.Select(f => new SerializedMessage(f.Key, f.Value)).ToList()));
    }

    private void DeliverLocally(Envelope envelope, SerializedHubMessage message)
    {
        switch (envelope.Scope)
        {
            case Scope.Conversation:
                foreach (var connection in _registry.SubscribersOf(envelope.Id))
                {
                    if (Matches(connection, envelope.Audience) && connection.ConnectionId != envelope.Except)
                    {
                        connection.Enqueue(message);
                    }
                }

                break;
            case Scope.Connection:
                if (envelope.ConnectionId is { } id)
                {
                    _registry.Find(id)?.Enqueue(message);
                }

                break;
            case Scope.Principal:
                foreach (var connection in _registry.All)
                {
                    if (connection.PrincipalId == envelope.Id && Matches(connection, envelope.Audience))
                    {
                        connection.Enqueue(message);
                    }
                }

                break;
            case Scope.AllAgents:
                foreach (var connection in _registry.Agents)
                {
                    connection.Enqueue(message);
                }

                break;
        }
    }

    private static bool Matches(ClientConnection connection, DeliveryAudience audience) => audience switch
    {
        DeliveryAudience.Visitors => connection.Audience == Audience.Visitor,
        DeliveryAudience.Agents => connection.Audience == Audience.Agent,
        _ => true,
    };

    internal enum Scope
    {
        Conversation,
        Connection,
        Principal,
        AllAgents,
    }

    /// <summary>What crosses the bus: who should receive it, and the event already serialized per protocol name.</summary>
    internal sealed class Envelope
    {
        public Scope Scope { get; set; }

        public Guid Id { get; set; }

        public DeliveryAudience Audience { get; set; }

        /// <summary>The one recipient (connection scope).</summary>
        public string? ConnectionId { get; set; }

        /// <summary>A connection left out (conversation scope), usually the one that caused the event.</summary>
        public string? Except { get; set; }

        public Dictionary<string, byte[]>? Frames { get; set; }
    }
}
