using System.Security.Claims;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Protocol;
using Microsoft.EntityFrameworkCore;
using Parley.Data;
using Parley.Server.Events;
using Parley.Server.Infrastructure;
using Parley.Server.Realtime;

namespace Parley.Server.Features.Integration;

/// <summary>Identifies a contact by one of the ids a business system knows (checked in this order).</summary>
public sealed record ContactRefInput(
    [property: JsonPropertyName("external_id")] string? ExternalId = null,
    [property: JsonPropertyName("email")] string? Email = null,
    [property: JsonPropertyName("phone")] string? Phone = null);

/// <summary>Body of <c>POST /api/v1/events</c> (snake_case, as business systems send it).</summary>
public sealed record BusinessEventRequest(
    [property: JsonPropertyName("event_type")] string? EventType,
    [property: JsonPropertyName("contact")] ContactRefInput? Contact,
    [property: JsonPropertyName("data")] JsonElement? Data = null,
    [property: JsonPropertyName("occurred_at")] DateTimeOffset? OccurredAt = null,
    [property: JsonPropertyName("site_key")] string? SiteKey = null);

public sealed record BusinessEventReply(long Id, Guid ContactId, long EventId, string EventType, DateTime OccurredAt);

/// <summary>A timeline entry as the console and the REST API show it.</summary>
public sealed record ContactEventDto(long Id, Guid ContactId, string EventType, JsonElement Data, DateTime OccurredAt, DateTime ReceivedAt, string? Source);

/// <summary>Raised after a business event is stored on a contact's timeline.</summary>
public sealed record ContactEventRecorded(ContactEventDto Event, IReadOnlyList<Guid> ConversationIds);

/// <summary>
/// The one handler for inbound business events (REST JSON, REST protobuf, gRPC): resolves the contact, stores the
/// timeline entry and its integration event in one transaction, then raises <see cref="ContactEventRecorded"/>.
/// </summary>
public sealed partial class BusinessEventService(ParleyDbContext db, DomainEvents events, IntegrationEventSignal signal, TimeProvider time)
{
    public const int MaxDataLength = 64 * 1024;
    private static readonly string[] WellKnown = ["ORDER", "CUSTOMER", "TICKET"];

    public async Task<BusinessEventReply> RecordAsync(BusinessEventRequest request, ClaimsPrincipal caller, CancellationToken cancellationToken)
    {
        var type = NormalizeType(request.EventType);
        var data = request.Data is { ValueKind: not JsonValueKind.Undefined and not JsonValueKind.Null } d ? d : JsonSerializer.SerializeToElement(new { });
        if (data.ValueKind != JsonValueKind.Object)
        {
            throw new ParleyException(ErrorCatalogue.EventDataInvalid, "'data' must be a JSON object.");
        }

        var dataJson = data.GetRawText();
        if (dataJson.Length > MaxDataLength)
        {
            throw new ParleyException(ErrorCatalogue.EventDataTooLarge, $"'data' is larger than {MaxDataLength} bytes.");
        }

        var contact = await ResolveContactAsync(request.Contact, request.SiteKey, cancellationToken);
        var now = time.GetUtcNow().UtcDateTime;
        var occurredAt = request.OccurredAt?.UtcDateTime ?? now;
        var source = caller.FindFirstValue(ClaimTypes.Name) ?? caller.FindFirstValue(ClaimTypes.NameIdentifier);
        var row = new ContactEvent { ContactId = contact.Id, EventType = type, DataJson = dataJson, OccurredAt = occurredAt, ReceivedAt = now, Source = source };

        // The timeline entry and its integration event (webhooks, gRPC) are stored together or not at all.
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        db.ContactEvents.Add(row);
        await db.SaveChangesAsync(cancellationToken);
        var dto = new ContactEventDto(row.Id, contact.Id, type, data.Clone(), occurredAt, now, source);
        var integration = await IntegrationEventLog.AddAsync(
            db, new IntegrationEventDraft(IntegrationEventTypes.BusinessPrefix + type.ToLowerInvariant(), null, contact.Id, dto), now, cancellationToken);
        await db.SaveChangesAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        signal.Notify();

        var conversations = await db.Conversations.AsNoTracking().Where(c => c.ContactId == contact.Id).Select(c => c.Id).ToListAsync(cancellationToken);
        events.Publish(new ContactEventRecorded(dto, conversations));
        return new BusinessEventReply(row.Id, contact.Id, integration.Id, type, occurredAt);
    }

    public async Task<Page<ContactEventDto>> TimelineAsync(Guid contactId, string? cursor, int limit, CancellationToken cancellationToken)
    {
        if (!await db.Contacts.AnyAsync(c => c.Id == contactId, cancellationToken))
        {
            throw new ParleyException(ErrorCatalogue.ContactNotFound);
        }

        var size = CursorPage.Limit(limit);
        var query = db.ContactEvents.AsNoTracking().Where(e => e.ContactId == contactId);
        if (CursorPage.Decode<long>(cursor) is { } before)
        {
            query = query.Where(e => e.Id < before);
        }

        var rows = await query.OrderByDescending(e => e.Id).Take(size + 1).ToListAsync(cancellationToken);
        return CursorPage.Build(rows, size, ToDto, r => r.Id);
    }

    internal static ContactEventDto ToDto(ContactEvent e)
    {
        using var doc = JsonDocument.Parse(e.DataJson);
        return new(e.Id, e.ContactId, e.EventType, doc.RootElement.Clone(), e.OccurredAt, e.ReceivedAt, e.Source);
    }

