using Microsoft.EntityFrameworkCore;
using Parley.Data;
using Parley.Server.Infrastructure;
using Parley.Server.Messaging;
using Parley.Server.Realtime;

namespace Parley.Server.Features.Access;

/// <summary>
/// The one place that decides who may see and do what with conversations (and, through them, messages, contacts and
/// attachments): RBAC by role plus the department sandbox by team membership. REST endpoints, hub methods and
/// queries call it; nothing else decides access. Rules: docs/security.md.
/// </summary>
public sealed class AccessPolicy(ParleyDbContext db, AccessDirectory directory)
{
    /// <summary>The acting console user's scope; a deactivated or deleted user is refused.</summary>
    public async Task<AccessScope> ScopeAsync(Actor actor, CancellationToken cancellationToken = default)
    {
        if (actor.Audience != Audience.Agent)
        {
            throw Forbidden();
        }

        return await directory.GetAsync(actor.PrincipalId, cancellationToken)
            ?? throw new ParleyException(ErrorCatalogue.Unauthorized, "The account is deactivated.");
    }

    /// <summary>The scope of a supervisor or admin; an agent is refused (the live view, department-wide figures).</summary>
    public async Task<AccessScope> RequireSupervisorAsync(Actor actor, CancellationToken cancellationToken = default)
    {
        var scope = await ScopeAsync(actor, cancellationToken);
        return scope.IsSupervisor ? scope : throw Forbidden();
    }

    /// <summary>Conversations the actor may see, as a query to compose lists, search and reports on.</summary>
    public async Task<IQueryable<Conversation>> ConversationsAsync(Actor actor, CancellationToken cancellationToken = default) =>
        Filter(db.Conversations.AsNoTracking(), await ScopeAsync(actor, cancellationToken));

    /// <summary>Narrows any conversation query to the scope's departments.</summary>
    public static IQueryable<Conversation> Filter(IQueryable<Conversation> conversations, AccessScope scope) =>
        scope.SeesAllDepartments ? conversations : conversations.Where(scope.ConversationFilter());

    /// <summary>The report facts the actor may report on (<see cref="AccessScope.ReportFilter"/>).</summary>
    public async Task<IQueryable<ConversationFacts>> ReportFactsAsync(Actor actor, CancellationToken cancellationToken = default) =>
        db.ConversationFacts.AsNoTracking().Where((await ScopeAsync(actor, cancellationToken)).ReportFilter());

    /// <summary>Contacts the actor may see: those with at least one visible conversation.</summary>
    public async Task<IQueryable<Contact>> ContactsAsync(Actor actor, CancellationToken cancellationToken = default)
    {
        var scope = await ScopeAsync(actor, cancellationToken);
        var contacts = db.Contacts.AsNoTracking().Where(ct => ct.ErasedAt == null); // an erased contact is nobody's any more
        if (scope.SeesAllDepartments)
        {
            return contacts;
        }

        var visible = Filter(db.Conversations.AsNoTracking(), scope);
        return contacts.Where(ct => visible.Any(c => c.ContactId == ct.Id));
    }

    /// <summary>
    /// Canned replies the scope may see and insert: its own, those shared with everyone, and those shared with one of
    /// its departments. Admins and users granted all departments see every shared one. (A tracked query: editing
    /// goes through it too.)
    /// </summary>
    public IQueryable<CannedReply> CannedReplies(AccessScope scope)
    {
        var me = scope.UserId;
        if (scope.SeesAllDepartments)
        {
            return db.CannedReplies.Where(r => r.OwnerId == null || r.OwnerId == me);
        }

        var teams = scope.TeamIds.ToList();
        return db.CannedReplies.Where(r => r.OwnerId == me
            || (r.OwnerId == null && (!r.TeamsOnly || db.CannedReplyTeams.Any(t => t.CannedReplyId == r.Id && teams.Contains(t.TeamId)))));
    }

    /// <summary>
    /// Whether the scope may create, change or delete a shared canned reply limited to <paramref name="teamIds"/>
    /// (empty: shared with everyone): supervisors and admins, and a supervisor not granted all departments only for
    /// his own departments (before and after a change).
    /// </summary>
    public static bool CanManageSharedReply(AccessScope scope, IReadOnlyCollection<Guid> teamIds) =>
        scope.IsSupervisor && (scope.SeesAllDepartments || teamIds.All(scope.TeamIds.Contains));

