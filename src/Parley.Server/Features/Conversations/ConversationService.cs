using Microsoft.EntityFrameworkCore;
using Parley.Data;
using Parley.Server.Events;
using Parley.Server.Features.Access;
using Parley.Server.Infrastructure;
using Parley.Server.Messaging;
using Parley.Server.Realtime;

namespace Parley.Server.Features.Conversations;

/// <summary>Conversation lifecycle: start, assign, close, reopen, and the inbox queries.</summary>
/// <remarks>Every method that takes an <see cref="Actor"/> checks it through <see cref="AccessPolicy"/>.</remarks>
public sealed class ConversationService(ParleyDbContext db, MessageWriter writer, DomainEvents events, AccessPolicy access, TimeProvider time, IEnumerable<Routing.IRoutingRule> routingRules)
{
    /// <summary>The visitor's open conversation, created on first use. Idempotent, also under concurrent calls.</summary>
    public async Task<ConversationInfo> StartForVisitorAsync(Guid siteId, Guid contactId, CancellationToken cancellationToken = default)
    {
        for (var attempt = 0; ; attempt++)
        {
            var existing = await db.Conversations.AsNoTracking()
                .Where(c => c.ContactId == contactId && c.Status != ConversationStatus.Closed)
                .FirstOrDefaultAsync(cancellationToken);
            if (existing is not null)
            {
                return ConversationInfo.From(existing);
            }

            var now = time.GetUtcNow().UtcDateTime;
            now = now.AddTicks(-(now.Ticks % TimeSpan.TicksPerMicrosecond));
            var routing = await RouteAsync(siteId, contactId, cancellationToken);
            var conversation = new Conversation
            {
                Id = Guid.CreateVersion7(),
                SiteId = siteId,
                ContactId = contactId,
                Status = ConversationStatus.Open,
                CreatedAt = now,
                UpdatedAt = now,
                LastMessageAt = now,
                // Every new conversation starts in the waiting queue; routing takes it from there.
                TeamId = routing.TeamId,
                Priority = routing.Priority,
                QueuedAt = now,
                RoutedAt = now,
            };
            db.Conversations.Add(conversation);
            try
            {
                await db.SaveChangesAsync(cancellationToken);
            }
            catch (DbUpdateException) when (attempt == 0)
            {
                // Another connection of the same visitor won the race (unique "one active conversation" index).
                db.ChangeTracker.Clear();
                continue;
            }

            events.Publish(new ConversationChanged(await LoadStateAsync(conversation.Id, cancellationToken)) { Change = "created" });
            events.Publish(new Routing.ConversationQueued(conversation.Id, conversation.TeamId, conversation.Priority, "new"));
            return ConversationInfo.From(conversation);
        }
    }

    public async Task<(List<ConversationSummary> Items, string? NextCursor)> ListAsync(Actor actor, string status, int limit, string? cursor, CancellationToken cancellationToken)
    {
        limit = Math.Clamp(limit, 1, 200);
        var query = SummaryQuery(await access.ConversationsAsync(actor, cancellationToken));
        query = status switch
        {
            "closed" => query.Where(x => x.Conversation.Status == ConversationStatus.Closed),
            "all" => query,
            _ => query.Where(x => x.Conversation.Status != ConversationStatus.Closed),
        };
        if (cursor is not null && long.TryParse(cursor, out var ticks))
        {
            var before = new DateTime(ticks, DateTimeKind.Utc);
            query = query.Where(x => x.Conversation.LastMessageAt < before);
        }

        var rows = await query.OrderByDescending(x => x.Conversation.LastMessageAt).Take(limit + 1).ToListAsync(cancellationToken);
        var items = rows.Take(limit).Select(ToState).Select(s => s.ToSummary()).ToList();
        var next = rows.Count > limit ? items[^1].LastMessageAt?.Ticks.ToString(System.Globalization.CultureInfo.InvariantCulture) : null;
        return (items, next);
    }

    public async Task<ConversationSummary> GetAsync(Actor actor, Guid id, CancellationToken cancellationToken)
    {
        await access.RequireConversationAsync(actor, id, ConversationAction.Read, cancellationToken);
        return (await LoadStateAsync(id, cancellationToken)).ToSummary();
    }

    public async Task<List<MessageDto>> MessagesAsync(Actor actor, Guid id, long? beforeSeq, long? afterSeq, int limit, CancellationToken cancellationToken)
    {
        limit = Math.Clamp(limit, 1, 200);
        await access.RequireConversationAsync(actor, id, ConversationAction.Read, cancellationToken);

        var query = db.Messages.AsNoTracking().Where(m => m.ConversationId == id);
        List<Message> rows;
        if (afterSeq is { } after)
        {
            rows = await query.Where(m => m.Seq > after).OrderBy(m => m.Seq).Take(limit).ToListAsync(cancellationToken);
        }
        else
        {
            if (beforeSeq is { } before)
            {
                query = query.Where(m => m.Seq < before);
            }

            rows = await query.OrderByDescending(m => m.Seq).Take(limit).ToListAsync(cancellationToken);
            rows.Reverse();
        }

        return rows.ConvertAll(m => MessageMapper.ToDto(m, Audience.Agent));
    }

