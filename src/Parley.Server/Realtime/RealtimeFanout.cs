using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Protocol;
using Parley.Data;
using Parley.Server.Events;
using Parley.Server.Messaging;

namespace Parley.Server.Realtime;

/// <summary>Pushes committed messages and conversation changes to this node's subscribed connections.</summary>
internal sealed class RealtimeFanout(ConnectionRegistry registry)
    : IDomainEventListener<MessageCommitted>, IDomainEventListener<ConversationChanged>
{
    public const string MessageEvent = "message";
    public const string ConversationEvent = "conversation";
    public const string ConversationUpdatedEvent = "conversationUpdated";

    public void Handle(MessageCommitted domainEvent)
    {
        var message = domainEvent.Message;
        SerializedHubMessage? forAgents = null;
        SerializedHubMessage? forVisitors = null;
        foreach (var connection in registry.SubscribersOf(message.ConversationId))
        {
            if (connection.Audience == Audience.Agent)
            {
                // Serialized once per protocol and reused for every recipient.
                forAgents ??= Serialize(MessageEvent, MessageMapper.ToDto(message, Audience.Agent));
                connection.Enqueue(forAgents);
            }
            else if (message.Kind != MessageKind.Note)
            {
                forVisitors ??= Serialize(MessageEvent, MessageMapper.ToDto(message, Audience.Visitor));
                connection.Enqueue(forVisitors);
            }
        }

        BroadcastToAgents(domainEvent.Conversation.ToSummary());
    }

    public void Handle(ConversationChanged domainEvent)
    {
        var state = domainEvent.Conversation;
        SerializedHubMessage? forVisitors = null;
        foreach (var connection in registry.SubscribersOf(state.Id))
        {
            if (connection.Audience == Audience.Visitor)
            {
                forVisitors ??= Serialize(ConversationEvent, new ConversationInfo
                {
                    Id = state.Id,
                    Status = WireNames.Of(state.Status),
                    LastSeq = state.LastVisitorSeq,
                    CreatedAt = state.CreatedAt,
                });
                connection.EnqueueState(state.Id, forVisitors);
            }
        }

        BroadcastToAgents(state.ToSummary());
    }

    private void BroadcastToAgents(ConversationSummary summary)
    {
        var agents = registry.Agents;
        if (agents.Count == 0)
        {
            return;
        }

        var serialized = Serialize(ConversationUpdatedEvent, summary);
        foreach (var agent in agents)
        {
            agent.EnqueueState(summary.Id, serialized);
        }
    }

    private static SerializedHubMessage Serialize(string target, object payload) =>
        new(new InvocationMessage(target, [payload]));
}

/// <summary>Raised when a conversation is created or its status/assignee changes.</summary>
public sealed record ConversationChanged(ConversationState Conversation)
{
    /// <summary>What happened: created, assigned, closed, reopened or updated (webhook event types build on it).</summary>
    public string Change { get; init; } = "updated";
}
