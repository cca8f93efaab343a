using System.Security.Claims;
using Microsoft.AspNetCore.Http.HttpResults;
using Parley.Server.Infrastructure;
using Parley.Server.Messaging;

namespace Parley.Server.Features.Conversations;

/// <summary>An inbox page. <c>lastReadSeq</c> and <c>labels</c> are keyed by conversation id and personal to the caller.</summary>
public sealed record ConversationPage(
    IReadOnlyList<ConversationSummary> Items,
    string? NextCursor,
    IReadOnlyDictionary<Guid, long> LastReadSeq,
    IReadOnlyDictionary<Guid, IReadOnlyList<Guid>> Labels);

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
            .WithSummary("Inbox: a view of conversations with filters, oldest-waiting first")
            .WithDescription("view: all (not closed; default), mine, unassigned, teams, closed. status: open (not closed, includes pending), pending, snoozed, waiting, closed, all. "
                + "labelId, intent (complaint, consult, sales, after_sales, greeting or an admin-defined intent), from/to (created, ISO-8601 UTC). sort: waiting (default: longest-waiting visitor first) or recent. Pass nextCursor back as cursor for the next page. "
                + "Without view, status=closed shows closed and status=all everything (the original behaviour).");
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

    internal static async Task<Ok<ConversationPage>> ListAsync(
        ConversationService service,
        ClaimsPrincipal user,
        CancellationToken cancellationToken,
        string? view = null,
        string? status = null,
        Guid? labelId = null,
        DateTime? from = null,
        DateTime? to = null,
        string? sort = null,
        int limit = 50,
        string? cursor = null,
        string? intent = null)
    {
        var inboxView = view switch
        {
            null or "" => status switch { "closed" => InboxView.Closed, "all" => InboxView.Everything, _ => InboxView.All },
            "all" => InboxView.All,
            "mine" => InboxView.Mine,
            "unassigned" => InboxView.Unassigned,
            "teams" => InboxView.Teams,
            "closed" => InboxView.Closed,
            _ => throw new ParleyException(ErrorCatalogue.InvalidView, "view must be all, mine, unassigned, teams or closed."),
        };
        var inboxSort = sort switch
        {
            null or "" or "waiting" => InboxSort.Waiting,
            "recent" => InboxSort.Recent,
            _ => throw new ParleyException(ErrorCatalogue.InvalidSort, "sort must be waiting or recent."),
        };
        var filter = new InboxFilter(inboxView, status, labelId, from?.ToUniversalTime(), to?.ToUniversalTime(), inboxSort, limit, cursor, intent);
        var page = await service.ListAsync(user, filter, cancellationToken);
        return TypedResults.Ok(new ConversationPage(
            page.Items.Select(i => i.Conversation).ToList(),
            page.NextCursor,
            page.Items.ToDictionary(i => i.Conversation.Id, i => i.LastReadSeq),
            page.Items.ToDictionary(i => i.Conversation.Id, i => i.LabelIds)));
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
