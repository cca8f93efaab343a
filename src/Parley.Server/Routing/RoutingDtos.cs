using MessagePack;

namespace Parley.Server.Routing;

/// <summary>The visitor's place in the queue (visitor hub event <c>queue</c>; docs/protocol.md).</summary>
[MessagePackObject]
public sealed record QueueStatus
{
    public const string Queued = "queued";
    public const string Offered = "offered";
    public const string Assigned = "assigned";
    public const string Offline = "offline";

    [Key("conversationId")] public Guid ConversationId { get; init; }

    /// <summary><c>queued</c>, <c>offered</c> (an agent is being asked), <c>assigned</c> or <c>offline</c> (leave a message).</summary>
    [Key("state")] public required string State { get; init; }

    /// <summary>1 for the next in line; 0 when not waiting.</summary>
    [Key("position")] public int Position { get; init; }

    /// <summary>Estimated seconds until an agent takes the conversation; null when unknown (nobody online).</summary>
    [Key("estimatedWaitSeconds")] public int? EstimatedWaitSeconds { get; init; }
}

/// <summary>An offer pushed to an agent (agent hub event <c>offer</c>).</summary>
[MessagePackObject]
public sealed record OfferDto
{
    [Key("conversationId")] public Guid ConversationId { get; init; }

    /// <summary>Accept before this; null on a withdrawal.</summary>
    [Key("expiresAt")] public DateTime? ExpiresAt { get; init; }

    /// <summary>True when the offer was withdrawn (accepted elsewhere, declined, expired).</summary>
    [Key("withdrawn")] public bool Withdrawn { get; init; }
}
