using System.Security.Claims;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.SignalR;
using Parley.Server.Infrastructure;
using Parley.Server.Messaging;

namespace Parley.Server.Realtime;

/// <summary>The agents' realtime endpoint (<c>/hubs/agent</c>). Methods and events: docs/protocol.md.</summary>
[Authorize(Policy = ParleyClaims.AgentPolicy)]
internal sealed class AgentHub(MessageService messages, ConnectionRegistry registry, Presence.IAgentPresence presence, Routing.RoutingService routing) : Hub
{
    public override async Task OnConnectedAsync()
    {
        if (Context.User?.UserId() is { } id)
        {
            await presence.ConnectedAsync(id, Context.ConnectionId);
        }

        await base.OnConnectedAsync();
    }

    public override async Task OnDisconnectedAsync(Exception? exception)
    {
        if (Context.User?.UserId() is { } id)
        {
            await presence.DisconnectedAsync(id, Context.ConnectionId);
        }

        await base.OnDisconnectedAsync(exception);
    }

    /// <summary>The agent's own availability: "online" takes new conversations, "away" keeps the current ones only.</summary>
    [HubMethodName("SetStatus")]
    public Task SetStatusAsync(string status) => presence.SetStatusAsync(
        CurrentActor().PrincipalId,
        status switch
        {
            "online" => Presence.AgentStatus.Online,
            "away" => Presence.AgentStatus.Away,
            _ => throw new ParleyException("invalid_status", "status must be 'online' or 'away'."),
        });

    [HubMethodName("AcceptOffer")]
    public Task<ConversationSummary> AcceptOfferAsync(string conversationId) =>
        routing.AcceptOfferAsync(MessageService.ParseId(conversationId, "conversationId"), CurrentActor(), Context.ConnectionAborted);

    [HubMethodName("DeclineOffer")]
    public Task DeclineOfferAsync(string conversationId) =>
        routing.DeclineOfferAsync(MessageService.ParseId(conversationId, "conversationId"), CurrentActor().PrincipalId, expired: false, Context.ConnectionAborted);

    /// <summary>Assigns or transfers (userId null: to yourself), within the assignee's capacity.</summary>
    [HubMethodName("Assign")]
    public Task<ConversationSummary> AssignAsync(string conversationId, string? userId)
    {
        var actor = CurrentActor();
        var assignee = userId is null ? actor.PrincipalId : MessageService.ParseId(userId, "userId");
        return routing.AssignAsync(MessageService.ParseId(conversationId, "conversationId"), assignee, actor, Context.ConnectionAborted);
    }

    [HubMethodName("Join")]
    public async Task<ReplayDto> JoinAsync(ResumeRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        return await messages.JoinAsync(
            CurrentActor(), request.ConversationId, request.AfterSeq, id => registry.Subscribe(Context.ConnectionId, id), Context.ConnectionAborted);
    }

    [HubMethodName("Leave")]
    public void Leave(string conversationId)
    {
        if (Guid.TryParse(conversationId, out var id) && registry.Find(Context.ConnectionId) is { } connection)
        {
            registry.Unsubscribe(connection, id);
        }
    }

    [HubMethodName("Send")]
    public Task<SendAck> SendAsync(SendRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        return messages.SendAsync(CurrentActor(), request);
    }

    private Actor CurrentActor() => Actor.Agent(Context.User);
}
