using System.Security.Claims;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.SignalR;
using Parley.Server.Features.Auth;
using Parley.Server.Infrastructure;
using Parley.Server.Messaging;

namespace Parley.Server.Realtime;

/// <summary>
/// The agents' realtime endpoint (<c>/hubs/agent</c>). Methods and events: docs/protocol.md. Each method names the API
/// token scope it needs like the REST endpoint it mirrors (<see cref="HubTokenScopeFilter"/>).
/// </summary>
/// <remarks>
/// SignalR creates a hub per invocation: the constructor takes singletons only, and the methods that need scoped
/// services (a database context) take them as <c>[FromServices]</c> parameters, so <c>Typing</c>, <c>Leave</c> and the
/// presence calls resolve nothing from the invocation's scope (as <see cref="VisitorHub"/>).
/// </remarks>
[Authorize(Policy = ParleyClaims.AgentPolicy)]
internal sealed class AgentHub(ConnectionRegistry registry, TypingSignals typing, Features.Access.AccessDirectory access, Presence.IAgentPresence presence, ConsoleRealtime console, Features.Supervision.LiveViewService live) : Hub
{
    /// <summary>Loads the agent's access scope before any fan-out needs it (fan-out never queries; unknown means denied).</summary>
    public override async Task OnConnectedAsync()
    {
        if (await access.GetAsync(CurrentActor().PrincipalId, Context.ConnectionAborted) is null)
        {
            Context.Abort();
            return;
        }

        await presence.ConnectedAsync(CurrentActor().PrincipalId, Context.ConnectionId);
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
    [ApiTokenScope("routing", write: true)]
    public Task SetStatusAsync(string status) => presence.SetStatusAsync(
        CurrentActor().PrincipalId,
        status switch
        {
            "online" => Presence.AgentStatus.Online,
            "away" => Presence.AgentStatus.Away,
            _ => throw new ParleyException(ErrorCatalogue.InvalidStatus, "status must be 'online' or 'away'."),
        });

    [HubMethodName("AcceptOffer")]
    [ApiTokenScope("routing", write: true)]
    public Task<ConversationSummary> AcceptOfferAsync(string conversationId, [FromServices] Routing.RoutingService routing) =>
        routing.AcceptOfferAsync(Ids.Parse(conversationId, "conversationId"), CurrentActor(), Context.ConnectionAborted);

    [HubMethodName("DeclineOffer")]
    [ApiTokenScope("routing", write: true)]
    public Task DeclineOfferAsync(string conversationId, [FromServices] Routing.RoutingService routing) =>
        routing.DeclineOfferAsync(Ids.Parse(conversationId, "conversationId"), CurrentActor().PrincipalId, expired: false, Context.ConnectionAborted);

    /// <summary>Assigns or transfers (userId null: to yourself), within the assignee's capacity.</summary>
    [HubMethodName("Assign")]
    [ApiTokenScope("conversations", write: true)]
    public Task<ConversationSummary> AssignAsync(string conversationId, string? userId, [FromServices] Routing.RoutingService routing)
    {
        var actor = CurrentActor();
        var assignee = userId is null ? actor.PrincipalId : Ids.Parse(userId, "userId");
        return routing.AssignAsync(Ids.Parse(conversationId, "conversationId"), assignee, actor, Context.ConnectionAborted);
    }

    [HubMethodName("Join")]
    [ApiTokenScope("conversations", write: false)]
    public async Task<ReplayDto> JoinAsync(ResumeRequest request, [FromServices] MessageService messages)
    {
        ArgumentNullException.ThrowIfNull(request);
        Guid? joined = null;
        var replay = await messages.JoinAsync(
            CurrentActor(), request.ConversationId, request.AfterSeq, id => { registry.Subscribe(Context.ConnectionId, id); joined = id; }, Context.ConnectionAborted);
        if (joined is { } conversationId)
        {
            console.ViewersChanged(conversationId);
        }

        return replay;
    }

    [HubMethodName("Leave")]
    [ApiTokenScope("conversations", write: false)]
    public void Leave(string conversationId)
    {
        if (Ids.TryParse(conversationId, out var id) && registry.Find(Context.ConnectionId) is { } connection)
        {
            registry.Unsubscribe(connection, id);
            console.ViewersChanged(id);
        }
    }

    [HubMethodName("Send")]
    [ApiTokenScope("conversations", write: true)]
    public Task<SendAck> SendAsync(SendRequest request, [FromServices] MessageService messages)
    {
        ArgumentNullException.ThrowIfNull(request);
        return messages.SendAsync(CurrentActor(), request, ClientConnection.Of(Context).SendOrder, Context.ConnectionAborted);
    }

    [HubMethodName("Typing")]
    [ApiTokenScope("conversations", write: true)]
    public void Typing(TypingRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        typing.Typing(Context.ConnectionId, CurrentActor().Name, request);
    }

    /// <summary>
    /// "I have seen up to seq": the conversation's agent-side read receipt (what the visitor sees) and the caller's
    /// own read marker (their unread counts) both move forward.
    /// </summary>
    [HubMethodName("MarkRead")]
    [ApiTokenScope("conversations", write: true)]
    public async Task MarkReadAsync(ReadRequest request, [FromServices] ReadReceipts receipts, [FromServices] Features.Console.ConsoleConversationActions actions)
    {
        ArgumentNullException.ThrowIfNull(request);
        await receipts.MarkReadAsync(CurrentActor(), request, Context.ConnectionAborted);
        await actions.MarkReadAsync(Context.User!, Ids.Parse(request.ConversationId, "conversationId"), request.Seq, Context.ConnectionAborted);
    }

    /// <summary>
    /// Supervisors and admins: the live view of their departments now; then <c>live</c> events (coalesced snapshots,
    /// at most about one a second and only when something changed) until <c>UnsubscribeLive</c> or the connection ends.
    /// </summary>
    [HubMethodName("SubscribeLive")]
    [ApiTokenScope("routing", write: false)]
    public Task<Features.Supervision.LiveViewDto> SubscribeLiveAsync([FromServices] Features.Access.AccessPolicy policy) =>
        live.SubscribeAsync(policy, CurrentActor(), Context.ConnectionId, Context.ConnectionAborted);

    [HubMethodName("UnsubscribeLive")]
    [ApiTokenScope("routing", write: false)]
    public void UnsubscribeLive() => live.Unsubscribe(Context.ConnectionId);

    // Read from the claims once when the connection opened (the principal is the connection's for its life).
    private Actor CurrentActor() => ClientConnection.Of(Context).Actor ?? Actor.Agent(Context.User);
}
