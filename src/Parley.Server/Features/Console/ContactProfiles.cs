using System.Security.Claims;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Parley.Data;
using Parley.Server.Features.Conversations;
using Parley.Server.Infrastructure;
using Parley.Server.Messaging;

namespace Parley.Server.Features.Console;

public sealed record ContactNoteDto(Guid Id, string Body, Guid? AuthorId, string? AuthorName, DateTime CreatedAt, DateTime UpdatedAt);

/// <summary>One of the contact's conversations; <c>ratingScore</c>/<c>ratingComment</c> are the visitor's CSAT rating, if given.</summary>
public sealed record PreviousConversationDto(Guid Id, string Status, DateTime CreatedAt, DateTime? LastMessageAt, string? LastMessagePreview, int? RatingScore = null, string? RatingComment = null);

/// <summary>The visitor behind a conversation, as the console's context panel shows it.</summary>
public sealed record ContactProfileDto(
    Guid Id,
    string? ExternalId,
    string? Name,
    string? Email,
    string? Phone,
    JsonElement? Attributes,
    bool Blocked,
    DateTime CreatedAt,
    DateTime LastSeenAt,
    IReadOnlyList<ContactNoteDto> Notes,
    IReadOnlyList<PreviousConversationDto> Conversations);

/// <summary>Only the fields present change; an empty string clears one. attributes replaces the whole object.</summary>
public sealed record ContactUpdateRequest(string? Name, string? Email, string? Phone, JsonElement? Attributes);

public sealed record ContactNoteRequest(string? Body);

public sealed class ContactProfileService(ParleyDbContext db, ConversationScope scope, TimeProvider time)
{
    public const int MaxNoteLength = 4000;

    public async Task<ContactProfileDto> GetAsync(ClaimsPrincipal user, Guid conversationId, CancellationToken cancellationToken)
    {
        var contactId = await ContactOfAsync(user, conversationId, cancellationToken);
        var contact = await db.Contacts.AsNoTracking().FirstAsync(c => c.Id == contactId, cancellationToken);
        var notes = await db.ContactNotes.AsNoTracking().Where(n => n.ContactId == contactId).OrderByDescending(n => n.CreatedAt).Take(100)
            .Select(n => new ContactNoteDto(n.Id, n.Body, n.AuthorId, n.AuthorName, n.CreatedAt, n.UpdatedAt)).ToListAsync(cancellationToken);
        var previous = await (await scope.VisibleConversationsAsync(user, cancellationToken)).Where(c => c.ContactId == contactId).OrderByDescending(c => c.CreatedAt).Take(20)
            .ToListAsync(cancellationToken);
        var ids = previous.ConvertAll(c => c.Id);
        var ratings = await db.ConversationRatings.AsNoTracking().Where(r => ids.Contains(r.ConversationId))
            .ToDictionaryAsync(r => r.ConversationId, r => (r.Score, r.Comment), cancellationToken);
        return new ContactProfileDto(
            contact.Id,
            contact.ExternalId,
            contact.Name,
            contact.Email,
            contact.Phone,
            ParseAttributes(contact.AttributesJson),
            contact.BlockedAt is not null,
            contact.CreatedAt,
            contact.LastSeenAt,
            notes,
            previous.ConvertAll(c => ratings.TryGetValue(c.Id, out var r)
                ? new PreviousConversationDto(c.Id, WireNames.Of(c.Status), c.CreatedAt, c.LastMessageAt, c.LastMessagePreview, r.Score, r.Comment)
                : new PreviousConversationDto(c.Id, WireNames.Of(c.Status), c.CreatedAt, c.LastMessageAt, c.LastMessagePreview)));
    }

    public async Task<ContactProfileDto> UpdateAsync(ClaimsPrincipal user, Guid conversationId, ContactUpdateRequest request, CancellationToken cancellationToken)
    {
        var contactId = await ContactOfAsync(user, conversationId, cancellationToken);
        var contact = await db.Contacts.FirstAsync(c => c.Id == contactId, cancellationToken);
        if (request.Name is not null)
        {
            contact.Name = Field(request.Name, 200, "name", ErrorCatalogue.InvalidName);
        }

        if (request.Email is not null)
        {
            var email = Field(request.Email, 256, "email", ErrorCatalogue.InvalidEmail);
            if (email is not null && (!email.Contains('@', StringComparison.Ordinal) || email.Any(char.IsWhiteSpace)))
            {
                throw new ParleyException(ErrorCatalogue.InvalidEmail, "The email address is not valid.");
            }

            contact.Email = email;
        }

        if (request.Phone is not null)
        {
            contact.Phone = Field(request.Phone, 64, "phone", ErrorCatalogue.InvalidPhone);
        }

        if (request.Attributes is { } attributes)
        {
            if (attributes.ValueKind is not (JsonValueKind.Object or JsonValueKind.Null))
            {
                throw new ParleyException(ErrorCatalogue.InvalidAttributes, "attributes must be a JSON object.");
            }

            var json = attributes.ValueKind == JsonValueKind.Null ? null : attributes.GetRawText();
            if (json is { Length: > 16_000 })
            {
                throw new ParleyException(ErrorCatalogue.InvalidAttributes, "attributes must be at most 16,000 characters of JSON.");
            }

            contact.AttributesJson = json;
        }

        await db.SaveChangesAsync(cancellationToken);
        return await GetAsync(user, conversationId, cancellationToken);
    }

