using System.Security.Claims;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.SignalR;
using Parley.Server.Infrastructure;
using Parley.Server.Messaging;

namespace Parley.Server.Realtime;

/// <summary>The agents' realtime endpoint (<c>/hubs/agent</c>). Methods and events: docs/protocol.md.</summary>
[Authorize(Policy = ParleyClaims.AgentPolicy)]
internal sealed class AgentHub(MessageService messages, ConnectionRegistry registry, TypingSignals typing, ReadReceipts receipts, Features.Access.AccessDirectory access) : Hub
{
    /// <summary>Loads the agent's access scope before any fan-out needs it (fan-out never queries; unknown means denied).</summary>
    public override async Task OnConnectedAsync()
    {
        if (await access.GetAsync(CurrentActor().PrincipalId, Context.ConnectionAborted) is null)
        {
            Context.Abort();
            return;
        }

        await base.OnConnectedAsync();
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

    [HubMethodName("Typing")]
    public void Typing(TypingRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        typing.Typing(Context.ConnectionId, CurrentActor().Name, request);
    }

    [HubMethodName("MarkRead")]
    public Task MarkReadAsync(ReadRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        return receipts.MarkReadAsync(CurrentActor(), request, Context.ConnectionAborted);
    }

    private Actor CurrentActor() => Actor.Agent(Context.User);
}
