using System.Linq.Expressions;
using Parley.Data;

namespace Parley.Server.Features.Access;

/// <summary>What a console user may see: their role, their departments (teams) and the "all departments" grant.</summary>
public sealed record AccessScope(Guid UserId, UserRole Role, bool AllDepartments, IReadOnlySet<Guid> TeamIds, bool UnteamedVisible)
{
    /// <summary>Admins and users granted all departments see every conversation.</summary>
    public bool SeesAllDepartments => Role == UserRole.Admin || AllDepartments;

    public bool IsSupervisor => Role is UserRole.Supervisor or UserRole.Admin;

    /// <summary>
    /// The department sandbox, in memory (fan-out). Must agree with <see cref="ConversationFilter"/>: a conversation is
    /// visible when it belongs to one of the user's teams, is assigned to the user, or has no team and unteamed
    /// conversations are visible to everyone (the default: they are the shared queue before routing picks a team).
    /// </summary>
    public bool CanSee(Guid? teamId, Guid? assigneeId) =>
        SeesAllDepartments
        || assigneeId == UserId
        || (teamId is { } team ? TeamIds.Contains(team) : UnteamedVisible);

    /// <summary>
    /// Whether the department itself is the user's (null: the general queue, visible while unteamed conversations are):
    /// the supervisors' live view shows these departments' queues, counts and members.
    /// </summary>
    public bool SeesDepartment(Guid? teamId) =>
        SeesAllDepartments || (teamId is { } team ? TeamIds.Contains(team) : UnteamedVisible);

    /// <summary>The same rule as an expression EF Core translates to SQL, for lists, search and reports.</summary>
    public Expression<Func<Conversation, bool>> ConversationFilter()
    {
        if (SeesAllDepartments)
        {
            return _ => true;
        }

        var userId = UserId;
        var teams = TeamIds.ToList();
        var unteamed = UnteamedVisible;
        return c => c.AssigneeId == userId
                    || (c.TeamId != null && teams.Contains(c.TeamId.Value))
                    || (unteamed && c.TeamId == null);
    }

    /// <summary>
    /// The conversations the user sees only because they are assigned to him: his own, outside his departments (the
    /// assignee part of <see cref="ConversationFilter"/> without the department part). History search reads these
    /// directly, since the department postings of its index do not cover them.
    /// </summary>
    public Expression<Func<Conversation, bool>> OwnOutsideDepartments()
    {
        var userId = UserId;
        var teams = TeamIds.ToList();
        var unteamed = UnteamedVisible;
        return c => c.AssigneeId == userId
                    && !((c.TeamId != null && teams.Contains(c.TeamId.Value)) || (unteamed && c.TeamId == null));
    }

    /// <summary>
    /// The report sandbox over <see cref="ConversationFacts"/>: an agent reports on the conversations attributed to
    /// himself only; a supervisor on his departments (the conversation rule above); admins and users granted all
    /// departments on everything.
    /// </summary>
    public Expression<Func<ConversationFacts, bool>> ReportFilter()
    {
        var userId = UserId;
        if (!IsSupervisor)
        {
            return f => f.AssigneeId == userId;
        }

        if (SeesAllDepartments)
        {
            return _ => true;
        }

        var teams = TeamIds.ToList();
        var unteamed = UnteamedVisible;
        return f => f.AssigneeId == userId
                    || (f.TeamId != null && teams.Contains(f.TeamId.Value))
                    || (unteamed && f.TeamId == null);
    }
}

/// <summary>What an actor wants to do with a conversation; the policy decides per role.</summary>
public enum ConversationAction
{
    /// <summary>See it, its messages and attachments; join it live (supervisors: watch team chats).</summary>
    Read,

    /// <summary>Send a visible message.</summary>
    Reply,

    /// <summary>Internal note / supervisor whisper: visible to agents only.</summary>
    Note,

    /// <summary>Close or reopen.</summary>
    ChangeStatus,

    /// <summary>Assign to oneself while it is unassigned or already one's own.</summary>
    Claim,

    /// <summary>Assign to someone else, or take over a conversation another agent holds (supervisors and admins).</summary>
    Reassign,

    /// <summary>Supervisor whisper: a note addressed to the conversation's assigned agent (supervisors and admins).</summary>
    Whisper,

    /// <summary>Supervisor take-over: assign to oneself whoever holds it, the holder is told (supervisors and admins).</summary>
    TakeOver,
}
