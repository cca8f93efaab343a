using System.Security.Claims;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Parley.Data;
using Parley.Server.Features.Conversations;
using Parley.Server.Infrastructure;
using Parley.Server.Messaging;

namespace Parley.Server.Features.Console;

public sealed record HighlightRange(int Start, int Length);

/// <summary>A message that matched: where it is (conversation, seq to jump to) and a snippet with the matches marked.</summary>
public sealed record SearchHit(
    Guid ConversationId,
    long MessageId,
    long Seq,
    string SenderKind,
    string? SenderName,
    string Kind,
    DateTime CreatedAt,
    string? ContactName,
    string Snippet,
    IReadOnlyList<HighlightRange> Highlights);

public sealed record SearchPage(IReadOnlyList<SearchHit> Items, string? NextCursor);

/// <summary>
/// History search over every conversation the agent may see. Candidates come from the full-text index
/// (SQLite FTS5 trigram, PostgreSQL pg_trgm); highlights are computed here so the client never renders markup.
/// </summary>
public sealed class MessageSearch(ParleyDbContext db, ConversationScope scope, IOptions<ConsoleOptions> options)
{
    public const int MaxQueryLength = 200;
    private const int SnippetRadius = 60;

    public async Task<SearchPage> SearchAsync(ClaimsPrincipal user, string? q, Guid? conversationId, string? cursor, CancellationToken cancellationToken)
    {
        var term = (q ?? "").Trim();
        if (term.Length == 0 || term.Length > MaxQueryLength)
        {
            throw new ParleyException(ErrorCatalogue.InvalidQuery, $"q must be 1-{MaxQueryLength} characters.");
        }

        long? beforeId = null;
        if (cursor is not null)
        {
            beforeId = long.TryParse(cursor, System.Globalization.CultureInfo.InvariantCulture, out var id) && id > 0
                ? id
                : throw new ParleyException(ErrorCatalogue.InvalidCursor, "The cursor is not one this API returned.");
        }

        var pageSize = options.Value.SearchPageSize;
        var visible = await scope.VisibleConversationsAsync(user, cancellationToken);
        var messages = Candidates(term).Where(m => m.Kind != MessageKind.Event);
        if (conversationId is { } cid)
        {
            messages = messages.Where(m => m.ConversationId == cid);
        }

        if (beforeId is { } before)
        {
            messages = messages.Where(m => m.Id < before);
        }

        var rows = await (from m in messages
                          join c in visible on m.ConversationId equals c.Id
                          join ct in db.Contacts on c.ContactId equals ct.Id
                          orderby m.Id descending
                          select new { Message = m, ContactName = ct.Name }).Take(pageSize + 1).ToListAsync(cancellationToken);

        var hits = rows.Take(pageSize).Select(r => ToHit(r.Message, r.ContactName, term)).ToList();
        var next = rows.Count > pageSize ? hits[^1].MessageId.ToString(System.Globalization.CultureInfo.InvariantCulture) : null;
        return new SearchPage(hits, next);
    }

    private IQueryable<Message> Candidates(string term)
    {
        var like = "%" + CannedReplyService.EscapeLike(term) + "%";
        if (db.Database.IsNpgsql())
        {
            // ILIKE '%term%' is served by the pg_trgm GIN index (short terms fall back to a scan, still correct).
            return db.Messages.AsNoTracking().Where(m => EF.Functions.ILike(m.Body, like, "\\"));
        }

        // The trigram tokenizer indexes 3-character windows: shorter terms (two Chinese characters are a common
        // query) cannot use the index, so they take the LIKE path over the table instead.
        if (term.EnumerateRunes().Count() < 3)
        {
            return db.Messages.AsNoTracking().Where(m => EF.Functions.Like(m.Body, like, "\\"));
        }

        var phrase = "\"" + term.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";
        return db.Messages.FromSqlInterpolated($"""SELECT * FROM "Messages" WHERE "Id" IN (SELECT rowid FROM "MessagesFts" WHERE "MessagesFts" MATCH {phrase})""").AsNoTracking();
    }

    internal static SearchHit ToHit(Message m, string? contactName, string term)
    {
        var body = m.Body;
        var matches = new List<int>();
        for (var i = body.IndexOf(term, StringComparison.OrdinalIgnoreCase); i >= 0 && matches.Count < 20; i = body.IndexOf(term, i + term.Length, StringComparison.OrdinalIgnoreCase))
        {
            matches.Add(i);
        }

        var first = matches.Count > 0 ? matches[0] : 0;
        var start = Math.Max(0, first - SnippetRadius);
        var end = Math.Min(body.Length, first + term.Length + SnippetRadius);
        var snippet = (start > 0 ? "…" : "") + body[start..end] + (end < body.Length ? "…" : "");
        var shift = start > 0 ? 1 - start : 0;
        var highlights = matches.Where(i => i >= start && i + term.Length <= end).Select(i => new HighlightRange(i + shift, term.Length)).ToList();
        return new SearchHit(m.ConversationId, m.Id, m.Seq, WireNames.Of(m.SenderKind), m.SenderName, WireNames.Of(m.Kind), m.CreatedAt, contactName, snippet, highlights);
    }
}
