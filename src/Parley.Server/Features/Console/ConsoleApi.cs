using System.Security.Claims;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using Parley.Data;
using Parley.Server.Events;
using Parley.Server.Infrastructure;
using Parley.Server.Messaging;

namespace Parley.Server.Features.Console;

public sealed record AgentDto(Guid Id, string DisplayName, string Role);

/// <summary>REST for the agent console: canned replies, labels, snooze, spam/block, contact profile and notes, read markers, search.</summary>
public static class ConsoleApi
{
    public static IEndpointRouteBuilder MapConsoleApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/v1").RequireAuthorization(ParleyClaims.AgentPolicy).WithParleyErrors();

        var canned = api.MapGroup("/canned-replies").WithTags("Canned replies");
        canned.MapGet("/", ListCannedAsync).WithName("ListCannedReplies")
            .WithSummary("Your personal canned replies and the shared ones for everyone or for your departments")
            .WithDescription("q filters by shortcut prefix or body text. With conversationId each reply also carries `rendered`: its variables ({{visitor.name}}, {{visitor.email}}, {{visitor.phone}}, {{agent.name}}, {{agent.email}}; {{name|fallback}}) expanded for that conversation.");
        canned.MapPost("/", CreateCannedAsync).WithName("CreateCannedReply").WithSummary("Create a canned reply (shared ones: supervisors and admins)");
        canned.MapPost("/preview", PreviewCannedAsync).WithName("PreviewCannedReply")
            .WithSummary("Expand a body's variables without saving it")
            .WithDescription("With conversationId: that conversation's visitor and you; without: a sample visitor (sample = true) and you. Changes nothing.");
        canned.MapPut("/{id:guid}", UpdateCannedAsync).WithName("UpdateCannedReply").WithSummary("Change a canned reply");
        canned.MapDelete("/{id:guid}", DeleteCannedAsync).WithName("DeleteCannedReply").WithSummary("Delete a canned reply");

        var labels = api.MapGroup("/labels").WithTags("Labels");
        labels.MapGet("/", ListLabelsAsync).WithName("ListLabels").WithSummary("All labels");
        labels.MapPost("/", CreateLabelAsync).WithName("CreateLabel").WithSummary("Create a label");
        labels.MapDelete("/{id:guid}", DeleteLabelAsync).WithName("DeleteLabel").WithSummary("Delete a label (supervisors and admins)");

        var conversations = api.MapGroup("/conversations/{id:guid}").WithTags("Conversations");
        conversations.MapPut("/labels", SetLabelsAsync).WithName("SetConversationLabels").WithSummary("Replace the conversation's labels");
        conversations.MapPost("/snooze", SnoozeAsync).WithName("SnoozeConversation")
            .WithSummary("Snooze until a time").WithDescription("The conversation becomes pending and re-opens at `until` or when the visitor writes.");
        conversations.MapDelete("/snooze", UnsnoozeAsync).WithName("UnsnoozeConversation").WithSummary("End a snooze now");
        conversations.MapPost("/spam", SpamAsync).WithName("MarkConversationSpam").WithSummary("Mark as spam: block the visitor and close");
        conversations.MapPost("/read", ReadAsync).WithName("MarkConversationRead").WithSummary("Move your read marker forward to seq");
        conversations.MapGet("/contact", GetContactAsync).WithName("GetConversationContact").WithSummary("The visitor's profile, notes and previous conversations");
        conversations.MapPatch("/contact", UpdateContactAsync).WithName("UpdateConversationContact").WithSummary("Edit the visitor's profile");
        conversations.MapPost("/contact/block", BlockAsync).WithName("BlockContact").WithSummary("Block the visitor: no new conversations or messages");
        conversations.MapDelete("/contact/block", UnblockAsync).WithName("UnblockContact").WithSummary("Unblock the visitor");
        conversations.MapPost("/contact/notes", AddNoteAsync).WithName("AddContactNote").WithSummary("Add a note on the visitor");
        conversations.MapPut("/contact/notes/{noteId:guid}", UpdateNoteAsync).WithName("UpdateContactNote").WithSummary("Edit a note on the visitor");
        conversations.MapDelete("/contact/notes/{noteId:guid}", DeleteNoteAsync).WithName("DeleteContactNote").WithSummary("Delete a note on the visitor");

