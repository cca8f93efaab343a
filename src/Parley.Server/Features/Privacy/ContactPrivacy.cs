using System.IO.Compression;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.EntityFrameworkCore;
using Parley.Data;
using Parley.Server.Features.Access;
using Parley.Server.Features.Attachments;
using Parley.Server.Features.Conversations;
using Parley.Server.Features.Integration;
using Parley.Server.Infrastructure;
using Parley.Server.Messaging;

namespace Parley.Server.Features.Privacy;

/// <summary>What an erasure did.</summary>
public sealed record ErasureResult(Guid ContactId, int ConversationsClosed, int ConversationsAnonymised, int Files);

/// <summary>Merge: the contact named in the path survives; this one is folded into it.</summary>
public sealed record MergeContactRequest(Guid? ContactId);

/// <summary>
/// A contact's data rights (docs/privacy.md): export everything held about them, erase it, or merge two contacts
/// who turn out to be one customer. Every action is audited.
/// </summary>
public sealed class ContactPrivacy(
    ParleyDbContext db, AccessPolicy access, ConversationService conversations, DataLifecycle lifecycle, IAttachmentStore store, IntegrationEventLog integrationLog, AuditLog audit, TimeProvider time)
{
    /// <summary>The contact if the actor may see it (and it was not erased), else contact_not_found.</summary>
    public async Task<Contact> RequireAsync(Actor actor, Guid id, CancellationToken cancellationToken) =>
        await (await access.ContactsAsync(actor, cancellationToken)).FirstOrDefaultAsync(c => c.Id == id && c.ErasedAt == null, cancellationToken)
            ?? throw new ParleyException(ErrorCatalogue.ContactNotFound);

    /// <summary>
    /// Writes the export as a zip: <c>contact.json</c> (profile, notes, page trail, business events, and every
    /// conversation the actor may see with its messages and rating) and <c>attachments/{id}/{name}</c>. The zip is
    /// written straight to <paramref name="output"/>; nothing is held in memory but one file's buffer.
    /// </summary>
    public async Task WriteExportAsync(Actor actor, Contact contact, Stream output, CancellationToken cancellationToken)
    {
        var visible = (await access.ConversationsAsync(actor, cancellationToken)).Where(c => c.ContactId == contact.Id);
        var convs = await visible.OrderBy(c => c.CreatedAt).ToListAsync(cancellationToken);
        var ids = convs.ConvertAll(c => c.Id);
        var messages = (await db.Messages.AsNoTracking().Where(m => ids.Contains(m.ConversationId)).OrderBy(m => m.Seq).ToListAsync(cancellationToken)).ToLookup(m => m.ConversationId);
        var attachments = (await db.Attachments.AsNoTracking().Where(a => ids.Contains(a.ConversationId)).OrderBy(a => a.CreatedAt).ToListAsync(cancellationToken)).ToLookup(a => a.ConversationId);
        var ratings = await db.ConversationRatings.AsNoTracking().Where(r => ids.Contains(r.ConversationId)).ToDictionaryAsync(r => r.ConversationId, cancellationToken);
        var notes = await db.ContactNotes.AsNoTracking().Where(n => n.ContactId == contact.Id).OrderBy(n => n.CreatedAt)
            .Select(n => new { n.Id, n.AuthorName, n.Body, n.CreatedAt, n.UpdatedAt }).ToListAsync(cancellationToken);
        var pages = await db.PageViews.AsNoTracking().Where(p => p.ContactId == contact.Id).OrderBy(p => p.At)
            .Select(p => new { p.Url, p.Title, p.At }).ToListAsync(cancellationToken);
        var events = await db.ContactEvents.AsNoTracking().Where(e => e.ContactId == contact.Id).OrderBy(e => e.OccurredAt).ToListAsync(cancellationToken);

        var document = new
        {
            format = "parley.contact-export/1",
            exportedAt = time.GetUtcNow().UtcDateTime,
            contact = ContactDto.From(contact),
            lastPage = contact.LastPageJson is { Length: > 0 } page ? JsonNode.Parse(page) : null,
            blockedAt = contact.BlockedAt,
            notes,
            pageViews = pages,
            businessEvents = events.ConvertAll(e => new { e.EventType, data = JsonNode.Parse(e.DataJson), e.OccurredAt, e.Source }),
            conversations = convs.ConvertAll(c => new
            {
                c.Id,
                status = c.Status.ToString().ToLowerInvariant(),
                c.CreatedAt,
                c.ClosedAt,
                rating = ratings.TryGetValue(c.Id, out var r) ? new { r.Score, r.Comment, r.CreatedAt } : null,
                messages = messages[c.Id].Select(m => new
                {
                    m.Seq,
                    at = m.CreatedAt,
                    sender = m.SenderKind.ToString().ToLowerInvariant(),
                    m.SenderName,
                    kind = m.Kind.ToString().ToLowerInvariant(),
                    m.Body,
                }),
                attachments = attachments[c.Id].Select(a => new { a.Id, name = a.FileName, a.ContentType, a.Size, a.CreatedAt, file = EntryName(a) }),
            }),
        };

        await using var zip = await ZipArchive.CreateAsync(output, ZipArchiveMode.Create, leaveOpen: true, entryNameEncoding: null, cancellationToken);
        await using (var json = await zip.CreateEntry("contact.json", CompressionLevel.Optimal).OpenAsync(cancellationToken))
        {
            await JsonSerializer.SerializeAsync(json, document, ExportJson, cancellationToken);
        }

        foreach (var attachment in attachments.SelectMany(g => g))
        {
            await using var content = await store.OpenReadAsync(attachment.StorageKey, cancellationToken);
            if (content is null)
            {
                continue; // listed in contact.json; the file itself is gone (removed by hand, a lost disk)
            }

            await using var entry = await zip.CreateEntry(EntryName(attachment), CompressionLevel.NoCompression).OpenAsync(cancellationToken);
            await content.CopyToAsync(entry, cancellationToken);
        }
    }

    /// <summary>
    /// Erases a contact: open conversations are closed first (agents see it happen), then in one transaction every
    /// conversation's content is removed, notes, page trail and business events deleted, integration payloads
    /// redacted and the contact's personal fields cleared; the attachment files go right after the commit.
    /// </summary>
    public async Task<ErasureResult> EraseAsync(Actor actor, Guid id, CancellationToken cancellationToken)
    {
        var contact = await RequireAsync(actor, id, cancellationToken);
        var open = await db.Conversations.AsNoTracking().Where(c => c.ContactId == id && c.Status != ConversationStatus.Closed).Select(c => c.Id).ToListAsync(cancellationToken);
        foreach (var conversationId in open)
        {
            await conversations.CloseAsync(conversationId, actor, cancellationToken);
        }

        // The "closed" events those closes queued are stored before the redaction below, not after it.
        await integrationLog.FlushAsync(cancellationToken);
        var ids = await db.Conversations.AsNoTracking().Where(c => c.ContactId == id).Select(c => c.Id).ToListAsync(cancellationToken);
        var anonymised = 0;
        await using (var transaction = await db.Database.BeginTransactionAsync(cancellationToken))
        {
            foreach (var conversationId in ids)
            {
                anonymised += await lifecycle.RemoveContentAsync(conversationId, cancellationToken) ? 1 : 0;
            }

            await db.ContactNotes.Where(n => n.ContactId == id).ExecuteDeleteAsync(cancellationToken);
            await db.PageViews.Where(p => p.ContactId == id).ExecuteDeleteAsync(cancellationToken);
            await db.ContactEvents.Where(e => e.ContactId == id).ExecuteDeleteAsync(cancellationToken);
            await lifecycle.RedactEventsAsync(db.IntegrationEvents.Where(e => e.ContactId == id), cancellationToken);
            var now = time.GetUtcNow().UtcDateTime;
            await db.Contacts.Where(c => c.Id == id).ExecuteUpdateAsync(s => s
                .SetProperty(c => c.Name, (string?)null).SetProperty(c => c.Email, (string?)null).SetProperty(c => c.Phone, (string?)null)
                .SetProperty(c => c.ExternalId, (string?)null).SetProperty(c => c.AttributesJson, (string?)null).SetProperty(c => c.LastPageJson, (string?)null)
                .SetProperty(c => c.ErasedAt, now).SetProperty(c => c.BlockedAt, c => c.BlockedAt ?? now), cancellationToken);

            // The entry names the contact by id only: what was erased must not survive in the audit log.
            audit.Stage("contact.erased", actor.PrincipalId, actor.Name, "contact", id.ToString(),
                new { siteId = contact.SiteId, conversationsClosed = open.Count, conversationsAnonymised = anonymised });
            await db.SaveChangesAsync(cancellationToken);
            await transaction.CommitAsync(cancellationToken);
        }

        var files = await lifecycle.DrainFileDeletionsAsync(cancellationToken);
        return new ErasureResult(id, open.Count, anonymised, files);
    }

    /// <summary>
    /// Folds <paramref name="otherId"/> into <paramref name="survivorId"/>: its conversations, notes, page trail,
    /// business events and ratings move over, empty profile fields are filled from it and its attributes added
    /// where the survivor has none; then it is removed. Both must belong to the same site.
    /// </summary>
    public async Task<ContactDto> MergeAsync(Actor actor, Guid survivorId, Guid? otherId, CancellationToken cancellationToken)
    {
        if (otherId is not { } mergedId || mergedId == survivorId)
        {
            throw new ParleyException(ErrorCatalogue.InvalidRequest, "contactId must name another contact.");
        }

        var survivor = await RequireAsync(actor, survivorId, cancellationToken);
        var merged = await RequireAsync(actor, mergedId, cancellationToken);
        if (survivor.SiteId != merged.SiteId)
        {
            throw new ParleyException(ErrorCatalogue.ContactsDifferentSites);
        }

        // One active conversation per contact: when both have one, the merged contact's is closed first.
        if (await db.Conversations.AnyAsync(c => c.ContactId == survivorId && c.Status != ConversationStatus.Closed, cancellationToken))
        {
            foreach (var open in await db.Conversations.AsNoTracking().Where(c => c.ContactId == mergedId && c.Status != ConversationStatus.Closed).Select(c => c.Id).ToListAsync(cancellationToken))
            {
                await conversations.CloseAsync(open, actor, cancellationToken);
            }
        }

        var before = new { survivor = ContactDto.From(survivor), merged = ContactDto.From(merged) };
        await using (var transaction = await db.Database.BeginTransactionAsync(cancellationToken))
        {
            await db.Conversations.Where(c => c.ContactId == mergedId).ExecuteUpdateAsync(s => s.SetProperty(c => c.ContactId, survivorId), cancellationToken);
            await db.ConversationRatings.Where(r => r.ContactId == mergedId).ExecuteUpdateAsync(s => s.SetProperty(r => r.ContactId, survivorId), cancellationToken);
            await db.ContactNotes.Where(n => n.ContactId == mergedId).ExecuteUpdateAsync(s => s.SetProperty(n => n.ContactId, survivorId), cancellationToken);
            await db.PageViews.Where(p => p.ContactId == mergedId).ExecuteUpdateAsync(s => s.SetProperty(p => p.ContactId, survivorId), cancellationToken);
            await db.ContactEvents.Where(e => e.ContactId == mergedId).ExecuteUpdateAsync(s => s.SetProperty(e => e.ContactId, survivorId), cancellationToken);
            await db.IntegrationEvents.Where(e => e.ContactId == mergedId).ExecuteUpdateAsync(s => s.SetProperty(e => e.ContactId, survivorId), cancellationToken);
            await db.Contacts.Where(c => c.Id == mergedId).ExecuteDeleteAsync(cancellationToken);

            var target = await db.Contacts.FirstAsync(c => c.Id == survivorId, cancellationToken);
            target.Name ??= merged.Name;
            target.Email ??= merged.Email;
            target.Phone ??= merged.Phone;
            target.ExternalId ??= merged.ExternalId;
            target.LastPageJson ??= merged.LastPageJson;
            target.AttributesJson = MergeAttributes(target.AttributesJson, merged.AttributesJson);
            target.CreatedAt = target.CreatedAt < merged.CreatedAt ? target.CreatedAt : merged.CreatedAt;
            target.LastSeenAt = target.LastSeenAt > merged.LastSeenAt ? target.LastSeenAt : merged.LastSeenAt;
            target.BlockedAt ??= merged.BlockedAt;
            audit.Stage("contact.merged", actor.PrincipalId, actor.Name, "contact", survivorId.ToString(), AuditLog.Change(before, ContactDto.From(target)));
            await db.SaveChangesAsync(cancellationToken);
            await transaction.CommitAsync(cancellationToken);
            return ContactDto.From(target);
        }
    }

    private static string? MergeAttributes(string? survivor, string? merged)
    {
        if (merged is not { Length: > 0 })
        {
            return survivor;
        }

        var result = survivor is { Length: > 0 } ? JsonNode.Parse(survivor) as JsonObject ?? [] : [];
        foreach (var (key, value) in JsonNode.Parse(merged) as JsonObject ?? [])
        {
            if (!result.ContainsKey(key))
            {
                result[key] = value?.DeepClone();
            }
        }

        var json = result.ToJsonString();
        return json.Length <= ContactsApi.MaxAttributesLength ? json : survivor;
    }

    /// <summary>The file's place in the zip: its id keeps names unique, the name is reduced to safe characters.</summary>
    private static string EntryName(Attachment a)
    {
        var name = new string(a.FileName.Select(ch => char.IsLetterOrDigit(ch) || ch is '.' or '-' or '_' ? ch : '_').ToArray()).Trim('.');
        return $"attachments/{a.Id:N}/{(name.Length == 0 ? "file" : name)}";
    }

    private static readonly JsonSerializerOptions ExportJson = new(JsonSerializerOptions.Web) { WriteIndented = true };
}
