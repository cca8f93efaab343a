using System.Security.Claims;
using MessagePack;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Protocol;
using Parley.Server.Events;
using Parley.Server.Features.Access;
using Parley.Server.Infrastructure;
using Parley.Server.Messaging;
using Parley.Server.Realtime;

namespace Parley.Server.Features.Supervision;

public sealed record WhisperRequest([property: System.ComponentModel.DataAnnotations.MaxLength(64)] string? ClientId, string? Body);

/// <summary>Pushed to the assigned agent: a supervisor whispered in one of their conversations.</summary>
[MessagePackObject]
public sealed record WhisperEvent
{
    [Key("conversationId")] public Guid ConversationId { get; init; }

    [Key("seq")] public long Seq { get; init; }

    [Key("fromUserId")] public Guid FromUserId { get; init; }

    [Key("fromName")] public string? FromName { get; init; }

    [Key("body")] public string Body { get; init; } = "";
}

/// <summary>Pushed to the agent who held a conversation a supervisor took over.</summary>
[MessagePackObject]
public sealed record TakenOverEvent
{
    [Key("conversationId")] public Guid ConversationId { get; init; }

    [Key("byUserId")] public Guid ByUserId { get; init; }

    [Key("byName")] public string? ByName { get; init; }
}

/// <summary>
/// Supervisor abilities (#6): whisper (an internal note addressed to the assigned agent, never shown to the visitor)
/// and take over (assign to oneself a conversation another agent holds; that agent is told). Who may is decided by
/// <see cref="AccessPolicy"/> (<see cref="ConversationAction.Whisper"/>, <see cref="ConversationAction.TakeOver"/>).
/// </summary>
internal sealed class SupervisorActions(AccessPolicy access, MessageService messages, Routing.RoutingService routing, DomainEvents events, AuditLog audit)
{
    public async Task<SendAck> WhisperAsync(Actor actor, Guid conversationId, WhisperRequest request, CancellationToken cancellationToken)
    {
        var conversation = await access.RequireConversationAsync(actor, conversationId, ConversationAction.Whisper, cancellationToken);
        if (conversation.AssigneeId is not { } assignee || assignee == actor.PrincipalId)
        {
            throw new ParleyException(ErrorCatalogue.NoAssignee, "Nobody else holds this conversation: a whisper goes to its assigned agent.");
        }

        // A note: the message path never sends notes to the visitor, live or in a replay.
        var ack = await messages.SendAsync(actor, new SendRequest { ConversationId = conversationId.ToString(), ClientId = request.ClientId, Body = request.Body, Note = true }, cancellationToken);
        if (!ack.Duplicate)
        {
            events.Publish(new SupervisorWhispered(conversationId, assignee, new WhisperEvent
            {
                ConversationId = conversationId,
                Seq = ack.Seq,
                FromUserId = actor.PrincipalId,
                FromName = actor.Name,
                Body = request.Body!.Trim(),
            }));
            await audit.RecordAsync("supervision.whispered", actor.PrincipalId, actor.Name, "conversation", conversationId.ToString(), new { assigneeId = assignee, ack.Seq }, cancellationToken);
        }

        return ack;
    }

    public async Task<ConversationSummary> TakeOverAsync(Actor actor, Guid conversationId, CancellationToken cancellationToken)
    {
        var conversation = await access.RequireConversationAsync(actor, conversationId, ConversationAction.TakeOver, cancellationToken);
        var summary = await routing.AssignAsync(conversationId, actor.PrincipalId, actor, cancellationToken);
        await audit.RecordAsync("supervision.taken_over", actor.PrincipalId, actor.Name, "conversation", conversationId.ToString(), new { previousAssigneeId = conversation.AssigneeId }, cancellationToken);
        if (conversation.AssigneeId is { } previous && previous != actor.PrincipalId)
        {
            events.Publish(new ConversationTakenOver(conversationId, previous, new TakenOverEvent { ConversationId = conversationId, ByUserId = actor.PrincipalId, ByName = actor.Name }));
        }

        return summary;
    }
}

/// <summary>Tells one agent, on every console they have open on this node (whether or not they watch the conversation).</summary>
internal sealed class SupervisionFanout(ConnectionRegistry registry) : IDomainEventListener<SupervisorWhispered>, IDomainEventListener<ConversationTakenOver>
{
    public const string WhisperEventName = "whisper";
    public const string TakenOverEventName = "takenOver";

    public void Handle(SupervisorWhispered domainEvent) => ToAgent(domainEvent.AssigneeId, WhisperEventName, domainEvent.Whisper);

    public void Handle(ConversationTakenOver domainEvent) => ToAgent(domainEvent.PreviousAssigneeId, TakenOverEventName, domainEvent.TakenOver);

    private void ToAgent(Guid agentId, string name, object payload)
    {
        SerializedHubMessage? message = null;
        foreach (var agent in registry.Agents)
        {
            if (agent.PrincipalId == agentId)
            {
                message ??= new SerializedHubMessage(new InvocationMessage(name, [payload]));
                agent.Enqueue(message);
            }
        }
    }
}

public static class SupervisionApi
{
    public static IEndpointRouteBuilder MapSupervisionApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/v1/conversations").WithTags("Conversations").RequireAuthorization(ParleyClaims.SupervisorPolicy).WithParleyErrors();
        api.MapPost("/{id:guid}/whisper", WhisperAsync).WithName("WhisperToAgent")
            .WithSummary("Whisper to the assigned agent (supervisors): an internal note the visitor never sees")
            .WithDescription("Stored as a note (idempotent by clientId) and pushed to the assignee as a whisper event. 409 no_assignee when nobody else holds the conversation.");
        api.MapPost("/{id:guid}/take-over", TakeOverAsync).WithName("TakeOverConversation")
            .WithSummary("Take over a conversation (supervisors): assign it to yourself; the agent who held it is told")
            .WithDescription("Within the supervisor's departments. The previous assignee gets a takenOver event.");
        return app;
    }

    internal static async Task<Ok<SendAck>> WhisperAsync(Guid id, WhisperRequest request, SupervisorActions actions, ClaimsPrincipal user, CancellationToken cancellationToken) =>
        TypedResults.Ok(await actions.WhisperAsync(Actor.Agent(user), id, request, cancellationToken));

    internal static async Task<Ok<ConversationSummary>> TakeOverAsync(Guid id, SupervisorActions actions, ClaimsPrincipal user, CancellationToken cancellationToken) =>
        TypedResults.Ok(await actions.TakeOverAsync(Actor.Agent(user), id, cancellationToken));
}