        api.MapGet("/search/messages", SearchAsync).WithTags("Search").WithName("SearchMessages")
            .WithSummary("Full-text search over the messages of every conversation you may see")
            .WithDescription("Substring match, also for Chinese (SQLite FTS5 trigram / PostgreSQL pg_trgm). Newest first; each hit has seq to jump to and highlight ranges within snippet. Pass nextCursor back as cursor.");
        api.MapGet("/console/agents", AgentsAsync).WithTags("Console").WithName("ListConsoleAgents").WithSummary("Active users an agent can transfer to");
        return app;
    }

    internal static async Task<Ok<List<CannedReplyDto>>> ListCannedAsync(CannedReplyService service, ClaimsPrincipal user, CancellationToken cancellationToken, string? q = null, Guid? conversationId = null) =>
        TypedResults.Ok(await service.ListAsync(user, q, conversationId, cancellationToken));

    internal static async Task<Created<CannedReplyDto>> CreateCannedAsync(CannedReplyRequest request, CannedReplyService service, ClaimsPrincipal user, CancellationToken cancellationToken)
    {
        var reply = await service.CreateAsync(user, request, cancellationToken);
        return TypedResults.Created($"/api/v1/canned-replies/{reply.Id}", reply);
    }

    internal static async Task<Ok<CannedPreviewDto>> PreviewCannedAsync(CannedPreviewRequest request, CannedReplyService service, ClaimsPrincipal user, CancellationToken cancellationToken) =>
        TypedResults.Ok(await service.PreviewAsync(user, request, cancellationToken));

    internal static async Task<Ok<CannedReplyDto>> UpdateCannedAsync(Guid id, CannedReplyRequest request, CannedReplyService service, ClaimsPrincipal user, CancellationToken cancellationToken) =>
        TypedResults.Ok(await service.UpdateAsync(user, id, request, cancellationToken));

    internal static async Task<NoContent> DeleteCannedAsync(Guid id, CannedReplyService service, ClaimsPrincipal user, CancellationToken cancellationToken)
    {
        await service.DeleteAsync(user, id, cancellationToken);
        return TypedResults.NoContent();
    }

    internal static async Task<Ok<List<LabelDto>>> ListLabelsAsync(LabelService service, CancellationToken cancellationToken) =>
        TypedResults.Ok(await service.ListAsync(cancellationToken));

    internal static async Task<Created<LabelDto>> CreateLabelAsync(LabelRequest request, LabelService service, CancellationToken cancellationToken)
    {
        var label = await service.CreateAsync(request, cancellationToken);
        return TypedResults.Created($"/api/v1/labels/{label.Id}", label);
    }

    internal static async Task<NoContent> DeleteLabelAsync(Guid id, LabelService service, ClaimsPrincipal user, CancellationToken cancellationToken)
    {
        await service.DeleteAsync(user, id, cancellationToken);
        return TypedResults.NoContent();
    }

    internal static async Task<Ok<ConversationLabelsDto>> SetLabelsAsync(Guid id, ConversationLabelsRequest request, LabelService service, ClaimsPrincipal user, CancellationToken cancellationToken) =>
        TypedResults.Ok(await service.SetAsync(user, id, request.LabelIds ?? [], cancellationToken));

    internal static async Task<Ok<ConversationSummary>> SnoozeAsync(Guid id, SnoozeRequest request, ConsoleConversationActions actions, ClaimsPrincipal user, CancellationToken cancellationToken) =>
        TypedResults.Ok(await actions.SnoozeAsync(user, id, request.Until, cancellationToken));

    internal static async Task<Ok<ConversationSummary>> UnsnoozeAsync(Guid id, ConsoleConversationActions actions, ClaimsPrincipal user, CancellationToken cancellationToken) =>
        TypedResults.Ok(await actions.UnsnoozeAsync(user, id, cancellationToken));

    internal static async Task<Ok<ConversationSummary>> SpamAsync(Guid id, ConsoleConversationActions actions, ClaimsPrincipal user, CancellationToken cancellationToken) =>
        TypedResults.Ok(await actions.MarkSpamAsync(user, id, cancellationToken));

    internal static async Task<Ok<ReadStateDto>> ReadAsync(Guid id, ReadMarkerRequest request, ConsoleConversationActions actions, ClaimsPrincipal user, CancellationToken cancellationToken) =>
        TypedResults.Ok(await actions.MarkReadAsync(user, id, request.Seq, cancellationToken));

    internal static async Task<Ok<ContactProfileDto>> GetContactAsync(Guid id, ContactProfileService service, ClaimsPrincipal user, CancellationToken cancellationToken) =>
        TypedResults.Ok(await service.GetAsync(user, id, cancellationToken));

    internal static async Task<Ok<ContactProfileDto>> UpdateContactAsync(Guid id, ContactUpdateRequest request, ContactProfileService service, ClaimsPrincipal user, CancellationToken cancellationToken) =>
        TypedResults.Ok(await service.UpdateAsync(user, id, request, cancellationToken));

    internal static async Task<NoContent> BlockAsync(Guid id, ConsoleConversationActions actions, ClaimsPrincipal user, CancellationToken cancellationToken)
    {
        await actions.SetContactBlockedAsync(user, id, true, cancellationToken);
        return TypedResults.NoContent();
    }

    internal static async Task<NoContent> UnblockAsync(Guid id, ConsoleConversationActions actions, ClaimsPrincipal user, CancellationToken cancellationToken)
    {
        await actions.SetContactBlockedAsync(user, id, false, cancellationToken);
        return TypedResults.NoContent();
    }

    internal static async Task<Created<ContactNoteDto>> AddNoteAsync(Guid id, ContactNoteRequest request, ContactProfileService service, ClaimsPrincipal user, CancellationToken cancellationToken)
    {
        var note = await service.AddNoteAsync(user, id, request, cancellationToken);
        return TypedResults.Created($"/api/v1/conversations/{id}/contact/notes/{note.Id}", note);
    }

    internal static async Task<Ok<ContactNoteDto>> UpdateNoteAsync(Guid id, Guid noteId, ContactNoteRequest request, ContactProfileService service, ClaimsPrincipal user, CancellationToken cancellationToken) =>
        TypedResults.Ok(await service.UpdateNoteAsync(user, id, noteId, request, cancellationToken));

    internal static async Task<NoContent> DeleteNoteAsync(Guid id, Guid noteId, ContactProfileService service, ClaimsPrincipal user, CancellationToken cancellationToken)
    {
        await service.DeleteNoteAsync(user, id, noteId, cancellationToken);
        return TypedResults.NoContent();
    }

    internal static async Task<Ok<SearchPage>> SearchAsync(MessageSearch search, ClaimsPrincipal user, CancellationToken cancellationToken, string? q = null, Guid? conversationId = null, string? cursor = null) =>
        TypedResults.Ok(await search.SearchAsync(user, q, conversationId, cursor, cancellationToken));

    internal static async Task<Ok<List<AgentDto>>> AgentsAsync(ParleyDbContext db, CancellationToken cancellationToken)
    {
        var users = await db.Users.AsNoTracking().Where(u => u.IsActive).OrderBy(u => u.DisplayName).ToListAsync(cancellationToken);
        return TypedResults.Ok(users.ConvertAll(u => new AgentDto(u.Id, u.DisplayName, u.Role.ToString().ToLowerInvariant())));
    }
}
