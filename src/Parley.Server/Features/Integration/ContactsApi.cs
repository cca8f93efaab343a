using System.Security.Claims;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using Parley.Data;
using Parley.Server.Events;
using Parley.Server.Features.Access;
using Parley.Server.Infrastructure;
using Parley.Server.Messaging;

namespace Parley.Server.Features.Integration;

public sealed record ContactDto(Guid Id, Guid SiteId, string? ExternalId, string? Name, string? Email, string? Phone, JsonObject Attributes, DateTime CreatedAt, DateTime LastSeenAt)
{
    public static ContactDto From(Contact c) => new(
        c.Id, c.SiteId, c.ExternalId, c.Name, c.Email, c.Phone,
        c.AttributesJson is { Length: > 0 } json ? JsonNode.Parse(json) as JsonObject ?? [] : [], c.CreatedAt, c.LastSeenAt);
}

/// <summary>
/// Profile fields to change; omitted fields stay. <c>attributes</c> is merged key by key (a null value removes a key).
/// </summary>
public sealed record UpdateContactRequest(string? Name = null, string? Email = null, string? Phone = null, string? ExternalId = null, JsonObject? Attributes = null);

/// <summary>Raised after a contact's profile or attributes changed.</summary>
public sealed record ContactUpdated(ContactDto Contact);

/// <summary>Contacts, their attributes and business-event timeline.</summary>
public static class ContactsApi
{
    public const int MaxAttributesLength = 16 * 1024;

    public static IEndpointRouteBuilder MapContactsApi(this IEndpointRouteBuilder app)
    {
        var contacts = app.MapGroup("/api/v1/contacts").WithTags("Contacts").RequireAuthorization(ParleyClaims.AgentPolicy).WithParleyErrors();
        contacts.MapGet("/", ListAsync).WithName("ListContacts")
            .WithSummary("Contacts, most recently seen first")
            .WithDescription("Optional filters: externalId, email (exact, case-insensitive). Pass nextCursor back as cursor for the next page.");
        contacts.MapGet("/{id:guid}", GetAsync).WithName("GetContact").WithSummary("One contact with its attributes");
        contacts.MapPatch("/{id:guid}", UpdateAsync).WithName("UpdateContact")
            .WithSummary("Change profile fields; attributes are merged key by key (null removes a key)");
        contacts.MapGet("/{id:guid}/events", TimelineAsync).WithName("ListContactEvents")
            .WithSummary("The contact's business-event timeline, newest first");
        return app;
    }

    internal static async Task<Ok<Page<ContactDto>>> ListAsync(AccessPolicy access, ClaimsPrincipal user, CancellationToken cancellationToken, string? cursor = null, int limit = 50, string? externalId = null, string? email = null)
    {
        var size = CursorPage.Limit(limit);
        var query = await access.ContactsAsync(Actor.Agent(user), cancellationToken);
        if (!string.IsNullOrWhiteSpace(externalId))
        {
            query = query.Where(c => c.ExternalId == externalId);
        }

        if (!string.IsNullOrWhiteSpace(email))
        {
            var normalized = email.Trim().ToUpperInvariant();
#pragma warning disable CA1304, CA1311, CA1862 // translated to SQL UPPER(), not run in .NET
            query = query.Where(c => c.Email != null && c.Email.ToUpper() == normalized);
#pragma warning restore CA1304, CA1311, CA1862
        }

        // Keyset over (LastSeenAt, Id) descending; the cursor carries both as "ticks:id".
        if (DecodeCursor(cursor) is var (ticks, id))
        {
            var seen = new DateTime(ticks, DateTimeKind.Utc);
            query = query.Where(c => c.LastSeenAt < seen || (c.LastSeenAt == seen && c.Id.CompareTo(id) < 0));
        }

        var rows = await query.OrderByDescending(c => c.LastSeenAt).ThenByDescending(c => c.Id).Take(size + 1).ToListAsync(cancellationToken);
        var items = rows.Take(size).Select(ContactDto.From).ToList();
        var next = rows.Count > size ? EncodeCursor(rows[size - 1]) : null;
        return TypedResults.Ok(new Page<ContactDto>(items, next));
    }

    internal static async Task<Ok<ContactDto>> GetAsync(Guid id, AccessPolicy access, ClaimsPrincipal user, CancellationToken cancellationToken) =>
        TypedResults.Ok(ContactDto.From(await (await access.ContactsAsync(Actor.Agent(user), cancellationToken)).FirstOrDefaultAsync(c => c.Id == id, cancellationToken) ?? throw new ParleyException(ErrorCatalogue.ContactNotFound)));

