namespace Parley.Data;

/// <summary>A file uploaded into a conversation. The bytes live in an attachment store under a name the server chose.</summary>
public sealed class Attachment
{
    public Guid Id { get; set; }

    public Guid ConversationId { get; set; }

    public SenderKind UploaderKind { get; set; }

    public Guid? UploaderId { get; set; }

    /// <summary>Display name, sanitised; its extension matches the detected type.</summary>
    public required string FileName { get; set; }

    /// <summary>Detected from the file's first bytes, never taken from the client.</summary>
    public required string ContentType { get; set; }

    public long Size { get; set; }

    /// <summary>Key inside the attachment store.</summary>
    public required string StorageKey { get; set; }

    /// <summary>Random capability that download links carry (hex); compared in constant time.</summary>
    public required string AccessKey { get; set; }

    public DateTime CreatedAt { get; set; }
}

/// <summary>A visitor's satisfaction rating of a closed conversation (one per conversation).</summary>
public sealed class ConversationRating
{
    public Guid ConversationId { get; set; }

    public Guid ContactId { get; set; }

    /// <summary>1 (very unhappy) to 5 (very happy).</summary>
    public int Score { get; set; }

    public string? Comment { get; set; }

    public DateTime CreatedAt { get; set; }
}

/// <summary>
/// An attachment file still to be removed from the store. Written in the transaction that removes the attachment's
/// row (retention, erasure), deleted once the file is gone: a job that stops half-way finds the files it still owes,
/// and never looks for the rows it already removed.
/// </summary>
public sealed class AttachmentDeletion
{
    public long Id { get; set; }

    public required string StorageKey { get; set; }

    public DateTime CreatedAt { get; set; }
}