    public async Task<ContactNoteDto> AddNoteAsync(ClaimsPrincipal user, Guid conversationId, ContactNoteRequest request, CancellationToken cancellationToken)
    {
        var contactId = await ContactOfAsync(user, conversationId, cancellationToken);
        var actor = Actor.Agent(user);
        var now = time.GetUtcNow().UtcDateTime;
        var note = new ContactNote { Id = Guid.CreateVersion7(), ContactId = contactId, AuthorId = actor.PrincipalId, AuthorName = actor.Name, Body = NoteBody(request), CreatedAt = now, UpdatedAt = now };
        db.ContactNotes.Add(note);
        await db.SaveChangesAsync(cancellationToken);
        return new ContactNoteDto(note.Id, note.Body, note.AuthorId, note.AuthorName, note.CreatedAt, note.UpdatedAt);
    }

    public async Task<ContactNoteDto> UpdateNoteAsync(ClaimsPrincipal user, Guid conversationId, Guid noteId, ContactNoteRequest request, CancellationToken cancellationToken)
    {
        var note = await EditableNoteAsync(user, conversationId, noteId, cancellationToken);
        note.Body = NoteBody(request);
        note.UpdatedAt = time.GetUtcNow().UtcDateTime;
        await db.SaveChangesAsync(cancellationToken);
        return new ContactNoteDto(note.Id, note.Body, note.AuthorId, note.AuthorName, note.CreatedAt, note.UpdatedAt);
    }

    public async Task DeleteNoteAsync(ClaimsPrincipal user, Guid conversationId, Guid noteId, CancellationToken cancellationToken)
    {
        var note = await EditableNoteAsync(user, conversationId, noteId, cancellationToken);
        db.ContactNotes.Remove(note);
        await db.SaveChangesAsync(cancellationToken);
    }

    private async Task<ContactNote> EditableNoteAsync(ClaimsPrincipal user, Guid conversationId, Guid noteId, CancellationToken cancellationToken)
    {
        var contactId = await ContactOfAsync(user, conversationId, cancellationToken);
        var note = await db.ContactNotes.FirstOrDefaultAsync(n => n.Id == noteId && n.ContactId == contactId, cancellationToken)
            ?? throw new ParleyException(ErrorCatalogue.NoteNotFound);
        if (note.AuthorId != Actor.Agent(user).PrincipalId && !user.IsInRole("admin") && !user.IsInRole("supervisor"))
        {
            throw new ParleyException(ErrorCatalogue.Forbidden, "Only the author (or a supervisor) edits a note.");
        }

        return note;
    }

    private async Task<Guid> ContactOfAsync(ClaimsPrincipal user, Guid conversationId, CancellationToken cancellationToken) =>
        (await scope.RequireAsync(user, conversationId, Access.ConversationAction.Read, cancellationToken)).ContactId;

    private static string NoteBody(ContactNoteRequest request)
    {
        var body = (request.Body ?? "").Trim();
        return body.Length is > 0 and <= MaxNoteLength ? body : throw new ParleyException(ErrorCatalogue.InvalidBody, $"The note must be 1-{MaxNoteLength} characters.");
    }

    private static string? Field(string value, int max, string name, ErrorCode error)
    {
        var trimmed = value.Trim();
        if (trimmed.Length > max)
        {
            throw new ParleyException(error, $"'{name}' must be at most {max} characters.");
        }

        return trimmed.Length == 0 ? null : trimmed;
    }

    private static JsonElement? ParseAttributes(string? json)
    {
        if (string.IsNullOrEmpty(json))
        {
            return null;
        }

        try
        {
            using var doc = JsonDocument.Parse(json);
            return doc.RootElement.Clone();
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
