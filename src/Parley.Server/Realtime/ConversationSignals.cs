using System.Runtime.CompilerServices;
using MessagePack;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Protocol;
using Microsoft.EntityFrameworkCore;
using Parley.Data;
using Parley.Server.Infrastructure;
using Parley.Server.Messaging;

namespace Parley.Server.Realtime;

[MessagePackObject]
public sealed class TypingRequest
{
    [Key("conversationId")] public string? ConversationId { get; set; }

    [Key("typing")] public bool Typing { get; set; }
}

[MessagePackObject]
public sealed class ReadRequest
{
    [Key("conversationId")] public string? ConversationId { get; set; }

    /// <summary>Highest seq the reader has seen, in the reader's own numbering.</summary>
    [Key("seq")] public long Seq { get; set; }
}

/// <summary>Pushed as <c>typing</c> to the other side of a conversation.</summary>
[MessagePackObject]
public sealed record TypingEvent
{
    [Key("conversationId")] public Guid ConversationId { get; init; }

    /// <summary>visitor or agent: who is typing.</summary>
    [Key("side")] public required string Side { get; init; }

    [Key("name")] public string? Name { get; init; }

    [Key("typing")] public bool Typing { get; init; }
}

/// <summary>Pushed as <c>read</c> to the other side: the reader has seen everything up to seq (recipient's numbering).</summary>
[MessagePackObject]
public sealed record ReadEvent
{
    [Key("conversationId")] public Guid ConversationId { get; init; }

    /// <summary>visitor or agent: who has read.</summary>
    [Key("side")] public required string Side { get; init; }

    [Key("seq")] public long Seq { get; init; }
}

/// <summary>
/// Typing indicators (ephemeral, never stored) for both hubs. Only a connection subscribed to the conversation
/// (it passed the access check of Join/Resume/Start/Send) may signal in it. "typing: true" is forwarded at most
/// once per <see cref="TypingInterval"/> per connection and conversation; clients repeat it while the person
/// keeps typing and the other side expires it after a few seconds without a repeat.
/// </summary>
internal sealed class TypingSignals(ConnectionRegistry registry, RealtimeDelivery delivery, TimeProvider time, Features.Metrics.LoadGovernor governor)
{
    public static readonly TimeSpan TypingInterval = TimeSpan.FromSeconds(2);

    private readonly ConditionalWeakTable<ClientConnection, Dictionary<Guid, (long At, bool Typing)>> _last = [];

    public void Typing(string connectionId, string? name, TypingRequest request)
    {
        if (governor.ShouldShed(Features.Metrics.Sheddable.TypingAndReceipts))
        {
            return; // optional under load (docs/operations.md, Overload)
        }

        var conversationId = Ids.Parse(request.ConversationId, "conversationId");
        var connection = registry.Find(connectionId);
        if (connection is null || !connection.Subscriptions.Contains(conversationId))
        {
            throw ParleyException.NotFound();
        }

        var state = _last.GetOrCreateValue(connection);
        var now = time.GetTimestamp();
        lock (state)
        {
            var known = state.TryGetValue(conversationId, out var last);
            if (request.Typing && known && last.Typing && time.GetElapsedTime(last.At, now) < TypingInterval)
            {
                return; // rate limit: repeats within the interval carry no news
            }

            if (!request.Typing && (!known || !last.Typing))
            {
                return;
            }

            state[conversationId] = (now, request.Typing);
        }

        var side = connection.Audience == Audience.Visitor ? "visitor" : "agent";
        var payload = new TypingEvent { ConversationId = conversationId, Side = side, Name = connection.Audience == Audience.Agent ? name : null, Typing = request.Typing };
        // Agents see the visitor and each other; the visitor sees agents. On every node (RealtimeDelivery).
        delivery.ToConversation(conversationId, connection.Audience == Audience.Agent ? DeliveryAudience.Everyone : DeliveryAudience.Agents, "typing", payload, connectionId);
    }
}

