using System.Security.Claims;
using Microsoft.EntityFrameworkCore;
using Parley.Data;
using Parley.Server.Events;
using Parley.Server.Features.Conversations;
using Parley.Server.Infrastructure;
using Parley.Server.Messaging;

namespace Parley.Server.Features.Console;

public sealed record SnoozeRequest(DateTime? Until);

public sealed record ReadMarkerRequest(long Seq);

public sealed record ReadStateDto(Guid ConversationId, long LastReadSeq);

/// <summary>Snooze, spam/block and read markers: console actions on a conversation beside the lifecycle ones.</summary>
public sealed class ConsoleConversationActions(
    ParleyDbContext db, ConversationService conversations, ConversationScope scope, DomainEvents events, TimeProvider time)
{
    public static readonly TimeSpan MaxSnooze = TimeSpan.FromDays(365);

    public async Task<ConversationSummary> SnoozeAsync(ClaimsPrincipal user, Guid id, DateTime? until, CancellationToken cancellationToken)
    {
        await EnsureVisibleAsync(user, id, cancellationToken);
        var now = time.GetUtcNow().UtcDateTime;
        if (until is not { } u || u.ToUniversalTime() <= now || u.ToUniversalTime() - now > MaxSnooze)
        {
            throw new ParleyException(ErrorCatalogue.InvalidSnooze, "'until' must be a time in the future, at most a year ahead.");
        }

        var utc = u.ToUniversalTime();
        var actor = Actor.Agent(user);
        return await conversations.ChangeAsync(
            id,
            c =>
            {
                if (c.Status == ConversationStatus.Closed)
                {
                    throw new ParleyException(ErrorCatalogue.ConversationClosed, "A closed conversation cannot be snoozed.");
                }

                c.Status = ConversationStatus.Pending;
                c.SnoozedUntil = utc;
            },
            SystemLine.Snoozed(actor.Name, utc),
            actor,
            cancellationToken);
    }

    public async Task<ConversationSummary> UnsnoozeAsync(ClaimsPrincipal user, Guid id, CancellationToken cancellationToken)
    {
        await EnsureVisibleAsync(user, id, cancellationToken);
        var actor = Actor.Agent(user);
        return await conversations.ChangeAsync(id, Wake, SystemLine.Unsnoozed(actor.Name), actor, cancellationToken);
    }

    /// <summary>
    /// Re-opens a snoozed conversation whose time has come or whose visitor wrote; false when it is not snoozed any
    /// more. With <paramref name="snoozedUntil"/> only that very snooze is ended (a newer one stays).
    /// </summary>
    public async Task<bool> WakeAsync(Guid id, DateTime? snoozedUntil, string reason, CancellationToken cancellationToken)
    {
        var current = await db.Conversations.AsNoTracking().Where(c => c.Id == id).Select(c => c.SnoozedUntil).FirstOrDefaultAsync(cancellationToken);
        if (current is null || (snoozedUntil is { } expected && current != expected))
        {
            return false;
        }

        await conversations.ChangeAsync(id, Wake, reason, new Actor(Audience.Agent, Guid.Empty, null), cancellationToken);
        return true;
    }

    /// <summary>Marks the conversation as spam: its contact is blocked and the conversation closed.</summary>
    public async Task<ConversationSummary> MarkSpamAsync(ClaimsPrincipal user, Guid id, CancellationToken cancellationToken)
    {
        var contactId = await EnsureVisibleAsync(user, id, cancellationToken);
        await SetBlockedAsync(contactId, true, cancellationToken);
        var actor = Actor.Agent(user);
        return await conversations.ChangeAsync(
            id,
            c => { c.Status = ConversationStatus.Closed; c.ClosedAt = time.GetUtcNow().UtcDateTime; c.SnoozedUntil = null; c.WaitingSince = null; },
            SystemLine.MarkedSpam(actor.Name),
            actor,
            cancellationToken);
    }

    public async Task SetContactBlockedAsync(ClaimsPrincipal user, Guid conversationId, bool blocked, CancellationToken cancellationToken)
    {
        var contactId = await EnsureVisibleAsync(user, conversationId, cancellationToken);
        await SetBlockedAsync(contactId, blocked, cancellationToken);
    }

    public async Task<ReadStateDto> MarkReadAsync(ClaimsPrincipal user, Guid id, long seq, CancellationToken cancellationToken)
    {
        if (seq < 0)
        {
            throw new ParleyException(ErrorCatalogue.InvalidSeq, "seq must not be negative.");
        }

        var me = Actor.Agent(user).PrincipalId;
        var lastSeq = await (await scope.VisibleConversationsAsync(user, cancellationToken)).Where(c => c.Id == id).Select(c => (long?)c.LastSeq).FirstOrDefaultAsync(cancellationToken)
            ?? throw ParleyException.NotFound();
        seq = Math.Min(seq, lastSeq);
        var now = time.GetUtcNow().UtcDateTime;
        // One statement that only ever moves the marker forward, also when two tabs race.
        if (db.Database.IsNpgsql())
        {
            await db.Database.ExecuteSqlInterpolatedAsync($"""
                INSERT INTO "ReadMarkers" ("UserId", "ConversationId", "LastReadSeq", "UpdatedAt") VALUES ({me}, {id}, {seq}, {now})
                ON CONFLICT ("UserId", "ConversationId") DO UPDATE SET "LastReadSeq" = GREATEST("ReadMarkers"."LastReadSeq", excluded."LastReadSeq"), "UpdatedAt" = excluded."UpdatedAt"
                """, cancellationToken);
        }
        else
        {
            await db.Database.ExecuteSqlInterpolatedAsync($"""
                INSERT INTO "ReadMarkers" ("UserId", "ConversationId", "LastReadSeq", "UpdatedAt") VALUES ({me}, {id}, {seq}, {now})
                ON CONFLICT ("UserId", "ConversationId") DO UPDATE SET "LastReadSeq" = max("LastReadSeq", excluded."LastReadSeq"), "UpdatedAt" = excluded."UpdatedAt"
                """, cancellationToken);
        }

        var stored = await db.ReadMarkers.AsNoTracking().Where(r => r.UserId == me && r.ConversationId == id).Select(r => r.LastReadSeq).FirstAsync(cancellationToken);
        events.Publish(new ConversationReadMoved(me, id, stored));
        return new ReadStateDto(id, stored);
    }

    private static void Wake(Conversation c)
    {
        if (c.SnoozedUntil is not null)
        {
            c.SnoozedUntil = null;
            if (c.Status == ConversationStatus.Pending)
            {
                c.Status = ConversationStatus.Open;
            }
        }
    }

    private async Task SetBlockedAsync(Guid contactId, bool blocked, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow().UtcDateTime;
        await db.Contacts.Where(c => c.Id == contactId)
            .ExecuteUpdateAsync(s => s.SetProperty(c => c.BlockedAt, c => blocked ? (c.BlockedAt ?? now) : null), cancellationToken);
    }

    /// <summary>The conversation's contact when the user may change the conversation (access policy); 404/403 otherwise.</summary>
    private async Task<Guid> EnsureVisibleAsync(ClaimsPrincipal user, Guid id, CancellationToken cancellationToken) =>
        (await scope.RequireAsync(user, id, Access.ConversationAction.ChangeStatus, cancellationToken)).ContactId;
}