    public async Task<ConversationSummary> CloseAsync(Guid id, Actor actor, CancellationToken cancellationToken)
    {
        await access.RequireConversationAsync(actor, id, ConversationAction.ChangeStatus, cancellationToken);
        return await ChangeAsync(id, c => { c.Status = ConversationStatus.Closed; c.ClosedAt = time.GetUtcNow().UtcDateTime; c.QueuedAt = null; c.OfferedToId = null; c.OfferExpiresAt = null; }, $"Closed by {actor.Name}", actor, cancellationToken, "closed");
    }

    public async Task<ConversationSummary> ReopenAsync(Guid id, Actor actor, CancellationToken cancellationToken)
    {
        await access.RequireConversationAsync(actor, id, ConversationAction.ChangeStatus, cancellationToken);
        return await ChangeAsync(id, c => { c.Status = ConversationStatus.Open; c.ClosedAt = null; c.QueuedAt = c.AssigneeId is null ? time.GetUtcNow().UtcDateTime : null; }, $"Reopened by {actor.Name}", actor, cancellationToken, "reopened");
    }

    private async Task<ConversationSummary> ChangeAsync(Guid id, Action<Conversation> change, string eventText, Actor actor, CancellationToken cancellationToken, string changeKind = "updated")
    {
        var conversation = await db.Conversations.FirstOrDefaultAsync(c => c.Id == id, cancellationToken) ?? throw ParleyException.NotFound();
        change(conversation);
        conversation.UpdatedAt = time.GetUtcNow().UtcDateTime;
        try
        {
            await db.SaveChangesAsync(cancellationToken);
        }
        catch (DbUpdateException)
        {
            throw new ParleyException("conversation_conflict", "The visitor already has another active conversation.", StatusCodes.Status409Conflict);
        }

        return await RecordChangeAsync(id, eventText, actor, cancellationToken, changeKind);
    }

    /// <summary>
    /// After a committed change of status or assignee: records it in the conversation itself as an event line
    /// (through the normal message path) and tells everyone the conversation changed.
    /// </summary>
    /// <param name="changeKind">What changed, for integrations (<c>conversation.{changeKind}</c>): updated, assigned, closed, reopened.</param>
    public async Task<ConversationSummary> RecordChangeAsync(Guid id, string eventText, Actor actor, CancellationToken cancellationToken, string changeKind = "updated")
    {
        await writer.WriteAsync(new WriteCommand(id, Guid.NewGuid(), SenderKind.System, actor.PrincipalId, actor.Name, MessageKind.Event, eventText), cancellationToken);
        var state = await LoadStateAsync(id, cancellationToken);
        events.Publish(new ConversationChanged(state) { Change = changeKind });
        return state.ToSummary();
    }

    /// <summary>Tells everyone the conversation changed (a change committed elsewhere, without an event line).</summary>
    public async Task<ConversationSummary> PublishChangedAsync(Guid id, CancellationToken cancellationToken)
    {
        var state = await LoadStateAsync(id, cancellationToken);
        events.Publish(new ConversationChanged(state));
        return state.ToSummary();
    }

    private async Task<Routing.RoutingContext> RouteAsync(Guid siteId, Guid contactId, CancellationToken cancellationToken)
    {
        var attributes = await db.Contacts.AsNoTracking().Where(c => c.Id == contactId).Select(c => c.AttributesJson).FirstOrDefaultAsync(cancellationToken);
        var context = new Routing.RoutingContext { SiteId = siteId, ContactId = contactId, ContactAttributesJson = attributes };
        foreach (var rule in routingRules)
        {
            await rule.ApplyAsync(context, cancellationToken);
        }

        return context;
    }

    private async Task<ConversationState> LoadStateAsync(Guid id, CancellationToken cancellationToken)
    {
        var row = await SummaryQuery(db.Conversations.AsNoTracking()).FirstOrDefaultAsync(x => x.Conversation.Id == id, cancellationToken) ?? throw ParleyException.NotFound();
        return ToState(row);
    }

    private IQueryable<SummaryRow> SummaryQuery(IQueryable<Conversation> conversations) =>
        from c in conversations
        join ct in db.Contacts on c.ContactId equals ct.Id
        join u in db.Users on c.AssigneeId equals u.Id into assignees
        from u in assignees.DefaultIfEmpty()
        select new SummaryRow { Conversation = c, ContactName = ct.Name, AssigneeName = u == null ? null : u.DisplayName };

    private static ConversationState ToState(SummaryRow row) => new()
    {
        Id = row.Conversation.Id,
        SiteId = row.Conversation.SiteId,
        ContactId = row.Conversation.ContactId,
        ContactName = row.ContactName,
        Status = row.Conversation.Status,
        AssigneeId = row.Conversation.AssigneeId,
        AssigneeName = row.AssigneeName,
        TeamId = row.Conversation.TeamId,
        LastSeq = row.Conversation.LastSeq,
        LastVisitorSeq = row.Conversation.LastVisitorSeq,
        CreatedAt = row.Conversation.CreatedAt,
        LastMessageAt = row.Conversation.LastMessageAt,
        LastMessagePreview = row.Conversation.LastMessagePreview,
        LastMessageSenderKind = row.Conversation.LastMessageSenderKind,
    };

    // A class with init members (not a positional record) so EF Core can keep composing Where/OrderBy over it.
    private sealed class SummaryRow
    {
        public required Conversation Conversation { get; init; }

        public string? ContactName { get; init; }

        public string? AssigneeName { get; init; }
    }
}