/// <summary>
/// Read receipts, persisted per side as the highest seq seen (stored in agent numbering so one column serves
/// both views) and pushed as <c>read</c> to the other side in its own numbering. Only ever moves forward.
/// </summary>
public sealed class ReadReceipts(ParleyDbContext db, MessageService messages, Events.DomainEvents events, Features.Metrics.LoadGovernor governor)
{
    public async Task MarkReadAsync(Actor actor, ReadRequest request, CancellationToken cancellationToken)
    {
        if (governor.ShouldShed(Features.Metrics.Sheddable.TypingAndReceipts))
        {
            return; // optional under load: the next receipt after recovery carries the position forward
        }

        var conversationId = Ids.Parse(request.ConversationId, "conversationId");
        if (request.Seq < 0)
        {
            throw new ParleyException(ErrorCatalogue.InvalidRequest, "'seq' must not be negative.");
        }

        var conversation = await messages.FindAccessibleAsync(actor, conversationId, cancellationToken);
        var visitor = actor.Audience == Audience.Visitor;
        var seq = visitor
            ? Math.Min(request.Seq, conversation.LastVisitorSeq) is var v && v > 0
                ? await db.Messages.Where(m => m.ConversationId == conversationId && m.VisitorSeq <= v).MaxAsync(m => (long?)m.Seq, cancellationToken) ?? 0
                : 0
            : Math.Min(request.Seq, conversation.LastSeq);
        if (seq <= (visitor ? conversation.VisitorReadSeq : conversation.AgentReadSeq))
        {
            return;
        }

        var updated = visitor
            ? await db.Conversations.Where(c => c.Id == conversationId && c.VisitorReadSeq < seq).ExecuteUpdateAsync(s => s.SetProperty(c => c.VisitorReadSeq, seq), cancellationToken)
            : await db.Conversations.Where(c => c.Id == conversationId && c.AgentReadSeq < seq).ExecuteUpdateAsync(s => s.SetProperty(c => c.AgentReadSeq, seq), cancellationToken);
        if (updated == 0)
        {
            return;
        }

        var visitorSeq = visitor ? Math.Min(request.Seq, conversation.LastVisitorSeq) : await VisitorSeqAtAsync(conversationId, seq, cancellationToken);
        events.Publish(new ConversationRead(conversationId, visitor ? "visitor" : "agent", seq, visitorSeq));
    }

    /// <summary>The highest visitor-visible seq at or before an agent-numbering seq.</summary>
    public async Task<long> VisitorSeqAtAsync(Guid conversationId, long seq, CancellationToken cancellationToken) =>
        seq <= 0 ? 0 : await db.Messages.Where(m => m.ConversationId == conversationId && m.Seq <= seq && m.VisitorSeq != null).MaxAsync(m => m.VisitorSeq, cancellationToken) ?? 0;
}

/// <summary>Delivers read receipts to the other side's connections on this node.</summary>
internal sealed class ReadReceiptFanout(ConnectionRegistry registry) : Events.IDomainEventListener<ConversationRead>
{
    public void Handle(ConversationRead domainEvent)
    {
        SerializedHubMessage? forAgents = null;
        SerializedHubMessage? forVisitors = null;
        foreach (var connection in registry.SubscribersOf(domainEvent.ConversationId))
        {
            if (connection.Audience == Audience.Agent)
            {
                forAgents ??= Serialize(domainEvent.Seq);
                connection.Enqueue(forAgents);
            }
            else if (domainEvent.Side == "agent")
            {
                forVisitors ??= Serialize(domainEvent.VisitorSeq);
                connection.Enqueue(forVisitors);
            }
        }

        SerializedHubMessage Serialize(long seq) =>
            new(new InvocationMessage("read", [new ReadEvent { ConversationId = domainEvent.ConversationId, Side = domainEvent.Side, Seq = seq }]));
    }
}
