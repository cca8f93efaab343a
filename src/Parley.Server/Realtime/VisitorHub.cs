using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.SignalR;
using Parley.Server.Features.Conversations;
using Parley.Server.Features.Widget;
using Parley.Server.Infrastructure;
using Parley.Server.Messaging;

namespace Parley.Server.Realtime;

/// <summary>The visitor's realtime endpoint (<c>/hubs/visitor</c>). Methods and events: docs/protocol.md.</summary>
/// <remarks>
/// SignalR creates a hub per invocation. Its constructor takes singletons only, so <c>Send</c> and <c>Typing</c>, the
/// calls made per keystroke and per message, resolve nothing from the invocation's scope; the rarer calls that need
/// scoped services (a database context) take them as <c>[FromServices]</c> parameters.
/// </remarks>
[Authorize(Policy = ParleyClaims.VisitorPolicy)]
internal sealed class VisitorHub(Features.Metrics.VisitorAdmission admission, MessageSender sender, ConnectionRegistry registry, VisitorSendLimiter limiter, Features.Widget.VisitorActionLimits visitorLimits, TypingSignals typing, Routing.RoutingEngine routing, Features.Ai.BotResponder bot) : Hub
{
    [HubMethodName("StartConversation")]
    public async Task<ConversationInfo> StartConversationAsync([FromServices] ConversationService conversations)
    {
        var actor = CurrentActor();
        var info = await conversations.StartForVisitorAsync(actor.SiteId, actor.PrincipalId, Context.ConnectionAborted);
        Subscribe(info.Id);
        routing.Resend(info.Id); // its queue status may have been pushed before this connection subscribed
        return info;
    }

    [HubMethodName("Resume")]
    public async Task<ReplayDto> ResumeAsync(ResumeRequest request, [FromServices] MessageService messages)
    {
        ArgumentNullException.ThrowIfNull(request);
        var replay = await messages.JoinAsync(CurrentActor(), request.ConversationId, request.AfterSeq, Subscribe, Context.ConnectionAborted);
        routing.Resend(replay.ConversationId);
        return replay;
    }

    [HubMethodName("Send")]
    public async Task<SendAck> SendAsync(SendRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        limiter.Acquire(ClientConnection.Of(Context));
        var actor = CurrentActor();

        // Admission (the load governor) is asked first and synchronously, so one connection's sends are admitted in the
        // order they came; the per-visitor limit across connections and nodes is started now and awaited inside the
        // send's turn so a Redis round trip cannot reorder the connection's sends.
        var admitted = admission.EnterAsync(Context.ConnectionAborted);
        try
        {
            var ack = await sender.SendAsync(actor, request, ClientConnection.Of(Context).SendOrder, AdmittedAsync(admitted, visitorLimits.AcquireSendAsync(actor.PrincipalId, Context.ConnectionAborted)), access: null, Context.ConnectionAborted);
            Subscribe(ack.ConversationId);
            return ack;
        }
        finally
        {
            if (admitted.IsCompletedSuccessfully)
            {
                admission.Exit(admitted.Result);
            }
            else if (!admitted.IsCompleted)
            {
                // Not reachable as SendAsync stands (it awaits admission first), but a place must never leak.
                _ = admitted.ContinueWith(static (t, state) => ((Features.Metrics.VisitorAdmission)state!).Exit(t.Result), admission, CancellationToken.None, TaskContinuationOptions.OnlyOnRanToCompletion, TaskScheduler.Default);
            }
        }
    }

    private static async Task AdmittedAsync(Task<long> admitted, Task perVisitor)
    {
        try
        {
            await admitted;
        }
        finally
        {
            await perVisitor; // observed either way; its failure (rate limited) is the send's answer once admitted
        }
    }

    /// <summary>"Talk to a person": the bot of a bot-first conversation hands it to people. True when it did (false: people have it already).</summary>
    [HubMethodName("RequestPerson")]
    public async Task<bool> RequestPersonAsync(string conversationId, [FromServices] MessageService messages)
    {
        var id = Ids.Parse(conversationId, "conversationId");
        await messages.FindAccessibleAsync(CurrentActor(), id, Context.ConnectionAborted); // the visitor's own conversation only
        return await bot.RequestPersonAsync(id, Context.ConnectionAborted);
    }

    [HubMethodName("Typing")]
    public void Typing(TypingRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        typing.Typing(Context.ConnectionId, null, request);
    }

    [HubMethodName("MarkRead")]
    public Task MarkReadAsync(ReadRequest request, [FromServices] ReadReceipts receipts)
    {
        ArgumentNullException.ThrowIfNull(request);
        return receipts.MarkReadAsync(CurrentActor(), request, Context.ConnectionAborted);
    }

    // The visitor's identity is the connection's for its whole life, read from the claims once when it opened.
    private Actor CurrentActor() =>
        ClientConnection.Of(Context).Actor ?? throw new HubException(ErrorCatalogue.Unauthorized.HubText("No visitor identity."));

    private void Subscribe(Guid conversationId) => registry.Subscribe(Context.ConnectionId, conversationId);
}
