using Microsoft.EntityFrameworkCore;
using Parley.Data;
using Parley.Server.Features.Access;
using Parley.Server.Messaging;

namespace Parley.Server.Features.Ai;

/// <summary>One raised human-takeover alert (supervisors' live view; docs/ai.md).</summary>
public sealed record TakeoverAlertDto(
    Guid ConversationId, Guid SiteId, Guid? TeamId, Guid? AssigneeId, string? AssigneeName, string? ContactName, string Reason, DateTime RaisedAt, string? Intent, bool BotActive);

/// <summary>
/// The raised takeover alerts a user may see (open conversations, department sandbox), oldest first. The supervisors'
/// live view reads this once and then follows the agent hub's <c>conversationUpdated</c> event, whose summary carries
/// <c>takeoverReason</c> (null again when the episode ended) and <c>takeoverAlertedAt</c>.
/// </summary>
public static class TakeoverAlerts
{
    public static async Task<List<TakeoverAlertDto>> ListAsync(ParleyDbContext db, AccessPolicy access, Actor actor, CancellationToken cancellationToken, int limit = 200)
    {
        var visible = await access.ConversationsAsync(actor, cancellationToken);
        return await (from c in visible.AsNoTracking()
                      where c.TakeoverReason != null && c.Status != ConversationStatus.Closed
                      join ct in db.Contacts on c.ContactId equals ct.Id
                      join u in db.Users on c.AssigneeId equals u.Id into assignees
                      from u in assignees.DefaultIfEmpty()
                      orderby c.TakeoverAlertedAt
                      select new TakeoverAlertDto(
                          c.Id, c.SiteId, c.TeamId, c.AssigneeId, u == null ? null : u.DisplayName, ct.Name, c.TakeoverReason!, c.TakeoverAlertedAt!.Value, c.Intent, c.BotActive))
            .Take(Math.Clamp(limit, 1, 1000))
            .ToListAsync(cancellationToken);
    }
}
