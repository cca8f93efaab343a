using MessagePack;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Protocol;
using Parley.Server.Events;
using Parley.Server.Features.Console;

namespace Parley.Server.Realtime;

[MessagePackObject]
public sealed record ViewerDto
{
    [Key("id")] public Guid Id { get; init; }

    [Key("name")] public string? Name { get; init; }
}

/// <summary>Who has a conversation open in the console right now (the collision indicator).</summary>
[MessagePackObject]
public sealed record ViewersDto
{
    [Key("conversationId")] public Guid ConversationId { get; init; }

    [Key("viewers")] public required IReadOnlyList<ViewerDto> Viewers { get; init; }
}

[MessagePackObject]
public sealed record LabelsEventDto
{
    [Key("conversationId")] public Guid ConversationId { get; init; }

    [Key("labelIds")] public required IReadOnlyList<Guid> LabelIds { get; init; }
}

[MessagePackObject]
public sealed record ReadEventDto
{
    [Key("conversationId")] public Guid ConversationId { get; init; }

    [Key("lastReadSeq")] public long LastReadSeq { get; init; }
}

/// <summary>
/// Console-only pushes on this node: <c>viewers</c> when agents open or leave a conversation, <c>conversationLabels</c>
/// to every agent, <c>readState</c> to the agent's own connections. (Cross-node fan-out comes with scale-out's bus.)
/// </summary>
internal sealed class ConsoleRealtime
    : IDomainEventListener<ConversationLabelsChanged>, IDomainEventListener<ConversationReadMoved>
{
    private readonly ConnectionRegistry _registry;

    public ConsoleRealtime(ConnectionRegistry registry)
    {
        _registry = registry;
        registry.AgentSubscriptionChanged = ViewersChanged; // an agent's connection dropped: they stopped viewing
    }

    public const string ViewersEvent = "viewers";
    public const string LabelsEvent = "conversationLabels";
    public const string ReadEvent = "readState";

    public ViewersDto ViewersOf(Guid conversationId) => new()
    {
        ConversationId = conversationId,
        Viewers = _registry.SubscribersOf(conversationId)
            .Where(c => c.Audience == Audience.Agent)
            .GroupBy(c => c.PrincipalId)
            .Select(g => new ViewerDto { Id = g.Key, Name = g.First().DisplayName })
            .ToList(),
    };

    /// <summary>Tells the agents who have the conversation open who else has; called when that set may have changed.</summary>
    public void ViewersChanged(Guid conversationId)
    {
        var viewers = ViewersOf(conversationId);
        var message = Serialize(ViewersEvent, viewers);
        foreach (var connection in _registry.SubscribersOf(conversationId))
        {
            if (connection.Audience == Audience.Agent)
            {
                connection.EnqueueState(StateKey(conversationId), message);
            }
        }
    }

    public void Handle(ConversationLabelsChanged domainEvent)
    {
        var message = Serialize(LabelsEvent, new LabelsEventDto { ConversationId = domainEvent.ConversationId, LabelIds = domainEvent.LabelIds });
        foreach (var agent in _registry.Agents)
        {
            agent.Enqueue(message);
        }
    }

    public void Handle(ConversationReadMoved domainEvent)
    {
        var message = Serialize(ReadEvent, new ReadEventDto { ConversationId = domainEvent.ConversationId, LastReadSeq = domainEvent.LastReadSeq });
        foreach (var agent in _registry.Agents)
        {
            if (agent.PrincipalId == domainEvent.UserId)
            {
                agent.Enqueue(message);
            }
        }
    }

    // The state slot of a connection is keyed by Guid; viewers of a conversation get their own key next to its summary.
    private static Guid StateKey(Guid conversationId)
    {
        Span<byte> bytes = stackalloc byte[16];
        conversationId.TryWriteBytes(bytes);
        bytes[15] ^= 0x5A;
        return new Guid(bytes);
    }

    private static SerializedHubMessage Serialize(string target, object payload) => new(new InvocationMessage(target, [payload]));
}
