using MessagePack;

namespace Parley.Server.Features.Supervision;

/// <summary>
/// The supervisors' live view (agent hub <c>SubscribeLive</c>, then <c>live</c> events): per department the queue, the
/// longest wait, chats in progress and first-response SLA breaches; the agents with their status and load; the
/// waiting conversations in service order and the breaching ones. Only the caller's departments (docs/reports.md).
/// </summary>
[MessagePackObject]
public sealed record LiveViewDto
{
    /// <summary>Grows with every snapshot this node computes; a client keeps the highest it has seen.</summary>
    [Key("version")] public long Version { get; init; }

    [Key("departments")] public required IReadOnlyList<LiveDepartmentDto> Departments { get; init; }

    [Key("agents")] public required IReadOnlyList<LiveAgentDto> Agents { get; init; }

    /// <summary>Waiting conversations in the order they will be served (priority lane, then arrival), at most 200.</summary>
    [Key("queue")] public required IReadOnlyList<LiveQueueEntryDto> Queue { get; init; }

    /// <summary>Conversations past their department's first-response target, longest waiting first, at most 100.</summary>
    [Key("breaches")] public required IReadOnlyList<LiveBreachDto> Breaches { get; init; }
}

/// <summary>One department (team; <c>teamId</c> null: the general queue) of the live view.</summary>
[MessagePackObject]
public sealed record LiveDepartmentDto
{
    [Key("teamId")] public Guid? TeamId { get; init; }

    /// <summary>The team's name; null for the general queue.</summary>
    [Key("name")] public string? Name { get; init; }

    /// <summary>Conversations waiting in the queue (not assigned; an offered one still waits).</summary>
    [Key("waiting")] public int Waiting { get; init; }

    /// <summary>Arrival of the conversation that has waited longest; the client counts the wait from it.</summary>
    [Key("oldestQueuedAt")] public DateTime? OldestQueuedAt { get; init; }

    /// <summary>Open conversations held by an agent.</summary>
    [Key("inProgress")] public int InProgress { get; init; }

    /// <summary>Conversations waiting for their first agent reply for longer than the target.</summary>
    [Key("slaBreaches")] public int SlaBreaches { get; init; }

    [Key("firstResponseTargetSeconds")] public int FirstResponseTargetSeconds { get; init; }
}

[MessagePackObject]
public sealed record LiveAgentDto
{
    [Key("id")] public Guid Id { get; init; }

    [Key("displayName")] public required string DisplayName { get; init; }

    /// <summary><c>online</c>, <c>busy</c> (online with no room left), <c>away</c> or <c>offline</c>.</summary>
    [Key("status")] public required string Status { get; init; }

    /// <summary>Open conversations the agent holds or is being offered.</summary>
    [Key("load")] public int Load { get; init; }

    [Key("capacity")] public int Capacity { get; init; }

    [Key("teamIds")] public required IReadOnlyList<Guid> TeamIds { get; init; }
}

[MessagePackObject]
public sealed record LiveQueueEntryDto
{
    [Key("conversationId")] public Guid ConversationId { get; init; }

    [Key("teamId")] public Guid? TeamId { get; init; }

    [Key("priority")] public int Priority { get; init; }

    [Key("queuedAt")] public DateTime QueuedAt { get; init; }

    [Key("offeredToId")] public Guid? OfferedToId { get; init; }
}

[MessagePackObject]
public sealed record LiveBreachDto
{
    [Key("conversationId")] public Guid ConversationId { get; init; }

    [Key("teamId")] public Guid? TeamId { get; init; }

    [Key("assigneeId")] public Guid? AssigneeId { get; init; }

    /// <summary>Since when a person's first reply is awaited (first queued, else assigned, else created).</summary>
    [Key("waitingSince")] public DateTime WaitingSince { get; init; }

    [Key("targetSeconds")] public int TargetSeconds { get; init; }
}
