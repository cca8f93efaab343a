using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Protocol;
using Parley.Data;
using Parley.Server.Events;
using Parley.Server.Features.Access;
using Parley.Server.Messaging;

namespace Parley.Server.Realtime;

/// <summary>
/// Pushes committed messages and conversation changes to this node's subscribed connections. Agents receive only
/// what the department sandbox lets them see (<see cref="AccessDirectory"/>, in memory, never a query here).
/// </summary>
internal sealed class RealtimeFanout(ConnectionRegistry registry, AccessDirectory access, Features.Metrics.InboxSummaryCoalescer coalescer)
    : IDomainEventListener<MessageCommitted>, IDomainEventListener<ConversationChanged>
{
    public const string MessageEvent = "message";
    public const string ConversationEvent = "conversation";
    public const string ConversationUpdatedEvent = "conversationUpdated";

    /// <summary>Under Pressure: held summaries that came due, up to <see cref="SummariesPerEvent"/> in one event (docs/protocol.md).</summary>
    public const string ConversationsUpdatedEvent = "conversationsUpdated";

    private Action<IReadOnlyList<ConversationSummary>>? _deliverSummaries;

    private readonly StateOrder _order = new();

    public void Handle(MessageCommitted domainEvent)
    {
        var conversation = domainEvent.Conversation;
        DeliverMessage(domainEvent.Message, conversation.TeamId, conversation.AssigneeId);

        // The message always goes out; the summary only when no newer state of the conversation went out before it.
        lock (_order.GateOf(conversation.Id))
        {
            if (_order.Admit(conversation.Id, conversation.LastSeq, change: false))
            {
                BroadcastToAgents(conversation.ToSummary());
            }
        }
    }

    /// <summary>
    /// Pushes one stored message to this node's subscribers of its conversation: notes to agents only, and to an
    /// agent only when the sandbox lets them see a conversation of that team and assignee.
    /// </summary>
    public void DeliverMessage(Message message, Guid? teamId, Guid? assigneeId)
    {
        SerializedHubMessage? forAgents = null;
        SerializedHubMessage? forVisitors = null;
        foreach (var connection in registry.SubscribersOf(message.ConversationId))
        {
            if (connection.Audience == Audience.Agent)
            {
                // Joined after an access check; checked again because membership or role may have changed since.
                if (!access.CanSee(connection.PrincipalId, teamId, assigneeId))
                {
                    continue;
                }

                // Serialized once per protocol and reused for every recipient.
                forAgents ??= Serialize(MessageEvent, MessageMapper.ToDto(message, Audience.Agent));
                connection.Enqueue(forAgents);
            }
            else if (message.Kind != MessageKind.Note)
            {
                forVisitors ??= Serialize(MessageEvent, MessageMapper.ToDto(message, Audience.Visitor));
                connection.Enqueue(forVisitors);
            }
        }
    }

    public void Handle(ConversationChanged domainEvent)
    {
        var state = domainEvent.Conversation;
        lock (_order.GateOf(state.Id))
        {
            if (_order.Admit(state.Id, state.LastSeq, change: true))
            {
                PushState(state);
            }
        }
    }

    private void PushState(ConversationState state)
    {
        SerializedHubMessage? forVisitors = null;
        foreach (var connection in registry.SubscribersOf(state.Id))
        {
            if (connection.Audience == Audience.Visitor)
            {
                forVisitors ??= Serialize(ConversationEvent, new ConversationInfo
                {
                    Id = state.Id,
                    Status = WireNames.Of(state.Status),
                    LastSeq = state.LastVisitorSeq,
                    CreatedAt = state.CreatedAt,
                });
                connection.EnqueueState(state.Id, forVisitors);
            }
        }

        BroadcastToAgents(state.ToSummary());
    }

    /// <summary>Pushes a conversation's current summary to this node's agents again (after a cluster bus outage).</summary>
    public void RefreshSummary(ConversationState state)
    {
        lock (_order.GateOf(state.Id))
        {
            if (_order.Admit(state.Id, state.LastSeq, change: true))
            {
                BroadcastToAgents(state.ToSummary());
            }
        }
    }

    /// <summary>Now, or under Pressure once the coalescer has held it for its interval (the latest summary of the conversation wins).</summary>
    private void BroadcastToAgents(ConversationSummary summary)
    {
        if (!coalescer.Hold(summary, _deliverSummaries ??= DeliverSummaries))
        {
            DeliverSummary(summary);
        }
    }

    private void DeliverSummary(ConversationSummary summary)
    {
        var agents = registry.Agents;
        if (agents.Count == 0)
        {
            return;
        }

        SerializedHubMessage? serialized = null;
        foreach (var agent in agents)
        {
            if (access.CanSee(agent.PrincipalId, summary.TeamId, summary.AssigneeId))
            {
                serialized ??= Serialize(ConversationUpdatedEvent, summary);
                agent.EnqueueState(summary.Id, serialized);
            }
        }
    }

    /// <summary>
    /// Most summaries in one <c>conversationsUpdated</c> event (~10–20 KB): a hub write holds the connection until the
    /// client has read it, and an agent's ack waits for the write in progress, so a tick goes out in slices.
    /// </summary>
    internal const int SummariesPerEvent = 64;

    /// <summary>
    /// The coalescer's tick: every agent gets the held summaries it may see in <c>conversationsUpdated</c> events of
    /// up to <see cref="SummariesPerEvent"/>, a few writes however many conversations changed. Agents who may see the
    /// same ones (usually all of them) share one serialization.
    /// </summary>
    private void DeliverSummaries(IReadOnlyList<ConversationSummary> batch)
    {
        for (var start = 0; start < batch.Count; start += SummariesPerEvent)
        {
            DeliverSlice(batch.Skip(start).Take(SummariesPerEvent).ToArray());
        }
    }

    private void DeliverSlice(ConversationSummary[] batch)
    {
        if (batch.Length == 1)
        {
            DeliverSummary(batch[0]);
            return;
        }

        var agents = registry.Agents;
        if (agents.Count == 0)
        {
            return;
        }

        var keys = new Guid[batch.Length];
        for (var i = 0; i < batch.Length; i++)
        {
            keys[i] = batch[i].Id;
        }

        SerializedHubMessage? all = null;
        List<(bool[] Visible, Guid[] Keys, SerializedHubMessage Message)>? subsets = null;
        var visible = new bool[batch.Length];
        foreach (var agent in agents)
        {
            var count = 0;
            for (var i = 0; i < batch.Length; i++)
            {
                visible[i] = access.CanSee(agent.PrincipalId, batch[i].TeamId, batch[i].AssigneeId);
                count += visible[i] ? 1 : 0;
            }

            if (count == batch.Length)
            {
                all ??= Serialize(ConversationsUpdatedEvent, batch);
                agent.EnqueueStates(keys, all);
            }
            else if (count > 0)
            {
                subsets ??= [];
                var subset = subsets.Find(s => s.Visible.AsSpan().SequenceEqual(visible));
                if (subset.Message is null)
                {
                    var summaries = new List<ConversationSummary>(count);
                    for (var i = 0; i < batch.Length; i++)
                    {
                        if (visible[i])
                        {
                            summaries.Add(batch[i]);
                        }
                    }

                    subset = ((bool[])visible.Clone(), summaries.Select(s => s.Id).ToArray(), Serialize(ConversationsUpdatedEvent, summaries));
                    subsets.Add(subset);
                }

                agent.EnqueueStates(subset.Keys, subset.Message);
            }
        }
    }

    private static SerializedHubMessage Serialize(string target, object payload) =>
        new(new InvocationMessage(target, [payload]));
}
