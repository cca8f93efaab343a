using System.Security.Claims;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Parley.Data;
using Parley.Server.Features.Access;
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
/// History search over every conversation the agent may see, newest first, with the same semantics on both stores as
/// a plain <c>LIKE '%term%'</c> (SQLite; ASCII case-insensitive) / <c>ILIKE</c> (PostgreSQL): the LIKE always decides,
/// the index only narrows the candidates. Terms of 2+ characters walk the bigram index (#18, fed off the message path
/// by <see cref="MessageSearchIndexer"/>) newest-first in growing batches of message ids, each batch joined with the
/// caller's sandbox (<see cref="ConversationScope"/>) and LIKE, until a page is full; the messages above the indexer's
/// watermark are checked by LIKE first. One-character terms and the search within one conversation read the messages
/// directly. Highlights are computed here so the client never renders markup.
/// </summary>
public sealed class MessageSearch(ParleyDbContext db, AccessPolicy access, IOptions<ConsoleOptions> options)
{
    public const int MaxQueryLength = 200;

    /// <summary>
    /// Above this many conversations that the department postings cannot speak for (see <see cref="OutsideAsync"/>),
    /// the walk ignores the postings' departments and filters its candidates afterwards, as for a term without them.
    /// </summary>
    public const int MaxOutsideConversations = 200;

    /// <summary>PostgreSQL: an agent in more departments than this walks the every-department keys rather than one scan per department.</summary>
    public const int MaxQualifiedDepartments = 4;
    private const int SnippetRadius = 60;
    private const int MaxBatch = 32_768;

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
        var sandbox = await access.ScopeAsync(Actor.Agent(user), cancellationToken);
        var visible = AccessPolicy.Filter(db.Conversations.AsNoTracking(), sandbox);
        var matching = Matching(term);
        if (conversationId is { } cid)
        {
            matching = matching.Where(m => m.ConversationId == cid);
        }

        if (beforeId is { } before)
        {
            matching = matching.Where(m => m.Id < before);
        }

        Task<List<(Message Message, string? ContactName)>> PageAsync(IQueryable<Message> messages, int take) => ReadAsync(messages, visible, take, cancellationToken);
        List<(Message Message, string? ContactName)> rows;
        if (conversationId is not null || term.Length < 2)
        {
            rows = await PageAsync(matching, pageSize + 1);
        }
        else
        {
            // An agent limited to some departments walks only their postings (#18: department-aware postings); the
            // conversations the postings cannot speak for are read directly, and their hits merged in by id.
            var outside = sandbox.SeesAllDepartments ? null : await OutsideAsync(sandbox, visible, cancellationToken);
            var departments = outside is null ? null : Departments(sandbox);

            // PostgreSQL: without JIT and parallel workers. The GIN's row estimates for a containment are coarse (15,666
            // rows for a key with six postings), so a scan over several buckets passed jit_above_cost and spent 4-50 ms
            // compiling, or started two workers (7-10 ms), for a query that runs in 0.3 ms. One transaction for the
            // search, so the settings stay local to it.
            var npgsql = db.Database.IsNpgsql();
            await using var noJit = npgsql ? await db.Database.BeginTransactionAsync(cancellationToken) : null;
            if (noJit is not null)
            {
                await db.Database.ExecuteSqlRawAsync("SET LOCAL jit = off; SET LOCAL max_parallel_workers_per_gather = 0", cancellationToken);
            }

            // The tail the indexer has not reached yet, then the index below it, newest first.
            var watermark = await MessageSearchIndexer.WatermarkAsync(db, cancellationToken);
            var upper = Math.Min(beforeId ?? long.MaxValue, watermark + 1);
            if (npgsql)
            {
                // PostgreSQL: the newest messages are read directly first (a frequent term fills the page within a
                // few thousand rows, cheaper than any index); only a term that is rare there goes to the GIN.
                var top = Math.Min(beforeId ?? long.MaxValue, (await db.Messages.MaxAsync(m => (long?)m.Id, cancellationToken) ?? 0) + 1);
                var floor = Math.Min(top - options.Value.SearchDirectWindow, watermark + 1);
                rows = await PageAsync(matching.Where(m => m.Id >= floor), pageSize + 1);
                upper = Math.Min(upper, floor);
            }
            else
            {
                rows = await PageAsync(matching.Where(m => m.Id > watermark), pageSize + 1);
            }

            // The candidates are checked in growing chunks, newest first. PostgreSQL's GIN answers with a bitmap of every
            // candidate of the id bucket asked for, whatever the LIMIT, so each bucket is read once (up to MaxBatch);
            // FTS5 walks its doclists lazily, so SQLite is asked for each chunk.
            var pending = new Queue<long>();
            var walk = new Walk(term, departments, npgsql ? await GramsAsync(term, cancellationToken) : null);
            for (var batch = 4 * (pageSize + 1); rows.Count <= pageSize; batch = Math.Min(batch * 4, MaxBatch))
            {
                while (pending.Count < batch && upper > 1)
                {
                    var (ids, below) = await CandidatesAsync(walk, upper, npgsql ? MaxBatch : batch - pending.Count, cancellationToken);
                    ids.ForEach(pending.Enqueue);
                    upper = below;
                    if (ids.Count < batch)
                    {
                        walk.Span = Math.Min(walk.Span * 2, MaxBucketsPerScan);
                    }
                }

                if (pending.Count == 0)
                {
                    break;
                }

                var chunk = new List<long>(Math.Min(batch, pending.Count));
                while (chunk.Count < batch && pending.TryDequeue(out var id))
                {
                    chunk.Add(id);
                }

                rows.AddRange(await PageAsync(matching.Where(m => chunk.Contains(m.Id)), pageSize + 1 - rows.Count));
            }

            if (outside is { Count: > 0 })
            {
                rows = rows.Concat(await PageAsync(matching.Where(m => outside.Contains(m.ConversationId)), pageSize + 1))
                    .DistinctBy(r => r.Message.Id).OrderByDescending(r => r.Message.Id).Take(pageSize + 1).ToList();
            }

            if (noJit is not null)
            {
                await noJit.CommitAsync(cancellationToken);
            }
        }

