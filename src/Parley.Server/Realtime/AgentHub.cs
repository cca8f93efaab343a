using System.Security.Claims;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.SignalR;
using Parley.Server.Infrastructure;
using Parley.Server.Messaging;

namespace Parley.Server.Realtime;

/// <summary>The agents' realtime endpoint (<c>/hubs/agent</c>). Methods and events: docs/protocol.md.</summary>
[Authorize(Policy = ParleyClaims.AgentPolicy)]
internal sealed class AgentHub(MessageService messages, ConnectionRegistry registry, ConsoleRealtime console, Features.Console.ConsoleConversationActions actions) : Hub
{
    [HubMethodName("Join")]
    public async Task<ReplayDto> JoinAsync(ResumeRequest request)
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
    public void Leave(string conversationId)
    {
        if (Guid.TryParse(conversationId, out var id) && registry.Find(Context.ConnectionId) is { } connection)
        {
            registry.Unsubscribe(connection, id);
            console.ViewersChanged(id);
        }
    }

    /// <summary>Moves the caller's read marker of a conversation forward (unread counts); returns where it stands.</summary>
    [HubMethodName("MarkRead")]
    public Task<Features.Console.ReadStateDto> MarkReadAsync(string conversationId, long seq) =>
        actions.MarkReadAsync(Context.User!, MessageService.ParseId(conversationId, "conversationId"), seq, Context.ConnectionAborted);

    [HubMethodName("Send")]
    public Task<SendAck> SendAsync(SendRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        return messages.SendAsync(CurrentActor(), request);
    }

    private Actor CurrentActor() => Actor.Agent(Context.User);
}
