using System.Security.Claims;
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
    string? Cursor = null,
    string? Intent = null);

/// <summary>One inbox row for the asking agent: the shared summary plus what is personal to them.</summary>
public sealed record InboxEntry(ConversationSummary Conversation, long LastReadSeq, IReadOnlyList<Guid> LabelIds);

public sealed record InboxPage(IReadOnlyList<InboxEntry> Items, string? NextCursor);

/// <summary>
/// Which conversations a signed-in user may see, for the console's lists, search and actions: the security
/// feature's <see cref="Access.AccessPolicy"/> (RBAC + department sandbox), taken from the principal.
/// </summary>
public sealed class ConversationScope(Access.AccessPolicy access)
{
    public Task<IQueryable<Conversation>> VisibleConversationsAsync(ClaimsPrincipal user, CancellationToken cancellationToken) =>
        access.ConversationsAsync(Actor.Agent(user), cancellationToken);

    /// <summary>The conversation when the user may do <paramref name="action"/> with it; 404/403 otherwise.</summary>
    public Task<Conversation> RequireAsync(ClaimsPrincipal user, Guid conversationId, Access.ConversationAction action, CancellationToken cancellationToken) =>
        access.RequireConversationAsync(Actor.Agent(user), conversationId, action, cancellationToken);
}
