using System.Globalization;
using System.Security.Claims;
using System.Text.RegularExpressions;
using Microsoft.EntityFrameworkCore;
using Parley.Data;
using Parley.Server.Events;
using Parley.Server.Features.Access;
using Parley.Server.Infrastructure;
using Parley.Server.Messaging;

namespace Parley.Server.Features.Knowledge;

/// <summary>Filters of the entry list; text and tag are matched case-insensitively.</summary>
public sealed record KnowledgeFilter(string? Q = null, string? Tag = null, Guid? TeamId = null, bool? AllDepartments = null, bool? Enabled = null, string? Language = null);

/// <summary>
/// The knowledge base's store side: entries (department sandbox through <see cref="AccessPolicy"/>'s scope),
/// synonym groups and intent examples. Every change is audited and, once committed, raises
/// <see cref="KnowledgeChanged"/> here and on every other node. Rules: docs/api.md, "Knowledge base".
/// </summary>
public sealed partial class KnowledgeService(ParleyDbContext db, AccessPolicy access, AuditLog audit, DomainEvents events, TimeProvider time)
{
    public const int MaxImportEntries = 10_000;

    public async Task<Page<KnowledgeEntryDto>> ListAsync(ClaimsPrincipal user, KnowledgeFilter filter, string? cursor, int limit, CancellationToken cancellationToken)
    {
        var size = CursorPage.Limit(limit);
        var query = Visible(await ScopeAsync(user, cancellationToken));
        if (filter.TeamId is { } team)
        {
            query = query.Where(e => e.TeamId == team);
        }
        else if (filter.AllDepartments is { } all)
        {
            query = all ? query.Where(e => e.TeamId == null) : query.Where(e => e.TeamId != null);
        }

        if (filter.Enabled is { } enabled)
        {
            query = query.Where(e => e.Enabled == enabled);
        }

        if (KnowledgeEntryDraft.CanonicalLanguage(filter.Language) is { } language)
        {
            query = query.Where(e => e.Language == language);
        }

        // Newest first, keyset on the id (version 7: creation order on both stores).
        if (CursorPage.Decode<Guid>(cursor) is { } after)
        {
            query = query.Where(e => e.Id.CompareTo(after) < 0);
        }

        query = query.OrderByDescending(e => e.Id);
        var q = filter.Q?.Trim();
        var tag = filter.Tag?.Trim();
        if (string.IsNullOrEmpty(q) && string.IsNullOrEmpty(tag))
        {
            var rows = await query.Take(size + 1).ToListAsync(cancellationToken);
            return CursorPage.Build(rows, size, KnowledgeEntryDto.From, e => e.Id);
        }

        // Variants and tags are JSON text, which neither store matches as a list: the text and tag filters run
        // here, over the rows the store streams in order, until the page is full. (Relevance search is the
        // retrieval index's job, not this admin list's.)
        var matches = new List<KnowledgeEntry>(size + 1);
        await foreach (var entry in query.AsAsyncEnumerable().WithCancellation(cancellationToken))
        {
            if (Matches(entry, q, tag) && matches.Count < size + 1)
            {
                matches.Add(entry);
                if (matches.Count > size)
                {
                    break;
                }
            }
        }

        return CursorPage.Build(matches, size, KnowledgeEntryDto.From, e => e.Id);
    }

    public async Task<KnowledgeEntryDto> GetAsync(ClaimsPrincipal user, Guid id, CancellationToken cancellationToken) =>
        KnowledgeEntryDto.From(await FindVisibleAsync(await ScopeAsync(user, cancellationToken), id, tracked: false, cancellationToken));

    public async Task<KnowledgeEntryDto> CreateAsync(ClaimsPrincipal user, KnowledgeEntryRequest request, CancellationToken cancellationToken)
    {
        var draft = KnowledgeEntryDraft.From(request);
        var scope = await ScopeAsync(user, cancellationToken);
        await RequireChangeableTeamAsync(scope, draft.TeamId, cancellationToken);
        var now = Now();
        var entry = new KnowledgeEntry { Id = Guid.CreateVersion7(), Question = "", Answer = "", CreatedAt = now, UpdatedAt = now, UpdatedBy = scope.UserId };
        draft.ApplyTo(entry);
        db.KnowledgeEntries.Add(entry);
        audit.Stage(user, "knowledge.entry_created", "knowledge_entry", entry.Id.ToString(), new { before = (object?)null, after = Snapshot(entry) });
        await db.SaveChangesAsync(cancellationToken);
        events.Publish(new KnowledgeChanged(entry.Id, KnowledgeChangeKind.EntryUpserted));
        return KnowledgeEntryDto.From(entry);
    }

