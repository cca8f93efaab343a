using System.Security.Claims;
using Microsoft.EntityFrameworkCore;
using Parley.Data;
using Parley.Server.Messaging;

namespace Parley.Server.Features.Conversations;

public enum InboxView
{
    /// <summary>Every conversation that is not closed (the default).</summary>
    All,
    Mine,
    Unassigned,
    Teams,
    Closed,

    /// <summary>Open and closed together.</summary>
    Everything,
}

public enum InboxSort
{
    /// <summary>Longest-waiting visitor first, then answered conversations by recent activity.</summary>
    Waiting,
    Recent,
}

public sealed record InboxFilter(
    InboxView View = InboxView.All,
    string? Status = null,
    Guid? LabelId = null,
    DateTime? From = null,
    DateTime? To = null,
    InboxSort Sort = InboxSort.Waiting,
    int Limit = 50,
    string? Cursor = null);

/// <summary>One inbox row for the asking agent: the shared summary plus what is personal to them.</summary>
public sealed record InboxEntry(ConversationSummary Conversation, long LastReadSeq, IReadOnlyList<Guid> LabelIds);

public sealed record InboxPage(IReadOnlyList<InboxEntry> Items, string? NextCursor);

/// <summary>
/// Which conversations a signed-in user may see in lists and search. TEMPORARY single place until the security
/// helper's AccessPolicy lands on main: swap the body of <see cref="VisibleConversations"/> for it. Until then
/// admins and supervisors see everything; agents see conversations assigned to them, unassigned ones without a
/// team, and those of the teams they belong to.
/// </summary>
public sealed class ConversationScope(ParleyDbContext db)
{
    public IQueryable<Conversation> VisibleConversations(ClaimsPrincipal user)
    {
        var all = db.Conversations.AsNoTracking();
        if (user.IsInRole("admin") || user.IsInRole("supervisor"))
        {
            return all;
        }

        var me = Infrastructure.ParleyClaims.UserId(user) ?? Guid.Empty;
        return all.Where(c => c.AssigneeId == me
            || (c.TeamId == null && c.AssigneeId == null)
            || db.TeamMembers.Any(tm => tm.UserId == me && tm.TeamId == c.TeamId));
    }
}
