using Parley.Server.Messaging;

namespace Parley.Server.Realtime;

/// <summary>Raised when a conversation is created or its status/assignee changes.</summary>
public sealed record ConversationChanged(ConversationState Conversation)
{
    /// <summary>What happened: created, assigned, closed, reopened or updated (webhook event types build on it).</summary>
    public string Change { get; init; } = "updated";
}

/// <summary>Raised when one side's read position moves forward; Seq in agent numbering, VisitorSeq in the visitor's.</summary>
public sealed record ConversationRead(Guid ConversationId, string Side, long Seq, long VisitorSeq);
