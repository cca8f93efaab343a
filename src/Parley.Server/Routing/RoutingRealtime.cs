using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Protocol;
using Parley.Server.Events;
using Parley.Server.Realtime;

namespace Parley.Server.Routing;

/// <summary>Pushes routing decisions to this node's connections: queue status to visitors, offers to agents.</summary>
internal sealed class RoutingRealtime(ConnectionRegistry registry)
    : IDomainEventListener<QueuePositionsChanged>, IDomainEventListener<ConversationOffered>, IDomainEventListener<OfferWithdrawn>, IDomainEventListener<ConversationAssigned>
{
    public const string QueueEvent = "queue";
    public const string OfferEvent = "offer";

    public void Handle(QueuePositionsChanged domainEvent)
    {
        foreach (var status in domainEvent.Changes)
        {
            SerializedHubMessage? message = null;
            foreach (var connection in registry.SubscribersOf(status.ConversationId))
            {
                if (connection.Audience == Audience.Visitor)
                {
                    message ??= new SerializedHubMessage(new InvocationMessage(QueueEvent, [status]));
                    connection.Enqueue(message);
                }
            }
        }
    }

    public void Handle(ConversationOffered domainEvent) =>
        ToAgent(domainEvent.AgentId, new OfferDto { ConversationId = domainEvent.ConversationId, ExpiresAt = domainEvent.ExpiresAt });

    public void Handle(OfferWithdrawn domainEvent) =>
        ToAgent(domainEvent.AgentId, new OfferDto { ConversationId = domainEvent.ConversationId, Withdrawn = true });

    /// <summary>However it was assigned (routing, accepted offer, pick, transfer), the visitor stops waiting.</summary>
    public void Handle(ConversationAssigned domainEvent) =>
        Handle(new QueuePositionsChanged([new QueueStatus { ConversationId = domainEvent.ConversationId, State = QueueStatus.Assigned }]));

    private void ToAgent(Guid agentId, OfferDto offer)
    {
        SerializedHubMessage? message = null;
        foreach (var agent in registry.Agents)
        {
            if (agent.PrincipalId == agentId)
            {
                message ??= new SerializedHubMessage(new InvocationMessage(OfferEvent, [offer]));
                agent.Enqueue(message);
            }
        }
    }
}