    public async Task<KnowledgeEntryDto> UpdateAsync(ClaimsPrincipal user, Guid id, KnowledgeEntryRequest request, CancellationToken cancellationToken)
    {
        var draft = KnowledgeEntryDraft.From(request);
        var scope = await ScopeAsync(user, cancellationToken);
        var entry = await FindChangeableAsync(scope, id, cancellationToken);
        if (draft.TeamId != entry.TeamId)
        {
            await RequireChangeableTeamAsync(scope, draft.TeamId, cancellationToken);
        }

        var before = Snapshot(entry);
        draft.ApplyTo(entry);
        return await SaveUpdateAsync(user, scope, entry, before, "knowledge.entry_updated", cancellationToken);
    }

    public async Task<KnowledgeEntryDto> SetEnabledAsync(ClaimsPrincipal user, Guid id, bool enabled, CancellationToken cancellationToken)
    {
        var scope = await ScopeAsync(user, cancellationToken);
        var entry = await FindChangeableAsync(scope, id, cancellationToken);
        var before = Snapshot(entry);
        entry.Enabled = enabled;
        return await SaveUpdateAsync(user, scope, entry, before, enabled ? "knowledge.entry_enabled" : "knowledge.entry_disabled", cancellationToken);
    }

    public async Task DeleteAsync(ClaimsPrincipal user, Guid id, CancellationToken cancellationToken)
    {
        var scope = await ScopeAsync(user, cancellationToken);
        var entry = await FindChangeableAsync(scope, id, cancellationToken);
        db.KnowledgeEntries.Remove(entry);
        audit.Stage(user, "knowledge.entry_deleted", "knowledge_entry", entry.Id.ToString(), new { before = Snapshot(entry), after = (object?)null });
        await db.SaveChangesAsync(cancellationToken);
        events.Publish(new KnowledgeChanged(entry.Id, KnowledgeChangeKind.EntryDeleted));
    }

    /// <summary>Every entry the user may see, oldest first (exports).</summary>
    public async Task<List<KnowledgeEntry>> ExportAsync(ClaimsPrincipal user, CancellationToken cancellationToken) =>
        await Visible(await ScopeAsync(user, cancellationToken)).OrderBy(e => e.Id).ToListAsync(cancellationToken);

    /// <summary>
    /// Applies a parsed import in one transaction: an item with the id of an existing entry replaces it, any other
    /// item is created (with its id when it has one, so an export restores into an empty install). Every item is
    /// checked before anything is written; the first failure throws <see cref="KnowledgeImportException"/> naming
    /// its line and row, and nothing changes.
    /// </summary>
    public async Task<KnowledgeImportResult> ImportAsync(ClaimsPrincipal user, string format, IReadOnlyList<KnowledgeImportItem> items, CancellationToken cancellationToken)
    {
        if (items.Count > MaxImportEntries)
        {
            throw new KnowledgeImportException(ErrorCatalogue.KnowledgeImportTooLarge, $"An import holds at most {MaxImportEntries} entries.", null, null);
        }

        var scope = await ScopeAsync(user, cancellationToken);
        var ids = items.Where(i => i.Id is not null).Select(i => i.Id!.Value).ToList();
        var existing = new Dictionary<Guid, KnowledgeEntry>();
        foreach (var chunk in ids.Distinct().Chunk(500))
        {
            foreach (var entry in await db.KnowledgeEntries.Where(e => chunk.Contains(e.Id)).ToListAsync(cancellationToken))
            {
                existing[entry.Id] = entry;
            }
        }

        var teams = (await db.Teams.AsNoTracking().Select(t => t.Id).ToListAsync(cancellationToken)).ToHashSet();
        var seen = new HashSet<Guid>();
        var now = Now();
        var (created, updated) = (0, 0);
        foreach (var item in items)
        {
            var draft = item.Draft;
            if (item.Id is { } id && !seen.Add(id))
            {
                throw item.Fail(ErrorCatalogue.KnowledgeImportInvalid, $"The id {id} appears twice.");
            }

            if (draft.TeamId is { } team && !teams.Contains(team))
            {
                throw item.Fail(ErrorCatalogue.KnowledgeImportInvalid, "teamId names no team.");
            }

            if (!CanChange(scope, draft.TeamId))
            {
                throw item.Fail(ErrorCatalogue.Forbidden, "You may not change entries of this department.");
            }

            if (item.Id is { } known && existing.TryGetValue(known, out var entry))
            {
                if (!CanChange(scope, entry.TeamId))
                {
                    throw item.Fail(ErrorCatalogue.Forbidden, "The id names an entry of a department you may not change.");
                }

                var before = Snapshot(entry);
                draft.ApplyTo(entry);
                entry.UpdatedAt = now;
                entry.UpdatedBy = scope.UserId;
                audit.Stage(user, "knowledge.entry_imported", "knowledge_entry", entry.Id.ToString(), new { before, after = Snapshot(entry) });
                updated++;
            }
            else
            {
                entry = new KnowledgeEntry { Id = item.Id ?? Guid.CreateVersion7(), Question = "", Answer = "", CreatedAt = now, UpdatedAt = now, UpdatedBy = scope.UserId };
                draft.ApplyTo(entry);
                db.KnowledgeEntries.Add(entry);
                audit.Stage(user, "knowledge.entry_imported", "knowledge_entry", entry.Id.ToString(), new { before = (object?)null, after = Snapshot(entry) });
                created++;
            }
        }

        audit.Stage(user, "knowledge.imported", "knowledge_base", null, new { format, created, updated });
        await using (var transaction = await db.Database.BeginTransactionAsync(cancellationToken))
        {
            await db.SaveChangesAsync(cancellationToken);
            await transaction.CommitAsync(cancellationToken);
        }

        events.Publish(new KnowledgeChanged(null, KnowledgeChangeKind.Imported));
        return new KnowledgeImportResult(created, updated);
    }

