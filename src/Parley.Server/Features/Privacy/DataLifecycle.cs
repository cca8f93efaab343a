using Microsoft.EntityFrameworkCore;
using Parley.Data;
using Parley.Server.Features.Attachments;
using Parley.Server.Features.Console;
using Parley.Server.Messaging;

namespace Parley.Server.Features.Privacy;

/// <summary>
/// The one place conversation content is removed, for the retention job and for a contact's erasure alike. Content
/// goes in the caller's transaction (message text, attachment rows, rating comment, integration payloads); the
/// attachment files are queued as <see cref="AttachmentDeletion"/> rows in the same transaction and removed from the
/// store by <see cref="DrainFileDeletionsAsync"/> after the commit, so a run that stops half-way neither loses a file
/// it owes nor removes anything a second time.
/// </summary>
public sealed class DataLifecycle(ParleyDbContext db, IAttachmentStore store, TimeProvider time)
{
    /// <summary>What a removed message becomes: an event line every reader renders in their language.</summary>
    public static readonly string RemovedLine = SystemLine.ContentRemoved;

    public const string RedactedPayload = """{"redacted":true}""";

    /// <summary>
    /// Removes the content of one conversation unless it was already removed (the claim on
    /// <see cref="Conversation.AnonymisedAt"/>: of two runs racing, one does it). True when this call did.
    /// </summary>
    public async Task<bool> RemoveContentAsync(Guid conversationId, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow().UtcDateTime;
        var claimed = await db.Conversations.Where(c => c.Id == conversationId && c.AnonymisedAt == null)
            .ExecuteUpdateAsync(s => s.SetProperty(c => c.AnonymisedAt, now).SetProperty(c => c.LastMessagePreview, (string?)null), cancellationToken);
        if (claimed == 0)
        {
            return false;
        }

        var keys = await db.Attachments.Where(a => a.ConversationId == conversationId).Select(a => a.StorageKey).ToListAsync(cancellationToken);
        db.AttachmentDeletions.AddRange(keys.Select(k => new AttachmentDeletion { StorageKey = k, CreatedAt = now }));
        await db.SaveChangesAsync(cancellationToken);
        await db.Attachments.Where(a => a.ConversationId == conversationId).ExecuteDeleteAsync(cancellationToken);

        // The search index's rows first (they are found through the messages), then the text itself.
        await MessageSearchIndexer.RemovePostingsAsync(db, conversationId, cancellationToken);

        // Every line someone wrote (visitor, agent, bot, note) keeps its place and sequence number but loses its text;
        // notes stay invisible to the visitor (no visitor sequence), event lines hold no personal text and stay.
        await db.Messages.Where(m => m.ConversationId == conversationId && m.Kind != MessageKind.Event)
            .ExecuteUpdateAsync(s => s.SetProperty(m => m.Kind, MessageKind.Event).SetProperty(m => m.Body, RemovedLine)
                .SetProperty(m => m.SenderName, m => m.SenderKind == SenderKind.Visitor ? null : m.SenderName), cancellationToken);
        await db.ConversationRatings.Where(r => r.ConversationId == conversationId)
            .ExecuteUpdateAsync(s => s.SetProperty(r => r.Comment, (string?)null), cancellationToken);
        await RedactEventsAsync(db.IntegrationEvents.Where(e => e.ConversationId == conversationId), cancellationToken);
        return true;
    }

    /// <summary>Integration events keep their type and time but lose their payload, also in the webhook delivery log.</summary>
    public async Task RedactEventsAsync(IQueryable<IntegrationEvent> events, CancellationToken cancellationToken)
    {
        var ids = events.Select(e => e.Id);
        await db.WebhookAttempts.Where(a => db.WebhookDeliveries.Any(d => d.Id == a.DeliveryId && ids.Contains(d.EventId)))
            .ExecuteUpdateAsync(s => s.SetProperty(a => a.RequestBody, RedactedPayload).SetProperty(a => a.ResponseBody, (string?)null), cancellationToken);
        await events.ExecuteUpdateAsync(s => s.SetProperty(e => e.DataJson, RedactedPayload), cancellationToken);
    }

    /// <summary>Removes the queued attachment files from the store, oldest first; returns how many.</summary>
    public async Task<int> DrainFileDeletionsAsync(CancellationToken cancellationToken)
    {
        var done = 0;
        while (true)
        {
            var batch = await db.AttachmentDeletions.AsNoTracking().OrderBy(d => d.Id).Take(100).ToListAsync(cancellationToken);
            if (batch.Count == 0)
            {
                return done;
            }

            foreach (var deletion in batch)
            {
                // The file first, then its row: a crash in between leaves the row, and deleting a missing file is a no-op.
                await store.DeleteAsync(deletion.StorageKey, cancellationToken);
                await db.AttachmentDeletions.Where(d => d.Id == deletion.Id).ExecuteDeleteAsync(cancellationToken);
                done++;
            }
        }
    }
}
