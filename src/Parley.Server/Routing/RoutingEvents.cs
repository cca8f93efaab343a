namespace Parley.Server.Routing;

// Routing decisions as domain events (raised through Events.DomainEvents after the change is committed).
// Realtime pushes, webhooks, metrics and bots listen to them; routing itself never calls those directly.

public enum AssignReason
{
    /// <summary>Chosen by the team's strategy.</summary>
    Routed,

    /// <summary>The visitor's previous agent (sticky).</summary>
    Sticky,

    /// <summary>The agent accepted an offer.</summary>
    Accepted,

    /// <summary>The agent took it from the pool.</summary>
    Picked,

    /// <summary>A person assigned or transferred it.</summary>
    Manual,
}

/// <summary>The conversation entered (or re-entered) the waiting queue of a team (null: the general queue).</summary>
public sealed record ConversationQueued(Guid ConversationId, Guid? TeamId, int Priority, string Reason);

/// <summary>Offered to an agent who must accept before <paramref name="ExpiresAt"/>.</summary>
public sealed record ConversationOffered(Guid ConversationId, Guid AgentId, DateTime ExpiresAt);

/// <summary>An offer ended without an assignment: declined by the agent, or it expired.</summary>
public sealed record OfferWithdrawn(Guid ConversationId, Guid AgentId, bool Expired);

public sealed record ConversationAssigned(Guid ConversationId, Guid AgentId, Guid? PreviousAgentId, Guid? TeamId, AssignReason Reason);

/// <summary>Waited too long: moved to another team, or (when <paramref name="ToTeamId"/> is null) the visitor is offered the offline form.</summary>
public sealed record ConversationOverflowed(Guid ConversationId, Guid? FromTeamId, Guid? ToTeamId);

/// <summary>Positions and estimated waits changed; one entry per conversation whose position moved.</summary>
public sealed record QueuePositionsChanged(IReadOnlyList<QueueStatus> Changes);