    /// <summary>
    /// The conversation if the actor may do <paramref name="action"/> with it. A conversation the actor may not see
    /// answers exactly like an unknown id (404), so ids cannot be probed; a visible one with a forbidden action is 403.
    /// </summary>
    public async Task<Conversation> RequireConversationAsync(Actor actor, Guid conversationId, ConversationAction action, CancellationToken cancellationToken = default)
    {
        var conversation = await db.Conversations.AsNoTracking().FirstOrDefaultAsync(c => c.Id == conversationId, cancellationToken)
            ?? throw ParleyException.NotFound();
        await RequireAsync(actor, conversation, action, cancellationToken);
        return conversation;
    }

    /// <summary>Checks an already loaded conversation.</summary>
    public async Task RequireAsync(Actor actor, Conversation conversation, ConversationAction action, CancellationToken cancellationToken = default)
    {
        if (actor.Audience == Audience.Visitor)
        {
            // A visitor token names one contact of one site; it reaches that contact's conversations only.
            var own = conversation.ContactId == actor.PrincipalId && (actor.SiteId == Guid.Empty || conversation.SiteId == actor.SiteId);
            if (!own)
            {
                throw ParleyException.NotFound();
            }

            if (action is not (ConversationAction.Read or ConversationAction.Reply))
            {
                throw Forbidden();
            }

            return;
        }

        var scope = await ScopeAsync(actor, cancellationToken);
        if (!scope.CanSee(conversation.TeamId, conversation.AssigneeId))
        {
            throw ParleyException.NotFound();
        }

        if (!Allows(scope, action, conversation.AssigneeId))
        {
            throw Forbidden();
        }
    }

    /// <summary>
    /// The scope a console user writes a message with (<see cref="ConversationAction.Reply"/> or
    /// <see cref="ConversationAction.Note"/>): the role check here, and the department sandbox left to the caller, who
    /// applies <see cref="AccessScope.CanSee"/> to the conversation row where it is written (the group commit locks it),
    /// so the send path needs no query of its own and a transfer committed just before is seen.
    /// </summary>
    public async Task<AccessScope> RequireMessageScopeAsync(Actor actor, ConversationAction action, CancellationToken cancellationToken = default)
    {
        // Only actions whose role rule does not depend on the row (its assignee) can be checked before the row is read.
        if (action is not (ConversationAction.Reply or ConversationAction.Note))
        {
            throw new ArgumentOutOfRangeException(nameof(action), action, "Only replies and notes are checked against the row where they are written.");
        }

        var scope = await ScopeAsync(actor, cancellationToken);
        return Allows(scope, action, assigneeId: null) ? scope : throw Forbidden();
    }

    /// <summary>Role rules for a conversation the scope can already see.</summary>
    public static bool Allows(AccessScope scope, ConversationAction action, Guid? assigneeId) => action switch
    {
        ConversationAction.Read or ConversationAction.Reply or ConversationAction.Note or ConversationAction.ChangeStatus => true,
        ConversationAction.Claim => assigneeId is null || assigneeId == scope.UserId || scope.IsSupervisor,
        ConversationAction.Reassign or ConversationAction.Whisper or ConversationAction.TakeOver => scope.IsSupervisor,
        _ => false,
    };

    /// <summary>
    /// Assigning to <paramref name="assigneeId"/>: to oneself is a claim (taking over someone else's is a reassign);
    /// to anyone else is a reassign. A supervisor who is not granted all departments may only hand conversations to
    /// members of the conversation's team (or of one of their own teams when it has none).
    /// </summary>
    public async Task<Conversation> RequireAssignAsync(Actor actor, Guid conversationId, Guid assigneeId, CancellationToken cancellationToken = default)
    {
        var action = assigneeId == actor.PrincipalId ? ConversationAction.Claim : ConversationAction.Reassign;
        var conversation = await RequireConversationAsync(actor, conversationId, action, cancellationToken);
        if (assigneeId == actor.PrincipalId)
        {
            return conversation;
        }

        var scope = await ScopeAsync(actor, cancellationToken);
        var target = await directory.GetAsync(assigneeId, cancellationToken) ?? throw new ParleyException(ErrorCatalogue.UserNotFound);
        if (!scope.SeesAllDepartments && !target.SeesAllDepartments)
        {
            var shared = conversation.TeamId is { } team
                ? target.TeamIds.Contains(team)
                : target.TeamIds.Overlaps(scope.TeamIds);
            if (!shared)
            {
                throw new ParleyException(ErrorCatalogue.AssigneeOutOfDepartment, "The user is not a member of this conversation's department.");
            }
        }

        return conversation;
    }

    public static ParleyException Forbidden() =>
        new(ErrorCatalogue.Forbidden, "Your role does not allow this.");
}