    private static string NormalizeType(string? value)
    {
        var type = value?.Trim() ?? "";
        if (WellKnown.FirstOrDefault(w => string.Equals(w, type, StringComparison.OrdinalIgnoreCase)) is { } known)
        {
            return known;
        }

        return CustomType().IsMatch(type)
            ? type
            : throw new ParleyException(ErrorCatalogue.EventTypeInvalid, "'event_type' must be ORDER, CUSTOMER, TICKET or a custom name of letters, digits, '_', '-' and '.' (at most 64).");
    }

    private async Task<Contact> ResolveContactAsync(ContactRefInput? reference, string? siteKey, CancellationToken cancellationToken)
    {
        var externalId = reference?.ExternalId?.Trim();
        var email = reference?.Email?.Trim();
        var phone = reference?.Phone?.Trim();
        if (string.IsNullOrEmpty(externalId) && string.IsNullOrEmpty(email) && string.IsNullOrEmpty(phone))
        {
            throw new ParleyException(ErrorCatalogue.ContactRequired, "'contact' needs an external_id, email or phone.");
        }

        Guid? siteId = null;
        if (!string.IsNullOrWhiteSpace(siteKey))
        {
            siteId = await db.Sites.Where(s => s.Key == siteKey).Select(s => (Guid?)s.Id).FirstOrDefaultAsync(cancellationToken)
                ?? throw new ParleyException(ErrorCatalogue.SiteNotFound);
        }

        var contacts = db.Contacts.Where(c => siteId == null || c.SiteId == siteId);
        List<Contact> matches = [];
        if (!string.IsNullOrEmpty(externalId))
        {
            matches = await contacts.Where(c => c.ExternalId == externalId).Take(2).ToListAsync(cancellationToken);
        }

        if (matches.Count == 0 && !string.IsNullOrEmpty(email))
        {
            var normalized = email.ToUpperInvariant();
#pragma warning disable CA1304, CA1311, CA1862 // translated to SQL UPPER(), not run in .NET
            matches = await contacts.Where(c => c.Email != null && c.Email.ToUpper() == normalized).OrderByDescending(c => c.LastSeenAt).Take(2).ToListAsync(cancellationToken);
#pragma warning restore CA1304, CA1311, CA1862
        }

        if (matches.Count == 0 && !string.IsNullOrEmpty(phone))
        {
            matches = await contacts.Where(c => c.Phone == phone).OrderByDescending(c => c.LastSeenAt).Take(2).ToListAsync(cancellationToken);
        }

        if (matches.Count > 1 && siteId is null && matches[0].SiteId != matches[1].SiteId)
        {
            throw new ParleyException(ErrorCatalogue.ContactAmbiguous, "The contact exists on several sites; pass site_key.");
        }

        if (matches.Count > 0)
        {
            return matches[0];
        }

        if (siteId is null)
        {
            throw new ParleyException(ErrorCatalogue.ContactNotFound, "No contact matches; pass site_key to create it.");
        }

        // A customer the business knows before they ever chatted: create them so the timeline is there when they do.
        var now = time.GetUtcNow().UtcDateTime;
        var contact = new Contact { Id = Guid.CreateVersion7(), SiteId = siteId.Value, ExternalId = NullIfEmpty(externalId), Email = NullIfEmpty(email), Phone = NullIfEmpty(phone), CreatedAt = now, LastSeenAt = now };
        db.Contacts.Add(contact);
        return contact;
    }

    private static string? NullIfEmpty(string? value) => string.IsNullOrEmpty(value) ? null : value;

    [GeneratedRegex("^[A-Za-z0-9_.-]{1,64}$")]
    private static partial Regex CustomType();
}

/// <summary>Pushes new timeline entries to agents who have one of the contact's conversations open (hub event <c>contactEvent</c>).</summary>
internal sealed class ContactEventFanout(ConnectionRegistry registry) : IDomainEventListener<ContactEventRecorded>
{
    public const string HubEvent = "contactEvent";

    public void Handle(ContactEventRecorded domainEvent)
    {
        SerializedHubMessage? serialized = null;
        HashSet<string>? sent = null;
        foreach (var conversationId in domainEvent.ConversationIds)
        {
            foreach (var connection in registry.SubscribersOf(conversationId))
            {
                if (connection.Audience != Audience.Agent || !(sent ??= []).Add(connection.ConnectionId))
                {
                    continue;
                }

                serialized ??= new SerializedHubMessage(new InvocationMessage(HubEvent, [ContactEventMessage.From(domainEvent.Event)]));
                connection.Enqueue(serialized);
            }
        }
    }
}

/// <summary>
/// The <c>contactEvent</c> hub payload. <c>data</c> travels as JSON text so the JSON and MessagePack hub
/// protocols carry the same document.
/// </summary>
[MessagePack.MessagePackObject]
public sealed record ContactEventMessage
{
    [MessagePack.Key("id")] public long Id { get; init; }

    [MessagePack.Key("contactId")] public Guid ContactId { get; init; }

    [MessagePack.Key("eventType")] public required string EventType { get; init; }

    [MessagePack.Key("dataJson")] public required string DataJson { get; init; }

    [MessagePack.Key("occurredAt")] public DateTime OccurredAt { get; init; }

    [MessagePack.Key("source")] public string? Source { get; init; }

    public static ContactEventMessage From(ContactEventDto e) => new()
    {
        Id = e.Id,
        ContactId = e.ContactId,
        EventType = e.EventType,
        DataJson = e.Data.GetRawText(),
        OccurredAt = e.OccurredAt,
        Source = e.Source,
    };
}