    public async Task<List<KnowledgeSynonymDto>> ListSynonymsAsync(ClaimsPrincipal user, CancellationToken cancellationToken)
    {
        await ScopeAsync(user, cancellationToken);
        var rows = await db.KnowledgeSynonyms.AsNoTracking().OrderBy(s => s.Id).ToListAsync(cancellationToken);
        return rows.ConvertAll(KnowledgeSynonymDto.From);
    }

    /// <summary>Replaces every synonym group (admins): the editor saves the whole list at once.</summary>
    public async Task<List<KnowledgeSynonymDto>> ReplaceSynonymsAsync(ClaimsPrincipal user, KnowledgeSynonymsRequest request, CancellationToken cancellationToken)
    {
        var groups = CleanSynonyms(request.Groups);
        await ScopeAsync(user, cancellationToken);
        var now = Now();
        var old = await db.KnowledgeSynonyms.OrderBy(s => s.Id).ToListAsync(cancellationToken);
        db.KnowledgeSynonyms.RemoveRange(old);
        // Ids one millisecond apart keep the groups in the order the admin wrote them (lists order by id).
        var rows = groups.Select((g, i) => new KnowledgeSynonym { Id = Guid.CreateVersion7(time.GetUtcNow().AddMilliseconds(i)), Terms = g, UpdatedAt = now }).ToList();
        db.KnowledgeSynonyms.AddRange(rows);
        audit.Stage(user, "knowledge.synonyms_replaced", "knowledge_synonyms", null, new { before = old.Select(o => o.Terms), after = groups });
        await db.SaveChangesAsync(cancellationToken);
        events.Publish(new KnowledgeChanged(null, KnowledgeChangeKind.SynonymsChanged));
        return rows.ConvertAll(KnowledgeSynonymDto.From);
    }

    public async Task<Page<IntentExampleDto>> ListIntentExamplesAsync(ClaimsPrincipal user, string? intent, string? cursor, int limit, CancellationToken cancellationToken)
    {
        await ScopeAsync(user, cancellationToken);
        var size = CursorPage.Limit(limit);
        var query = db.IntentExamples.AsNoTracking();
        if (!string.IsNullOrWhiteSpace(intent))
        {
            var name = intent.Trim().ToLowerInvariant();
            query = query.Where(x => x.Intent == name);
        }

        if (CursorPage.Decode<Guid>(cursor) is { } after)
        {
            query = query.Where(x => x.Id.CompareTo(after) < 0);
        }

        var rows = await query.OrderByDescending(x => x.Id).Take(size + 1).ToListAsync(cancellationToken);
        return CursorPage.Build(rows, size, IntentExampleDto.From, x => x.Id);
    }

