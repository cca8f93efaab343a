using System.Security.Claims;
using Microsoft.AspNetCore.Http.HttpResults;
using Parley.Server.Infrastructure;
using Parley.Server.Messaging;

namespace Parley.Server.Features.Conversations;

public sealed record ConversationPage(IReadOnlyList<ConversationSummary> Items, string? NextCursor);

public sealed record MessagePage(IReadOnlyList<MessageDto> Items);

public sealed record AssignRequest(Guid? UserId);

public static class ConversationsApi
{
    public static IEndpointRouteBuilder MapConversationsApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/v1/conversations")
            .WithTags("Conversations")
            .RequireAuthorization(ParleyClaims.AgentPolicy)
            .WithParleyErrors();

        api.MapGet("/", ListAsync).WithName("ListConversations")
            .WithSummary("Inbox: conversations by most recent activity")
            .WithDescription("status: open (default, includes pending), closed or all. Pass nextCursor back as cursor for the next page.");
        api.MapGet("/{id:guid}", GetAsync).WithName("GetConversation").WithSummary("One conversation");
        api.MapGet("/{id:guid}/messages", MessagesAsync).WithName("ListMessages")
            .WithSummary("Messages in sequence order")
            .WithDescription("Without parameters: the newest page. beforeSeq pages backwards, afterSeq forwards. limit is at most 200.");
        api.MapPost("/{id:guid}/messages", SendAsync).WithName("SendMessage")
            .WithSummary("Send a message or internal note as the signed-in agent")
            .WithDescription("Idempotent by clientId: repeating a request returns the original message with duplicate=true.");
        api.MapPost("/{id:guid}/assign", AssignAsync).WithName("AssignConversation").WithSummary("Assign to a user (omit userId to assign to yourself)")
            .WithDescription("Also transfers. 409 agent_at_capacity when the user already holds their capacity; 409 conversation_closed for a closed conversation.");
        api.MapPost("/{id:guid}/close", CloseAsync).WithName("CloseConversation").WithSummary("Close the conversation");
        api.MapPost("/{id:guid}/reopen", ReopenAsync).WithName("ReopenConversation").WithSummary("Reopen a closed conversation");
        return app;
    }

    internal static async Task<Ok<ConversationPage>> ListAsync(ConversationService service, ClaimsPrincipal user, CancellationToken cancellationToken, string status = "open", int limit = 50, string? cursor = null)
    {
        var (items, next) = await service.ListAsync(Actor.Agent(user), status, limit, cursor, cancellationToken);
        return TypedResults.Ok(new ConversationPage(items, next));
    }

    internal static async Task<Ok<ConversationSummary>> GetAsync(Guid id, ConversationService service, ClaimsPrincipal user, CancellationToken cancellationToken) =>
        TypedResults.Ok(await service.GetAsync(Actor.Agent(user), id, cancellationToken));

    internal static async Task<Ok<MessagePage>> MessagesAsync(Guid id, ConversationService service, ClaimsPrincipal user, CancellationToken cancellationToken, long? beforeSeq = null, long? afterSeq = null, int limit = 50) =>
        TypedResults.Ok(new MessagePage(await service.MessagesAsync(Actor.Agent(user), id, beforeSeq, afterSeq, limit, cancellationToken)));

    internal static async Task<Ok<SendAck>> SendAsync(Guid id, SendRequest request, MessageService messages, ClaimsPrincipal user, CancellationToken cancellationToken)
    {
        request.ConversationId = id.ToString();
        return TypedResults.Ok(await messages.SendAsync(Actor.Agent(user), request, cancellationToken));
    }

    // Goes through routing's assignment core: the assignee's capacity holds, and a concurrent assignment wins once.
    internal static async Task<Ok<ConversationSummary>> AssignAsync(Guid id, AssignRequest? request, Routing.RoutingService routing, ClaimsPrincipal user, CancellationToken cancellationToken)
    {
        var actor = Actor.Agent(user);
        return TypedResults.Ok(await routing.AssignAsync(id, request?.UserId ?? actor.PrincipalId, actor, cancellationToken));
    }

    internal static async Task<Ok<ConversationSummary>> CloseAsync(Guid id, ConversationService service, ClaimsPrincipal user, CancellationToken cancellationToken) =>
        TypedResults.Ok(await service.CloseAsync(id, Actor.Agent(user), cancellationToken));

    internal static async Task<Ok<ConversationSummary>> ReopenAsync(Guid id, ConversationService service, ClaimsPrincipal user, CancellationToken cancellationToken) =>
        TypedResults.Ok(await service.ReopenAsync(id, Actor.Agent(user), cancellationToken));
}
