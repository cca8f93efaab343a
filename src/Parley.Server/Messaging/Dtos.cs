using MessagePack;
using Parley.Data;

namespace Parley.Server.Messaging;

// Wire shapes shared by REST, both hubs and (later) gRPC. The MessagePack keys are the same camelCase names
// System.Text.Json produces, so the JSON and MessagePack hub protocols carry identical documents.

/// <summary>A stored message as clients see it.</summary>
[MessagePackObject]
public sealed record MessageDto
{
    [Key("id")] public long Id { get; init; }

    [Key("conversationId")] public Guid ConversationId { get; init; }

    /// <summary>Per-conversation sequence in the audience's numbering (visitors: <see cref="Message.VisitorSeq"/>).</summary>
    [Key("seq")] public long Seq { get; init; }

    [Key("clientId")] public Guid ClientId { get; init; }

    [Key("senderKind")] public required string SenderKind { get; init; }

    [Key("senderId")] public Guid? SenderId { get; init; }

    [Key("senderName")] public string? SenderName { get; init; }

    [Key("kind")] public required string Kind { get; init; }

    [Key("body")] public required string Body { get; init; }

    [Key("createdAt")] public DateTime CreatedAt { get; init; }
}

[MessagePackObject]
public sealed class SendRequest
{
    [Key("conversationId")] public string? ConversationId { get; set; }

    [Key("clientId")] public string? ClientId { get; set; }

    [Key("body")] public string? Body { get; set; }

    /// <summary>Agents only: store as an internal note.</summary>
    [Key("note")] public bool Note { get; set; }

    /// <summary>
    /// Console users and API tokens only: send as a bot (an automated reply: FAQ, order status, a notification)
    /// under <see cref="BotName"/>; needs the same right as replying. Ignored for visitors.
    /// </summary>
    [Key("asBot")] public bool AsBot { get; set; }

    /// <summary>The name visitors see for a bot message (at most 100 characters); "Bot" when empty.</summary>
    [Key("botName")] public string? BotName { get; set; }
}

[MessagePackObject]
public sealed record SendAck
{
    [Key("conversationId")] public Guid ConversationId { get; init; }

    [Key("clientId")] public Guid ClientId { get; init; }

    [Key("id")] public long Id { get; init; }

    [Key("seq")] public long Seq { get; init; }

    [Key("createdAt")] public DateTime CreatedAt { get; init; }

    [Key("duplicate")] public bool Duplicate { get; init; }
}

[MessagePackObject]
public sealed class ResumeRequest
{
    [Key("conversationId")] public string? ConversationId { get; set; }

    [Key("afterSeq")] public long AfterSeq { get; set; }
}

[MessagePackObject]
public sealed record ReplayDto
{
    [Key("conversationId")] public Guid ConversationId { get; init; }

    [Key("messages")] public required IReadOnlyList<MessageDto> Messages { get; init; }

    [Key("lastSeq")] public long LastSeq { get; init; }

    [Key("truncated")] public bool Truncated { get; init; }

    [Key("status")] public required string Status { get; init; }

    /// <summary>How far the other side has read, in the caller's numbering (read receipts after a reload).</summary>
    [Key("peerReadSeq")] public long PeerReadSeq { get; init; }
}

[MessagePackObject]
public sealed record ConversationInfo
{
    public static ConversationInfo From(Conversation c) => new()
    {
        Id = c.Id,
        Status = WireNames.Of(c.Status),
        LastSeq = c.LastVisitorSeq,
        CreatedAt = c.CreatedAt,
    };

    [Key("id")] public Guid Id { get; init; }

    [Key("status")] public required string Status { get; init; }

    [Key("lastSeq")] public long LastSeq { get; init; }

    [Key("createdAt")] public DateTime CreatedAt { get; init; }
}

[MessagePackObject]
public sealed record ConversationSummary
{
    [Key("id")] public Guid Id { get; init; }

    [Key("siteId")] public Guid SiteId { get; init; }

    [Key("contactId")] public Guid ContactId { get; init; }

    [Key("contactName")] public string? ContactName { get; init; }

    [Key("status")] public required string Status { get; init; }

    [Key("assigneeId")] public Guid? AssigneeId { get; init; }

    [Key("assigneeName")] public string? AssigneeName { get; init; }

    /// <summary>The department (team) the conversation belongs to; null while unrouted.</summary>
    [Key("teamId")] public Guid? TeamId { get; init; }

    [Key("lastSeq")] public long LastSeq { get; init; }

    [Key("lastMessageAt")] public DateTime? LastMessageAt { get; init; }

    [Key("lastMessagePreview")] public string? LastMessagePreview { get; init; }

    [Key("lastMessageSenderKind")] public string? LastMessageSenderKind { get; init; }

    [Key("createdAt")] public DateTime CreatedAt { get; init; }

    /// <summary>Set while the conversation is snoozed (status pending).</summary>
    [Key("snoozedUntil")] public DateTime? SnoozedUntil { get; init; }

    /// <summary>Since when the visitor has been waiting for an agent's answer; null when answered.</summary>
    [Key("waitingSince")] public DateTime? WaitingSince { get; init; }

    /// <summary>What the conversation is about: complaint, consult, sales, after_sales, greeting or an admin-defined intent (docs/ai.md).</summary>
    [Key("intent")] public string? Intent { get; init; }

    /// <summary>Set while a human-takeover alert is raised: asked_for_person, repeated_question, angry, frustration_rising or bot_failed.</summary>
    [Key("takeoverReason")] public string? TakeoverReason { get; init; }

    /// <summary>When the current takeover alert was raised.</summary>
    [Key("takeoverAlertedAt")] public DateTime? TakeoverAlertedAt { get; init; }
}

/// <summary>Lower-case wire names for the persisted enums.</summary>
public static class WireNames
{
    public static string Of(SenderKind kind) => kind switch
    {
        SenderKind.Visitor => "visitor",
        SenderKind.Agent => "agent",
        SenderKind.System => "system",
        SenderKind.Bot => "bot",
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    public static string Of(MessageKind kind) => kind switch
    {
        MessageKind.Text => "text",
        MessageKind.Note => "note",
        MessageKind.Event => "event",
        MessageKind.Attachment => "attachment",
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    public static string Of(ConversationStatus status) => status switch
    {
        ConversationStatus.Open => "open",
        ConversationStatus.Pending => "pending",
        ConversationStatus.Closed => "closed",
        _ => throw new ArgumentOutOfRangeException(nameof(status)),
    };
}
