namespace Parley.Server.Features.Supervision;

/// <summary>A supervisor whispered to the conversation's assignee (the note itself went through the message path).</summary>
public sealed record SupervisorWhispered(Guid ConversationId, Guid AssigneeId, WhisperEvent Whisper);

/// <summary>A supervisor assigned a conversation held by another agent to themselves.</summary>
public sealed record ConversationTakenOver(Guid ConversationId, Guid PreviousAssigneeId, TakenOverEvent TakenOver);
