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
        if (await db.Contacts.AnyAsync(c => c.Id == contactId && c.BlockedAt != null, cancellationToken))
        {
            throw new ParleyException(ErrorCatalogue.ContactBlocked, "This visitor is blocked.");
        }

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
            var routing = await RouteAsync(siteId, contactId, null, cancellationToken);
            var site = await db.Sites.AsNoTracking().Where(s => s.Id == siteId).Select(s => new { s.WidgetSettingsJson, s.AiSettingsJson }).FirstOrDefaultAsync(cancellationToken);
            var botFirst = Widget.WidgetSettings.Parse(site?.WidgetSettingsJson).BotFirst;

            // Intent routing: wait (bounded) for the visitor's first message so routing can read it; the bot reads
            // it anyway on bot-first sites, and routes by it when it hands off.
            var wait = botFirst ? 0 : Ai.AiSiteSettings.Parse(site?.AiSettingsJson).FirstMessageWaitSeconds;
            var conversation = new Conversation
            {
                Id = Guid.CreateVersion7(),
                SiteId = siteId,
                ContactId = contactId,
                Status = ConversationStatus.Open,
                CreatedAt = now,
                UpdatedAt = now,
                LastMessageAt = now,
                // Every new conversation starts in the waiting queue and routing takes it from there, unless the bot
                // answers first (bot-first sites): then it is queued when the bot hands off.
                TeamId = routing.TeamId,
                Priority = routing.Priority,
                QueuedAt = botFirst || wait > 0 ? null : now,
                RoutedAt = now,
                RoutingWaitUntil = wait > 0 ? now.AddSeconds(wait) : null,
                BotActive = botFirst,
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
            if (conversation.QueuedAt is not null)
            {
                events.Publish(new Routing.ConversationQueued(conversation.Id, conversation.TeamId, conversation.Priority, "new"));
            }

            return ConversationInfo.From(conversation);
        }
    }

    /// <summary>An inbox view (mine, unassigned, teams, all, closed) with filters, for one agent.</summary>
    public async Task<InboxPage> ListAsync(System.Security.Claims.ClaimsPrincipal user, InboxFilter filter, CancellationToken cancellationToken)
    {
        var limit = Math.Clamp(filter.Limit, 1, 200);
        var offset = 0;
        if (filter.Cursor is not null && (!int.TryParse(filter.Cursor, System.Globalization.CultureInfo.InvariantCulture, out offset) || offset < 0))
        {
            throw new ParleyException(ErrorCatalogue.InvalidCursor, "The cursor is not one this API returned.");
        }

        var actor = Actor.Agent(user);
        var query = SummaryQuery(await access.ConversationsAsync(actor, cancellationToken));
        var me = actor.PrincipalId;
        query = filter.View switch
        {
            InboxView.Mine => query.Where(x => x.Conversation.AssigneeId == me && x.Conversation.Status != ConversationStatus.Closed),
            InboxView.Unassigned => query.Where(x => x.Conversation.AssigneeId == null && x.Conversation.Status != ConversationStatus.Closed),
            InboxView.Teams => query.Where(x => x.Conversation.Status != ConversationStatus.Closed
                && db.TeamMembers.Any(tm => tm.UserId == me && tm.TeamId == x.Conversation.TeamId)),
            InboxView.Closed => query.Where(x => x.Conversation.Status == ConversationStatus.Closed),
            InboxView.Everything => query,
            _ => query.Where(x => x.Conversation.Status != ConversationStatus.Closed),
        };
        query = filter.Status switch
        {
            "open" => query.Where(x => x.Conversation.Status != ConversationStatus.Closed),
            "pending" => query.Where(x => x.Conversation.Status == ConversationStatus.Pending),
            "snoozed" => query.Where(x => x.Conversation.SnoozedUntil != null),
            "closed" => query.Where(x => x.Conversation.Status == ConversationStatus.Closed),
            "waiting" => query.Where(x => x.Conversation.WaitingSince != null),
            null or "" or "any" or "all" => query,
            _ => throw new ParleyException(ErrorCatalogue.InvalidStatus, "status must be open, pending, snoozed, waiting, closed or all."),
        };
        if (filter.LabelId is { } labelId)
        {
            query = query.Where(x => db.ConversationLabels.Any(l => l.ConversationId == x.Conversation.Id && l.LabelId == labelId));
        }

        if (!string.IsNullOrWhiteSpace(filter.Intent))
        {
            var intent = filter.Intent.Trim().ToLowerInvariant();
            query = query.Where(x => x.Conversation.Intent == intent);
        }

        if (filter.From is { } from)
        {
            query = query.Where(x => x.Conversation.CreatedAt >= from);
        }

        if (filter.To is { } to)
        {
            query = query.Where(x => x.Conversation.CreatedAt < to);
        }

        // Oldest waiting first: whoever has waited longest for an answer is on top; answered ones follow, most recent first.
        query = filter.Sort switch
        {
            InboxSort.Recent => query.OrderByDescending(x => x.Conversation.LastMessageAt).ThenBy(x => x.Conversation.Id),
            _ => query.OrderBy(x => x.Conversation.WaitingSince == null)
                .ThenBy(x => x.Conversation.WaitingSince)
                .ThenByDescending(x => x.Conversation.LastMessageAt)
                .ThenBy(x => x.Conversation.Id),
        };

        var rows = await query.Skip(offset).Take(limit + 1).ToListAsync(cancellationToken);
        var items = rows.Take(limit).Select(ToState).Select(s => s.ToSummary()).ToList();
        var ids = items.Select(i => i.Id).ToList();
        var reads = await db.ReadMarkers.AsNoTracking()
            .Where(r => r.UserId == me && ids.Contains(r.ConversationId))
            .ToDictionaryAsync(r => r.ConversationId, r => r.LastReadSeq, cancellationToken);
        var labels = (await db.ConversationLabels.AsNoTracking().Where(l => ids.Contains(l.ConversationId)).ToListAsync(cancellationToken))
            .GroupBy(l => l.ConversationId)
            .ToDictionary(g => g.Key, g => (IReadOnlyList<Guid>)g.Select(l => l.LabelId).ToList());
        var entries = items.ConvertAll(i => new InboxEntry(i, reads.GetValueOrDefault(i.Id), labels.GetValueOrDefault(i.Id) ?? []));
        var next = rows.Count > limit ? (offset + limit).ToString(System.Globalization.CultureInfo.InvariantCulture) : null;
        return new InboxPage(entries, next);
    }

    public async Task<ConversationSummary> GetAsync(Actor actor, Guid id, CancellationToken cancellationToken)
    {
        await access.RequireConversationAsync(actor, id, ConversationAction.Read, cancellationToken);
        return (await LoadStateAsync(id, cancellationToken)).ToSummary();
    }

    /// <summary>
    /// A page of history in the actor's numbering: agents page by seq and see notes; visitors page by their own seq
    /// (which skips notes) and never see notes. Without bounds: the newest page.
    /// </summary>
    public async Task<List<MessageDto>> MessagesAsync(Actor actor, Guid id, long? beforeSeq, long? afterSeq, int limit, CancellationToken cancellationToken)
    {
        limit = Math.Clamp(limit, 1, 200);
        await access.RequireConversationAsync(actor, id, ConversationAction.Read, cancellationToken);

        var visitor = actor.Audience == Audience.Visitor;
        var query = db.Messages.AsNoTracking().Where(m => m.ConversationId == id);
        if (visitor)
        {
            query = query.Where(m => m.VisitorSeq != null);
        }

        List<Message> rows;
        if (afterSeq is { } after)
        {
            rows = visitor
                ? await query.Where(m => m.VisitorSeq > after).OrderBy(m => m.VisitorSeq).Take(limit).ToListAsync(cancellationToken)
                : await query.Where(m => m.Seq > after).OrderBy(m => m.Seq).Take(limit).ToListAsync(cancellationToken);
        }
        else
        {
            if (beforeSeq is { } before)
            {
                query = visitor ? query.Where(m => m.VisitorSeq < before) : query.Where(m => m.Seq < before);
            }

            rows = visitor
                ? await query.OrderByDescending(m => m.VisitorSeq).Take(limit).ToListAsync(cancellationToken)
                : await query.OrderByDescending(m => m.Seq).Take(limit).ToListAsync(cancellationToken);
            rows.Reverse();
        }

        return rows.ConvertAll(m => MessageMapper.ToDto(m, actor.Audience));
    }

    public async Task<ConversationSummary> CloseAsync(Guid id, Actor actor, CancellationToken cancellationToken)
    {
        await access.RequireConversationAsync(actor, id, ConversationAction.ChangeStatus, cancellationToken);
        return await ChangeAsync(id, c => { c.Status = ConversationStatus.Closed; c.ClosedAt = time.GetUtcNow().UtcDateTime; c.SnoozedUntil = null; c.QueuedAt = null; c.OfferedToId = null; c.OfferExpiresAt = null; }, SystemLine.Closed(actor.Name), actor, cancellationToken, "closed");
    }

    public async Task<ConversationSummary> ReopenAsync(Guid id, Actor actor, CancellationToken cancellationToken)
    {
        await access.RequireConversationAsync(actor, id, ConversationAction.ChangeStatus, cancellationToken);
        return await ChangeAsync(id, c => { c.Status = ConversationStatus.Open; c.ClosedAt = null; c.SnoozedUntil = null; c.QueuedAt = c.AssigneeId is null ? time.GetUtcNow().UtcDateTime : null; }, SystemLine.Reopened(actor.Name), actor, cancellationToken, "reopened");
    }

    internal async Task<ConversationSummary> ChangeAsync(Guid id, Action<Conversation> change, string eventText, Actor actor, CancellationToken cancellationToken, string changeKind = "updated")
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
            throw new ParleyException(ErrorCatalogue.ConversationConflict, "The visitor already has another active conversation.");
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
        // The line is stored as a code (SystemLine); the inbox preview, one plain string for every reader, stays English.
        await writer.WriteAsync(new WriteCommand(id, Guid.NewGuid(), SenderKind.System, actor.PrincipalId, actor.Name, MessageKind.Event, eventText) { PreviewText = SystemLine.ToEnglish(eventText) }, cancellationToken);
        var state = await LoadStateAsync(id, cancellationToken);
        events.Publish(new ConversationChanged(state) { Change = changeKind });
        return state.ToSummary();
    }

    /// <summary>
    /// The bot hands the conversation to people: it leaves the bot and enters the waiting queue (optionally in another
    /// team and with a priority boost, from what the bot read). Idempotent: a conversation the bot no longer has is
    /// left alone and false returned, so the visitor's button and the bot's own decision can race harmlessly.
    /// </summary>
    public async Task<bool> HandOffFromBotAsync(Guid id, Guid? teamId, int priorityBoost, string eventText, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow().UtcDateTime;
        var changed = await db.Conversations
            .Where(c => c.Id == id && c.BotActive && c.Status != ConversationStatus.Closed)
            .ExecuteUpdateAsync(
                s => s.SetProperty(c => c.BotActive, false)
                    .SetProperty(c => c.RoutingWaitUntil, (DateTime?)null)
                    .SetProperty(c => c.QueuedAt, c => c.AssigneeId == null ? now : null)
                    .SetProperty(c => c.RoutedAt, now)
                    .SetProperty(c => c.TeamId, c => teamId ?? c.TeamId)
                    .SetProperty(c => c.Priority, c => c.Priority + priorityBoost)
                    .SetProperty(c => c.UpdatedAt, now),
                cancellationToken);
        if (changed == 0)
        {
            return false;
        }

        await RecordChangeAsync(id, eventText, Actor.Agent(Guid.Empty, "Bot"), cancellationToken, "handed_off");
        var row = await db.Conversations.AsNoTracking().Where(c => c.Id == id).Select(c => new { c.TeamId, c.Priority, c.AssigneeId }).FirstAsync(cancellationToken);
        if (row.AssigneeId is null)
        {
            events.Publish(new Routing.ConversationQueued(id, row.TeamId, row.Priority, "handoff"));
        }

        return true;
    }

    /// <summary>
    /// Routes a conversation that waited for the visitor's first message (intent routing): the routing rules run again
    /// with what the visitor wrote (null when the wait ran out), and it enters the queue. Exactly once, also across
    /// nodes (conditional on still waiting); false when it was not waiting any more.
    /// </summary>
    public async Task<bool> RouteWaitingAsync(Guid id, Routing.FirstMessage? firstMessage, CancellationToken cancellationToken)
    {
        var c = await db.Conversations.AsNoTracking().Where(x => x.Id == id && x.RoutingWaitUntil != null && x.Status != ConversationStatus.Closed).Select(x => new { x.SiteId, x.ContactId }).FirstOrDefaultAsync(cancellationToken);
        if (c is null)
        {
            return false;
        }

        var routing = await RouteAsync(c.SiteId, c.ContactId, firstMessage, cancellationToken);
        var now = time.GetUtcNow().UtcDateTime;
        var changed = await db.Conversations
            .Where(x => x.Id == id && x.RoutingWaitUntil != null && x.Status != ConversationStatus.Closed)
            .ExecuteUpdateAsync(
                s => s.SetProperty(x => x.RoutingWaitUntil, (DateTime?)null)
                    .SetProperty(x => x.QueuedAt, x => x.AssigneeId == null && x.Status != ConversationStatus.Closed && !x.BotActive ? now : null)
                    .SetProperty(x => x.RoutedAt, now)
                    .SetProperty(x => x.TeamId, x => x.AssigneeId == null ? routing.TeamId : x.TeamId)
                    .SetProperty(x => x.Priority, routing.Priority)
                    .SetProperty(x => x.UpdatedAt, now),
                cancellationToken);
        if (changed == 0)
        {
            return false;
        }

        var row = await db.Conversations.AsNoTracking().Where(x => x.Id == id).Select(x => new { x.TeamId, x.Priority, x.QueuedAt }).FirstAsync(cancellationToken);
        await PublishChangedAsync(id, cancellationToken);
        if (row.QueuedAt is not null)
        {
            events.Publish(new Routing.ConversationQueued(id, row.TeamId, row.Priority, "new"));
        }

        return true;
    }

    /// <summary>Tells everyone the conversation changed (a change committed elsewhere, without an event line).</summary>
    public async Task<ConversationSummary> PublishChangedAsync(Guid id, CancellationToken cancellationToken)
    {
        var state = await LoadStateAsync(id, cancellationToken);
        events.Publish(new ConversationChanged(state));
        return state.ToSummary();
    }

    private async Task<Routing.RoutingContext> RouteAsync(Guid siteId, Guid contactId, Routing.FirstMessage? firstMessage, CancellationToken cancellationToken)
    {
        var contact = await db.Contacts.AsNoTracking().Where(c => c.Id == contactId).Select(c => new { c.AttributesJson, c.LastPageJson }).FirstOrDefaultAsync(cancellationToken);
        var context = new Routing.RoutingContext
        {
            SiteId = siteId,
            ContactId = contactId,
            ContactAttributesJson = contact?.AttributesJson,
            VisitorLanguage = Widget.VisitorProfiles.PageOf(contact?.LastPageJson)?.Language,
            FirstMessage = firstMessage,
        };
        foreach (var rule in routingRules)
        {
            await rule.ApplyAsync(context, cancellationToken);
        }

        return context;
    }

    internal async Task<ConversationState> LoadStateAsync(Guid id, CancellationToken cancellationToken)
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

    private static ConversationState ToState(SummaryRow row) => ConversationState.From(row.Conversation, row.ContactName, row.AssigneeName);

    // A class with init members (not a positional record) so EF Core can keep composing Where/OrderBy over it.
    private sealed class SummaryRow
    {
        public required Conversation Conversation { get; init; }

        public string? ContactName { get; init; }

        public string? AssigneeName { get; init; }
    }
}
