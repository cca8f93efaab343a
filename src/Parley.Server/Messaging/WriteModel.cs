using Parley.Data;

namespace Parley.Server.Messaging;

/// <summary>One message to store. Guards are checked against the locked conversation row inside the batch.</summary>
public sealed record WriteCommand(
    Guid ConversationId,
    Guid ClientId,
    SenderKind SenderKind,
    Guid? SenderId,
    string? SenderName,
    MessageKind Kind,
    string Body)
{
    /// <summary>When set, the conversation must belong to this contact (a visitor writing to its own conversation).</summary>
    public Guid? RequiredContactId { get; init; }

    /// <summary>
    /// When set, the conversation must be visible to this console user (the department sandbox,
    /// <see cref="Features.Access.AccessScope.CanSee"/>), checked against the locked row: an agent's send needs no query
    /// of its own, and a transfer committed just before it is seen.
    /// </summary>
    public Features.Access.AccessScope? RequiredScope { get; init; }

    /// <summary>Refuse to write into a closed conversation (visitors start a new one instead).</summary>
    public bool RejectIfClosed { get; init; }

    /// <summary>Inbox preview when the body itself is not readable text (an attachment's JSON description).</summary>
    public string? PreviewText { get; init; }

    /// <summary>Whether a stored message with this command's client id is a retry of it: the same sender, never another's.</summary>
    public bool IsRetryOf(Message original) => original.SenderKind == SenderKind && original.SenderId == SenderId;
}

public enum WriteOutcome
{
    Stored,
    Duplicate,
    NotFound,
    Closed,

    /// <summary>The visitor's contact is blocked.</summary>
    Blocked,

    /// <summary>
    /// The client id is already stored in this conversation, but by another sender: a retry only ever matches the
    /// same sender's message, so this is refused instead of answered with someone else's acknowledgement.
    /// </summary>
    ClientIdTaken,
}

public readonly record struct WriteResult(WriteOutcome Outcome, Message? Message);

/// <summary>
/// The conversation row as it stands after a commit; enough to describe it to agents without a query. Built only by
/// <see cref="From"/>: a copy made field by field elsewhere drifted once (the cluster relay's lost WaitingSince and
/// SnoozedUntil, so inboxes refreshed after a Redis outage lost their waiting order and snoozed filter).
/// </summary>
public sealed record ConversationState
{
    // The cluster bus deserializes it (JSON) on the other nodes.
    [System.Text.Json.Serialization.JsonConstructor]
    private ConversationState()
    {
    }

    /// <summary>The one way to describe a conversation row (plus the names joined from its contact and assignee).</summary>
    public static ConversationState From(Conversation conversation, string? contactName, string? assigneeName, bool contactBlocked = false) => new()
    {
        Id = conversation.Id,
        SiteId = conversation.SiteId,
        ContactId = conversation.ContactId,
        ContactName = contactName,
        Status = conversation.Status,
        AssigneeId = conversation.AssigneeId,
        AssigneeName = assigneeName,
        TeamId = conversation.TeamId,
        SnoozedUntil = conversation.SnoozedUntil,
        WaitingSince = conversation.WaitingSince,
        BotActive = conversation.BotActive,
        ContactBlocked = contactBlocked,
        LastSeq = conversation.LastSeq,
        LastVisitorSeq = conversation.LastVisitorSeq,
        CreatedAt = conversation.CreatedAt,
        LastMessageAt = conversation.LastMessageAt,
        LastMessagePreview = conversation.LastMessagePreview,
        LastMessageSenderKind = conversation.LastMessageSenderKind,
        Intent = conversation.Intent,
        TakeoverReason = conversation.TakeoverAlertedAt is null ? null : conversation.TakeoverReason,
        TakeoverAlertedAt = conversation.TakeoverAlertedAt,
        RoutingWaitUntil = conversation.RoutingWaitUntil,
    };

    public Guid Id { get; init; }

    /// <summary>The bot has the conversation (bot-first): listeners answer with the knowledge base instead of routing.</summary>
    public bool BotActive { get; init; }

    public Guid SiteId { get; init; }

    public Guid ContactId { get; init; }

    public string? ContactName { get; init; }

    public ConversationStatus Status { get; init; }

    public Guid? AssigneeId { get; init; }

    public string? AssigneeName { get; init; }

    /// <summary>The conversation's department; the access policy filters fan-out by it.</summary>
    public Guid? TeamId { get; init; }

    public DateTime? SnoozedUntil { get; init; }

    /// <summary>Since when the visitor waits for an answer; maintained by the write path.</summary>
    public DateTime? WaitingSince { get; set; }

    /// <summary>The contact is blocked (spam): its messages are refused. Not sent to clients.</summary>
    public bool ContactBlocked { get; init; }

    public long LastSeq { get; set; }

    public long LastVisitorSeq { get; set; }

    public DateTime CreatedAt { get; init; }

    public DateTime? LastMessageAt { get; set; }

    public string? LastMessagePreview { get; set; }

    public SenderKind? LastMessageSenderKind { get; set; }

    /// <summary>What the conversation is about (docs/ai.md); null until the visitor wrote more than a greeting.</summary>
    public string? Intent { get; init; }

    /// <summary>Why a person should take over, while a takeover alert is raised; else null.</summary>
    public string? TakeoverReason { get; init; }

    public DateTime? TakeoverAlertedAt { get; init; }

    /// <summary>
    /// Until when routing waits for the visitor's first message (intent routing); null once routed. Read after the
    /// commit by the visitor reader, so a message needs no query to know; not sent to clients.
    /// </summary>
    public DateTime? RoutingWaitUntil { get; init; }

    public ConversationSummary ToSummary() => new()
    {
        Id = Id,
        SiteId = SiteId,
        ContactId = ContactId,
        ContactName = ContactName,
        Status = WireNames.Of(Status),
        AssigneeId = AssigneeId,
        AssigneeName = AssigneeName,
        TeamId = TeamId,
        LastSeq = LastSeq,
        LastMessageAt = LastMessageAt,
        LastMessagePreview = LastMessagePreview,
        LastMessageSenderKind = LastMessageSenderKind is { } k ? WireNames.Of(k) : null,
        CreatedAt = CreatedAt,
        SnoozedUntil = SnoozedUntil,
        WaitingSince = WaitingSince,
        Intent = Intent,
        TakeoverReason = TakeoverReason,
        TakeoverAlertedAt = TakeoverAlertedAt,
    };

    public static string Preview(string body) => body.Length <= 140 ? body : string.Concat(body.AsSpan(0, 139), "…");
}
