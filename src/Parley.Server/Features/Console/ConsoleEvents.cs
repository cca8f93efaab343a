namespace Parley.Server.Features.Console;

/// <summary>Raised when a conversation's labels change (agents' inbox rows show them).</summary>
public sealed record ConversationLabelsChanged(Guid ConversationId, IReadOnlyList<Guid> LabelIds);

/// <summary>Raised when an agent's read marker on a conversation moves forward (their other tabs follow).</summary>
public sealed record ConversationReadMoved(Guid UserId, Guid ConversationId, long LastReadSeq);