    public async Task<IntentExampleDto> CreateIntentExampleAsync(ClaimsPrincipal user, IntentExampleRequest request, CancellationToken cancellationToken)
    {
        var intent = request.Intent?.Trim() ?? "";
        if (intent.Length > IntentExample.MaxIntentLength || !IntentPattern().IsMatch(intent))
        {
            throw new ParleyException(ErrorCatalogue.IntentExampleInvalid, $"intent is a lower-case snake_case name of at most {IntentExample.MaxIntentLength} characters, e.g. ask_price.");
        }

        var text = request.Text?.Trim() ?? "";
        if (text.Length is 0 or > IntentExample.MaxTextLength)
        {
            throw new ParleyException(ErrorCatalogue.IntentExampleInvalid, $"text is 1 to {IntentExample.MaxTextLength} characters.");
        }

        TextInput.Require(text, "text", multiline: true);
        var scope = await ScopeAsync(user, cancellationToken);
        if (request.MessageId is { } messageId)
        {
            // A correction names a message of a conversation the agent may see; anything else is an unknown id.
            var conversationId = await db.Messages.AsNoTracking().Where(m => m.Id == messageId).Select(m => (Guid?)m.ConversationId).FirstOrDefaultAsync(cancellationToken)
                ?? throw new ParleyException(ErrorCatalogue.MessageNotFound);
            try
            {
                await access.RequireConversationAsync(Actor.Agent(user), conversationId, ConversationAction.Read, cancellationToken);
            }
            catch (ParleyException ex) when (ex.Status == StatusCodes.Status404NotFound)
            {
                throw new ParleyException(ErrorCatalogue.MessageNotFound);
            }
        }

        var example = new IntentExample { Id = Guid.CreateVersion7(), Intent = intent, Text = text, CreatedBy = scope.UserId, CreatedAt = Now(), MessageId = request.MessageId };
        db.IntentExamples.Add(example);
        audit.Stage(user, "knowledge.intent_example_created", "intent_example", example.Id.ToString(), new { before = (object?)null, after = new { example.Intent, example.Text, example.MessageId } });
        await db.SaveChangesAsync(cancellationToken);
        events.Publish(new KnowledgeChanged(null, KnowledgeChangeKind.IntentExamplesChanged));
        return IntentExampleDto.From(example);
    }

    public async Task DeleteIntentExampleAsync(ClaimsPrincipal user, Guid id, CancellationToken cancellationToken)
    {
        await ScopeAsync(user, cancellationToken);
        var example = await db.IntentExamples.FirstOrDefaultAsync(x => x.Id == id, cancellationToken) ?? throw new ParleyException(ErrorCatalogue.IntentExampleNotFound);
        db.IntentExamples.Remove(example);
        audit.Stage(user, "knowledge.intent_example_deleted", "intent_example", example.Id.ToString(), new { before = new { example.Intent, example.Text, example.MessageId }, after = (object?)null });
        await db.SaveChangesAsync(cancellationToken);
        events.Publish(new KnowledgeChanged(null, KnowledgeChangeKind.IntentExamplesChanged));
    }

    /// <summary>An entry is visible to users of its department, to everyone when it has none, and to admins and users granted all departments.</summary>
    public static bool CanSee(AccessScope scope, Guid? teamId) =>
        scope.SeesAllDepartments || teamId is null || scope.TeamIds.Contains(teamId.Value);

    /// <summary>
    /// Supervisors change entries of their own departments; entries for every department (no team) belong to
    /// admins and supervisors granted all departments. Agents only read.
    /// </summary>
    public static bool CanChange(AccessScope scope, Guid? teamId) =>
        scope.IsSupervisor && (scope.SeesAllDepartments || (teamId is { } team && scope.TeamIds.Contains(team)));

    private async Task<KnowledgeEntryDto> SaveUpdateAsync(ClaimsPrincipal user, AccessScope scope, KnowledgeEntry entry, object before, string action, CancellationToken cancellationToken)
    {
        entry.UpdatedAt = Now();
        entry.UpdatedBy = scope.UserId;
        audit.Stage(user, action, "knowledge_entry", entry.Id.ToString(), new { before, after = Snapshot(entry) });
        await db.SaveChangesAsync(cancellationToken);
        events.Publish(new KnowledgeChanged(entry.Id, KnowledgeChangeKind.EntryUpserted));
        return KnowledgeEntryDto.From(entry);
    }

    /// <summary>Microsecond precision, what PostgreSQL stores: a response and a later read agree on every timestamp.</summary>
    private DateTime Now()
    {
        var now = time.GetUtcNow().UtcDateTime;
        return now.AddTicks(-(now.Ticks % 10));
    }

    private Task<AccessScope> ScopeAsync(ClaimsPrincipal user, CancellationToken cancellationToken) =>
        access.ScopeAsync(Actor.Agent(user), cancellationToken);