    /// <summary>A contact the user may not see (no visible conversation) answers like an unknown one.</summary>
    private static async Task RequireVisibleAsync(AccessPolicy access, ClaimsPrincipal user, Guid id, CancellationToken cancellationToken)
    {
        if (!await (await access.ContactsAsync(Actor.Agent(user), cancellationToken)).AnyAsync(c => c.Id == id, cancellationToken))
        {
            throw new ParleyException(ErrorCatalogue.ContactNotFound);
        }
    }

    internal static async Task<Ok<ContactDto>> UpdateAsync(Guid id, UpdateContactRequest request, ParleyDbContext db, AccessPolicy access, ClaimsPrincipal user, DomainEvents events, CancellationToken cancellationToken)
    {
        await RequireVisibleAsync(access, user, id, cancellationToken);
        var contact = await db.Contacts.FirstOrDefaultAsync(c => c.Id == id, cancellationToken) ?? throw new ParleyException(ErrorCatalogue.ContactNotFound);
        contact.Name = Field(request.Name, contact.Name, 200, "name");
        contact.Email = Field(request.Email, contact.Email, 256, "email");
        contact.Phone = Field(request.Phone, contact.Phone, 64, "phone");
        contact.ExternalId = Field(request.ExternalId, contact.ExternalId, 200, "externalId");
        if (request.Attributes is { } changes)
        {
            var attributes = contact.AttributesJson is { Length: > 0 } json ? JsonNode.Parse(json) as JsonObject ?? [] : [];
            foreach (var (key, value) in changes)
            {
                if (value is null)
                {
                    attributes.Remove(key);
                }
                else
                {
                    attributes[key] = value.DeepClone();
                }
            }

            var serialized = attributes.ToJsonString();
            if (serialized.Length > MaxAttributesLength)
            {
                throw new ParleyException(ErrorCatalogue.AttributesTooLarge, $"Attributes may hold at most {MaxAttributesLength} characters of JSON.");
            }

            contact.AttributesJson = serialized;
        }

        try
        {
            await db.SaveChangesAsync(cancellationToken);
        }
        catch (DbUpdateException)
        {
            throw new ParleyException(ErrorCatalogue.ContactExternalIdTaken, "Another contact of this site has that externalId.");
        }

        var dto = ContactDto.From(contact);
        events.Publish(new ContactUpdated(dto));
        return TypedResults.Ok(dto);
    }

    internal static async Task<Ok<Page<ContactEventDto>>> TimelineAsync(Guid id, BusinessEventService service, AccessPolicy access, ClaimsPrincipal user, CancellationToken cancellationToken, string? cursor = null, int limit = 50)
    {
        await RequireVisibleAsync(access, user, id, cancellationToken);
        return TypedResults.Ok(await service.TimelineAsync(id, cursor, limit, cancellationToken));
    }

    private static string? Field(string? value, string? current, int max, string name)
    {
        if (value is null)
        {
            return current;
        }

        value = value.Trim();
        return value.Length > max
            ? throw new ParleyException(ErrorCatalogue.InvalidRequest, $"'{name}' is longer than {max} characters.")
            : value.Length == 0 ? null : value;
    }

    private static string EncodeCursor(Contact c) =>
        System.Buffers.Text.Base64Url.EncodeToString(System.Text.Encoding.UTF8.GetBytes(
            c.LastSeenAt.Ticks.ToString(System.Globalization.CultureInfo.InvariantCulture) + ":" + c.Id));

    private static (long Ticks, Guid Id)? DecodeCursor(string? cursor)
    {
        if (string.IsNullOrEmpty(cursor))
        {
            return null;
        }

        try
        {
            var parts = System.Text.Encoding.UTF8.GetString(System.Buffers.Text.Base64Url.DecodeFromChars(cursor)).Split(':');
            if (parts.Length == 2 && long.TryParse(parts[0], System.Globalization.CultureInfo.InvariantCulture, out var ticks) && Guid.TryParse(parts[1], out var id))
            {
                return (ticks, id);
            }
        }
        catch (FormatException)
        {
        }

        throw new ParleyException(ErrorCatalogue.InvalidCursor, "The cursor is not one this API returned.");
    }
}