        var hits = rows.Take(pageSize).Select(r => ToHit(r.Message, r.ContactName, term)).ToList();
        var next = rows.Count > pageSize ? hits[^1].MessageId.ToString(System.Globalization.CultureInfo.InvariantCulture) : null;
        return new SearchPage(hits, next);
    }

    private async Task<List<(Message Message, string? ContactName)>> ReadAsync(IQueryable<Message> messages, IQueryable<Conversation> visible, int take, CancellationToken cancellationToken)
    {
        var rows = await (from m in messages
                          join c in visible on m.ConversationId equals c.Id
                          join ct in db.Contacts on c.ContactId equals ct.Id
                          orderby m.Id descending
                          select new { Message = m, ContactName = ct.Name }).Take(take).ToListAsync(cancellationToken);
        return rows.Select(r => (r.Message, (string?)r.ContactName)).ToList();
    }

    /// <summary>The messages the store's LIKE matches (what a hit is, whatever narrowed the candidates).</summary>
    private IQueryable<Message> Matching(string term)
    {
        var like = "%" + CannedReplyService.EscapeLike(term) + "%";
        var messages = db.Messages.AsNoTracking().Where(m => m.Kind != MessageKind.Event);
        return db.Database.IsNpgsql()
            ? messages.Where(m => EF.Functions.ILike(m.Body, like, "\\"))
            : messages.Where(m => EF.Functions.Like(m.Body, like, "\\"));
    }

    /// <summary>
    /// The visible conversations whose messages' department postings do not say so: those assigned to the agent
    /// outside his departments, and those queued for re-tagging after a department change (read first: a re-tag that
    /// commits after this read has already written the new postings the walk then sees). Null when there are more than
    /// <see cref="MaxOutsideConversations"/>: the walk then goes without departments.
    /// </summary>
    private async Task<List<Guid>?> OutsideAsync(AccessScope sandbox, IQueryable<Conversation> visible, CancellationToken cancellationToken)
    {
        var queued = await db.Database.SqlQueryRaw<Guid>($"""SELECT "ConversationId" AS "Value" FROM "MessageSearchRetag" ORDER BY "ConversationId" LIMIT {MaxOutsideConversations + 1}""").ToListAsync(cancellationToken);
        if (queued.Count > MaxOutsideConversations)
        {
            return null;
        }

        // Two queries, each on an index: the queued ones by id, his own from (AssigneeId, TeamId, Id) alone.
        var outside = queued.Count == 0 ? [] : await visible.Where(c => queued.Contains(c.Id)).Select(c => c.Id).ToListAsync(cancellationToken);
        outside.AddRange(await db.Conversations.AsNoTracking()
            .Where(sandbox.OwnOutsideDepartments())
            .OrderBy(c => c.AssigneeId).Select(c => c.Id).Take(MaxOutsideConversations + 1).ToListAsync(cancellationToken)); // (ordered by the equal key: an order by id walked the primary key, 315 ms at 1M)
        outside = outside.Distinct().ToList();
        return outside.Count > MaxOutsideConversations ? null : outside;
    }

    /// <summary>The departments whose postings the agent's walk reads (his teams, and "none" where unteamed conversations are visible).</summary>
    private static List<Guid?> Departments(AccessScope sandbox)
    {
        var departments = sandbox.TeamIds.Select(t => (Guid?)t).ToList();
        if (sandbox.UnteamedVisible)
        {
            departments.Add(null);
        }

        return departments;
    }

    /// <summary>
    /// What the index walk asks for: the term, the departments (null: all), on PostgreSQL the term's bigram hashes
    /// (read once per search) and how many id buckets the next scan covers (doubling while they come back nearly
    /// empty, so a rare term needs a few scans, not one per bucket).
    /// </summary>
    private sealed class Walk(string term, List<Guid?>? departments, IReadOnlyList<int>? grams)
    {
        public string Term { get; } = term;

        public List<Guid?>? Departments { get; } = departments;

        public IReadOnlyList<int>? Grams { get; } = grams;

        public int Span { get; set; } = 1;
    }

    /// <summary>PostgreSQL: the most id buckets one scan covers (one containment per bucket and department, OR-ed).</summary>
    public const int MaxBucketsPerScan = 16;

    /// <summary>PostgreSQL: the term's bigram hashes, as the database computes them (its <c>lower()</c>, ILIKE's).</summary>
    private Task<List<int>> GramsAsync(string term, CancellationToken cancellationToken) =>
        db.Database.SqlQuery<int>($"""SELECT unnest(parley_search_grams({term})) AS "Value" """).ToListAsync(cancellationToken);

    /// <summary>
    /// Up to <paramref name="take"/> indexed message ids below <paramref name="upper"/> holding every bigram of the
    /// term, newest first (with departments, only those posted under one of them), and the bound to ask below next
    /// (0: no more). PostgreSQL answers from <see cref="Walk.Span"/> id buckets per call, from the bucket of
    /// <c>upper - 1</c> down: its GIN scans read only those buckets' posting lists.
    /// </summary>
    private async Task<(List<long> Ids, long Next)> CandidatesAsync(Walk walk, long upper, int take, CancellationToken cancellationToken)
    {
        if (walk.Departments is { Count: 0 })
        {
            return ([], 0);
        }

        if (walk.Grams is { } grams)
        {
            // One containment per bucket and department the agent sees (a bitmap OR of GIN scans), or the
            // every-department keys; more departments than MaxQualifiedDepartments read the every-department keys and
            // the join filters. "+ 0" keeps the planner off the primary key (a walk down it for a rare term read the
            // whole table: 3.4 s at 1,000,000 messages).
            var scopes = walk.Departments is null || walk.Departments.Count > MaxQualifiedDepartments
                ? [MessageSearchIndexer.PostgresAllDepartments]
                : walk.Departments.ConvertAll(MessageSearchIndexer.PostgresScopeKey);
            var top = (int)((upper - 1) >> MessageSearchIndexer.PostgresBucketBits);
            var bottom = Math.Max(0, top - Math.Max(1, walk.Span / scopes.Count) + 1);
            var parameters = new List<object> { upper, take };
            var terms = new List<string>();
            for (var bucket = top; bucket >= bottom; bucket--)
            {
                foreach (var scope in scopes)
                {
                    terms.Add(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"\"Grams\" @> {{{parameters.Count}}}"));
                    parameters.Add(MessageSearchIndexer.PostgresKeys(grams, scope, bucket));
                }
            }

            var sql = $$"""
                SELECT "MessageId" AS "Value" FROM "MessageSearchGrams"
                WHERE ({{string.Join(" OR ", terms)}}) AND "MessageId" + 0 < {0}
                ORDER BY "MessageId" + 0 DESC LIMIT {1}
                """;
            var ids = await db.Database.SqlQueryRaw<long>(sql, [.. parameters]).ToListAsync(cancellationToken);
            return (ids, ids.Count == take ? ids[^1] : (long)bottom << MessageSearchIndexer.PostgresBucketBits);
        }

        var match = string.Join(' ', MessageSearchIndexer.SqliteGrams(walk.Term));
        if (walk.Departments is { } departments)
        {
            match = $"({match}) AND ({string.Join(" OR ", departments.Select(MessageSearchIndexer.SqliteScopeToken))})";
        }

        var found = await db.Database.SqlQuery<long>($"""
            SELECT rowid AS "Value" FROM "MessageSearchFts"
            WHERE "MessageSearchFts" MATCH {match} AND rowid < {upper}
            ORDER BY rowid DESC LIMIT {take}
            """).ToListAsync(cancellationToken);
        return (found, found.Count == take ? found[^1] : 0);
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
