namespace Parley.Data;

/// <summary>
/// A prepared answer an agent inserts with <c>/shortcut</c>. Personal when it has an owner, shared when it has none
/// (with every agent, or with some departments: <see cref="TeamsOnly"/>). The body may contain variables such as <c>{{visitor.name}}</c>, expanded when used.
/// </summary>
public sealed class CannedReply
{
    public Guid Id { get; set; }

    /// <summary>The agent it belongs to; null for a reply shared with everyone.</summary>
    public Guid? OwnerId { get; set; }

    /// <summary>Lower-case word typed after <c>/</c>, without the slash.</summary>
    public required string Shortcut { get; set; }

    public required string Body { get; set; }

    /// <summary>
    /// A shared reply limited to the departments in <see cref="CannedReplyTeam"/>; false: shared with everyone. Kept
    /// apart from the rows so that deleting the last of its teams hides the reply (admins still see it) instead of
    /// sharing it with everyone.
    /// </summary>
    public bool TeamsOnly { get; set; }

    public DateTime CreatedAt { get; set; }

    public DateTime UpdatedAt { get; set; }
}

/// <summary>A department (team) a shared canned reply is limited to.</summary>
public sealed class CannedReplyTeam
{
    public Guid CannedReplyId { get; set; }

    public Guid TeamId { get; set; }
}

/// <summary>A tag agents put on conversations ("billing", "vip") to filter the inbox by.</summary>
public sealed class Label
{
    public Guid Id { get; set; }

    public required string Name { get; set; }

    /// <summary>CSS hex colour, e.g. <c>#2563eb</c>.</summary>
    public required string Color { get; set; }

    public DateTime CreatedAt { get; set; }
}

public sealed class ConversationLabel
{
    public Guid ConversationId { get; set; }

    public Guid LabelId { get; set; }
}

/// <summary>How far one agent has read one conversation; unread counts are the conversation's seq beyond it.</summary>
public sealed class ReadMarker
{
    public Guid ConversationId { get; set; }

    public Guid UserId { get; set; }

    public long LastReadSeq { get; set; }

    public DateTime UpdatedAt { get; set; }
}

/// <summary>An agent's note on a contact (visible to agents only), editable by its author.</summary>
public sealed class ContactNote
{
    public Guid Id { get; set; }

    public Guid ContactId { get; set; }

    public Guid? AuthorId { get; set; }

    public string? AuthorName { get; set; }

    public required string Body { get; set; }

    public DateTime CreatedAt { get; set; }

    public DateTime UpdatedAt { get; set; }
}

/// <summary>
/// One page a visitor opened with the widget on it: the trail agents see beside the chat. Only the newest
/// <see cref="Retained"/> are kept per contact.
/// </summary>
public sealed class PageView
{
    public const int Retained = 50;

    public long Id { get; set; }

    public Guid ContactId { get; set; }

    public required string Url { get; set; }

    public string? Title { get; set; }

    public DateTime At { get; set; }
}