    private IQueryable<KnowledgeEntry> Visible(AccessScope scope)
    {
        var entries = db.KnowledgeEntries.AsNoTracking();
        if (scope.SeesAllDepartments)
        {
            return entries;
        }

        var teams = scope.TeamIds.ToList();
        return entries.Where(e => e.TeamId == null || teams.Contains(e.TeamId.Value));
    }

    /// <summary>An entry the user may not see answers like an unknown id (404), so ids cannot be probed.</summary>
    private async Task<KnowledgeEntry> FindVisibleAsync(AccessScope scope, Guid id, bool tracked, CancellationToken cancellationToken)
    {
        var entries = tracked ? db.KnowledgeEntries : db.KnowledgeEntries.AsNoTracking();
        var entry = await entries.FirstOrDefaultAsync(e => e.Id == id, cancellationToken);
        return entry is not null && CanSee(scope, entry.TeamId) ? entry : throw new ParleyException(ErrorCatalogue.KnowledgeEntryNotFound);
    }

    private async Task<KnowledgeEntry> FindChangeableAsync(AccessScope scope, Guid id, CancellationToken cancellationToken)
    {
        var entry = await FindVisibleAsync(scope, id, tracked: true, cancellationToken);
        return CanChange(scope, entry.TeamId) ? entry : throw AccessPolicy.Forbidden();
    }

    private async Task RequireChangeableTeamAsync(AccessScope scope, Guid? teamId, CancellationToken cancellationToken)
    {
        if (teamId is { } team && !await db.Teams.AnyAsync(t => t.Id == team, cancellationToken))
        {
            throw KnowledgeEntryDraft.Invalid("teamId names no team.");
        }

        if (!CanChange(scope, teamId))
        {
            throw AccessPolicy.Forbidden();
        }
    }

    private static bool Matches(KnowledgeEntry entry, string? q, string? tag)
    {
        if (!string.IsNullOrEmpty(tag) && !entry.Tags.Contains(tag, StringComparer.OrdinalIgnoreCase))
        {
            return false;
        }

        return string.IsNullOrEmpty(q)
            || Contains(entry.Question, q)
            || Contains(entry.Answer, q)
            || entry.Variants.Any(v => Contains(v, q))
            || entry.Tags.Any(t => Contains(t, q));
    }

    private static bool Contains(string text, string q) =>
        CultureInfo.InvariantCulture.CompareInfo.IndexOf(text, q, CompareOptions.IgnoreCase | CompareOptions.IgnoreWidth | CompareOptions.IgnoreKanaType) >= 0;

    /// <summary>The audit record of an entry: every field, the answer cut so before and after fit one audit row.</summary>
    private static object Snapshot(KnowledgeEntry e) => new
    {
        e.TeamId,
        e.Question,
        e.Variants,
        Answer = e.Answer.Length <= 600 ? e.Answer : e.Answer[..600] + "…",
        e.Language,
        e.Tags,
        e.Enabled,
    };

    private static List<List<string>> CleanSynonyms(List<List<string>>? groups)
    {
        var result = new List<List<string>>();
        foreach (var group in groups ?? [])
        {
            var terms = new List<string>();
            foreach (var raw in group ?? [])
            {
                var term = raw?.Trim();
                if (string.IsNullOrEmpty(term))
                {
                    continue;
                }

                if (term.Length > KnowledgeSynonym.MaxTermLength)
                {
                    throw new ParleyException(ErrorCatalogue.KnowledgeInvalid, $"A synonym is at most {KnowledgeSynonym.MaxTermLength} characters.");
                }

                TextInput.Require(term, "groups");
                if (!terms.Contains(term, StringComparer.OrdinalIgnoreCase))
                {
                    terms.Add(term);
                }
            }

            if (terms.Count > KnowledgeSynonym.MaxTerms)
            {
                throw new ParleyException(ErrorCatalogue.KnowledgeInvalid, $"A synonym group has at most {KnowledgeSynonym.MaxTerms} terms.");
            }

            // A group of one says nothing; drop it rather than fail the whole save.
            if (terms.Count >= 2)
            {
                result.Add(terms);
            }
        }

        return result.Count <= KnowledgeSynonym.MaxGroups
            ? result
            : throw new ParleyException(ErrorCatalogue.KnowledgeInvalid, $"At most {KnowledgeSynonym.MaxGroups} synonym groups.");
    }

    [GeneratedRegex("^[a-z][a-z0-9]*(_[a-z0-9]+)*$", RegexOptions.CultureInvariant)]
    private static partial Regex IntentPattern();
}
