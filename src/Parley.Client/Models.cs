using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace Parley.Client;

/// <summary>A page of a cursor-paginated list; pass <see cref="NextCursor"/> back for the next page (null on the last).</summary>
/// <typeparam name="T">The item type.</typeparam>
/// <param name="Items">Items of this page.</param>
/// <param name="NextCursor">Opaque cursor of the next page.</param>
public sealed record Page<T>(IReadOnlyList<T> Items, string? NextCursor);

/// <summary>Identifies a contact by one of the ids your system knows; the server tries them in this order.</summary>
/// <param name="ExternalId">Your customer id (set on the contact by identity verification or the contacts API).</param>
/// <param name="Email">E-mail address, compared case-insensitively.</param>
/// <param name="Phone">Phone number, compared exactly.</param>
public sealed record ContactRef(
    [property: JsonPropertyName("external_id")] string? ExternalId = null,
    [property: JsonPropertyName("email")] string? Email = null,
    [property: JsonPropertyName("phone")] string? Phone = null);

/// <summary>A business event for <c>POST /api/v1/events</c>.</summary>
/// <param name="EventType">ORDER, CUSTOMER, TICKET or a custom name.</param>
/// <param name="Contact">Whose timeline it goes on.</param>
/// <param name="Data">Any JSON object (at most 64 KB).</param>
/// <param name="OccurredAt">When it happened in your system; defaults to now.</param>
/// <param name="SiteKey">Restricts the contact search to one site; needed to create an unknown contact.</param>
public sealed record BusinessEvent(
    [property: JsonPropertyName("event_type")] string EventType,
    [property: JsonPropertyName("contact")] ContactRef Contact,
    [property: JsonPropertyName("data")] object? Data = null,
    [property: JsonPropertyName("occurred_at")] DateTimeOffset? OccurredAt = null,
    [property: JsonPropertyName("site_key")] string? SiteKey = null);

/// <summary>The stored business event.</summary>
/// <param name="Id">Timeline entry id.</param>
/// <param name="ContactId">The contact it was recorded for.</param>
/// <param name="EventId">Id in the integration log (what <see cref="ParleyClient.SubscribeAsync"/> streams).</param>
/// <param name="EventType">Normalized type.</param>
/// <param name="OccurredAt">When it happened.</param>
public sealed record BusinessEventReply(long Id, Guid ContactId, long EventId, string EventType, DateTime OccurredAt);

/// <summary>A contact with its custom attributes.</summary>
/// <param name="Id">Contact id.</param>
/// <param name="SiteId">The site the contact belongs to.</param>
/// <param name="ExternalId">Your customer id, when known.</param>
/// <param name="Name">Display name.</param>
/// <param name="Email">E-mail address.</param>
/// <param name="Phone">Phone number.</param>
/// <param name="Attributes">Custom attributes.</param>
/// <param name="CreatedAt">First seen.</param>
/// <param name="LastSeenAt">Last seen.</param>
public sealed record Contact(Guid Id, Guid SiteId, string? ExternalId, string? Name, string? Email, string? Phone, JsonObject Attributes, DateTime CreatedAt, DateTime LastSeenAt);

/// <summary>The acknowledgement of a sent message.</summary>
/// <param name="ConversationId">Conversation.</param>
/// <param name="ClientId">The client id the message was sent with.</param>
/// <param name="Id">Message id.</param>
/// <param name="Seq">Sequence number in the conversation.</param>
/// <param name="CreatedAt">Server time the message was stored.</param>
/// <param name="Duplicate">True when this repeated an earlier send with the same client id.</param>
public sealed record SendAck(Guid ConversationId, Guid ClientId, long Id, long Seq, DateTime CreatedAt, bool Duplicate);

/// <summary>An event of the integration log (the same one webhooks deliver).</summary>
/// <param name="Id">Ascending id; resume from the last one you processed.</param>
/// <param name="Type">For example <c>message.created</c>, <c>conversation.closed</c>, <c>business.order</c>.</param>
/// <param name="ConversationId">The conversation, when the event is about one.</param>
/// <param name="ContactId">The contact, when the event is about one.</param>
/// <param name="Data">The event's data object.</param>
/// <param name="CreatedAt">When it was recorded.</param>
public sealed record ParleyEvent(long Id, string Type, Guid? ConversationId, Guid? ContactId, JsonElement Data, DateTime CreatedAt);

/// <summary>A non-success answer of the REST API (RFC 9457 problem details with a stable code).</summary>
public sealed class ParleyApiException : Exception
{
    /// <summary>Creates the exception.</summary>
    /// <param name="status">HTTP status code.</param>
    /// <param name="code">The problem's stable <c>code</c>, when present.</param>
    /// <param name="message">The problem's title or detail.</param>
    public ParleyApiException(int status, string? code, string message)
        : base(message)
    {
        Status = status;
        Code = code;
    }

    /// <summary>HTTP status code.</summary>
    public int Status { get; }

    /// <summary>Stable error code, e.g. <c>contact_not_found</c>.</summary>
    public string? Code { get; }
}
