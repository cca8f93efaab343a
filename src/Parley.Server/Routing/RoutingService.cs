using Microsoft.EntityFrameworkCore;
using Parley.Data;
using Parley.Server.Events;
using Parley.Server.Features.Access;
using Parley.Server.Features.Conversations;
using Parley.Server.Infrastructure;
using Parley.Server.Messaging;

namespace Parley.Server.Routing;

/// <summary>Assign, transfer, pick, accept, decline, requeue: what REST, the agent hub and the routing engine share.</summary>
internal sealed class RoutingService(
    AssignmentStore store,
    ConversationService conversations,
    ParleyDbContext db,
    DomainEvents events,
    AccessPolicy access,
    TimeProvider time)
{
    /// <summary>Assigns (or transfers) to <paramref name="userId"/>, within that user's capacity.</summary>
    public async Task<ConversationSummary> AssignAsync(Guid id, Guid userId, Actor actor, CancellationToken cancellationToken)
    {
        await access.RequireAssignAsync(actor, id, userId, cancellationToken);
        var result = await store.AssignAsync(id, userId, AssignMode.Transfer, cancellationToken: cancellationToken);
        return await CompleteAsync(id, userId, result, AssignReason.Manual, actor, cancellationToken);
    }

    /// <summary>The agent takes a waiting conversation from the queue (manual teams, or ahead of routing).</summary>
    public async Task<ConversationSummary> PickAsync(Guid id, Actor actor, CancellationToken cancellationToken)
    {
        try
        {
            await access.RequireAssignAsync(actor, id, actor.PrincipalId, cancellationToken);
        }
        catch (ParleyException e) when (e.Code == "forbidden")
        {
            // Losing a pick race to another agent is "taken", not a permission problem: an agent may claim a
            // waiting conversation, and this one stopped waiting between the click and the check.
            var current = await access.RequireConversationAsync(actor, id, ConversationAction.Read, cancellationToken);
            if (current.AssigneeId is { } holder && holder != actor.PrincipalId)
            {
                throw Taken();
            }

            throw;
        }

        var result = await store.AssignAsync(id, actor.PrincipalId, AssignMode.Pick, cancellationToken: cancellationToken);
        return await CompleteAsync(id, actor.PrincipalId, result, AssignReason.Picked, actor, cancellationToken);
    }

    public async Task<ConversationSummary> AcceptOfferAsync(Guid id, Actor actor, CancellationToken cancellationToken)
    {
        var result = await store.AssignAsync(id, actor.PrincipalId, AssignMode.Accept, cancellationToken: cancellationToken);
        if (result.Outcome == AssignOutcome.Taken)
        {
            throw new ParleyException(ErrorCatalogue.OfferGone, "The offer expired or was withdrawn.");
        }

        return await CompleteAsync(id, actor.PrincipalId, result, AssignReason.Accepted, actor, cancellationToken);
    }

    public async Task DeclineOfferAsync(Guid id, Guid agentId, bool expired, CancellationToken cancellationToken)
    {
        if (await store.ReleaseOfferAsync(id, agentId, cancellationToken))
        {
            events.Publish(new OfferWithdrawn(id, agentId, expired));
        }
        else if (!expired)
        {
            throw new ParleyException(ErrorCatalogue.OfferGone, "The offer expired or was withdrawn.");
        }
    }

    /// <summary>An agent hands back their own conversation; a supervisor may take anyone's. Back to the queue.</summary>
    public async Task UnassignAsync(Guid id, Actor actor, CancellationToken cancellationToken)
    {
        var conversation = await access.RequireConversationAsync(actor, id, ConversationAction.Read, cancellationToken);
        await access.RequireAsync(actor, conversation, conversation.AssigneeId == actor.PrincipalId ? ConversationAction.Claim : ConversationAction.Reassign, cancellationToken);
        if (!await RequeueAsync(id, conversation.AssigneeId, "unassigned", actor, cancellationToken))
        {
            throw new ParleyException(ErrorCatalogue.NotAssigned, "The conversation is not assigned (or is closed).");
        }
    }

    /// <summary>Takes the conversation from its assignee and puts it back in the queue at its original arrival.</summary>
    public async Task<bool> RequeueAsync(Guid id, Guid? fromAgentId, string reason, Actor actor, CancellationToken cancellationToken)
    {
        if (!await store.RequeueAsync(id, fromAgentId, cancellationToken))
        {
            return false;
        }

        if (reason == "unassigned")
        {
            await conversations.RecordChangeAsync(id, SystemLine.Unassigned(actor.Name), actor, cancellationToken);
        }
        else
        {
            await conversations.PublishChangedAsync(id, cancellationToken);
        }

        var c = await db.Conversations.AsNoTracking().Where(x => x.Id == id).Select(x => new { x.TeamId, x.Priority }).FirstAsync(cancellationToken);
        events.Publish(new ConversationQueued(id, c.TeamId, c.Priority, reason));
        return true;
    }

    /// <summary>Sets a waiting conversation's team and/or priority (the API side of the VIP lane and departments).</summary>
    public async Task<ConversationSummary> SetRoutingAsync(Guid id, Guid? teamId, int? priority, Actor actor, CancellationToken cancellationToken)
    {
        await access.RequireConversationAsync(actor, id, ConversationAction.Reassign, cancellationToken);
        var conversation = await db.Conversations.FirstOrDefaultAsync(c => c.Id == id, cancellationToken) ?? throw ParleyException.NotFound();
        if (teamId is { } t && !await db.Teams.AnyAsync(x => x.Id == t, cancellationToken))
        {
            throw new ParleyException(ErrorCatalogue.TeamNotFound);
        }

        if (priority is < -100 or > 100)
        {
            throw new ParleyException(ErrorCatalogue.InvalidPriority, "priority must be between -100 and 100.");
        }

        var moved = teamId is not null && teamId != conversation.TeamId;
        if (moved)
        {
            conversation.TeamId = teamId;
            conversation.RoutedAt = time.GetUtcNow().UtcDateTime;
            conversation.DeclinedBy = null;
        }

        conversation.Priority = priority ?? conversation.Priority;
        conversation.UpdatedAt = time.GetUtcNow().UtcDateTime;
        await db.SaveChangesAsync(cancellationToken);
        if (conversation.QueuedAt is not null)
        {
            events.Publish(new ConversationQueued(id, conversation.TeamId, conversation.Priority, moved ? "transferred" : "priority"));
        }

        return await conversations.GetAsync(actor, id, cancellationToken);
    }

    /// <summary>Turns an assignment attempt into the conversation's event line and events, or a clear error.</summary>
    public async Task<ConversationSummary> CompleteAsync(Guid id, Guid agentId, AssignResult result, AssignReason reason, Actor actor, CancellationToken cancellationToken)
    {
        switch (result.Outcome)
        {
            case AssignOutcome.Assigned:
                ConversationSummary summary;
                if (reason == AssignReason.Manual)
                {
                    // A person's decision is recorded in the conversation as an event line, as before routing existed.
                    var name = await db.Users.AsNoTracking().Where(u => u.Id == agentId).Select(u => u.DisplayName).FirstAsync(cancellationToken);
                    summary = await conversations.RecordChangeAsync(id, SystemLine.Assigned(name), actor, cancellationToken);
                }
                else
                {
                    // Routing's own decisions stay out of the message stream (no sequence numbers spent on them);
                    // the assignee shows in the conversation state and the ConversationAssigned event carries the why.
                    summary = await conversations.PublishChangedAsync(id, cancellationToken);
                }

                events.Publish(new ConversationAssigned(id, agentId, result.PreviousAssigneeId, result.TeamId, reason));
                return summary;
            case AssignOutcome.Unchanged:
                return await conversations.GetAsync(actor, id, cancellationToken);
            case AssignOutcome.AtCapacity:
                throw new ParleyException(ErrorCatalogue.AgentAtCapacity, "The agent already holds as many conversations as their capacity allows.");
            case AssignOutcome.AgentUnavailable:
                throw new ParleyException(ErrorCatalogue.UserNotFound);
            case AssignOutcome.NotFound:
                throw ParleyException.NotFound();
            default:
                throw Taken();
        }
    }

    private static ParleyException Taken() =>
        new(ErrorCatalogue.ConversationTaken);
}
