using System.Data.Common;
using System.Text;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;
using Microsoft.Extensions.Options;
using Parley.Data;
using Parley.Server.Data;
using Parley.Server.Infrastructure;

namespace Parley.Server.Features.Console;

/// <summary>
/// Feeds history search's bigram index (#18, <see cref="SearchIndexSql"/>) off the message path: every
/// <see cref="ConsoleOptions.SearchIndexIntervalSeconds"/> it indexes the messages above the watermark in
/// <c>"MessageSearchState"</c> (up to <see cref="ConsoleOptions.SearchIndexBatch"/> ids per transaction on PostgreSQL, <see cref="ConsoleOptions.SearchIndexSqliteBatch"/> on SQLite with a pause between batches, the watermark
/// moved in the same transaction) — nothing is written when a message is stored, so chat throughput is untouched.
/// <see cref="MessageSearch"/> checks the messages above the watermark by LIKE, so a search never misses one the
/// indexer has not reached. One node at a time (the <c>message-search-index</c> lease). Event lines are not indexed
/// (search never returns them); erasure removes a conversation's rows (<see cref="RemovePostingsAsync"/>), deleted
/// messages take theirs with them (foreign key on PostgreSQL, trigger on SQLite).
/// </summary>
public sealed partial class MessageSearchIndexer(IServiceScopeFactory scopes, TimeProvider time, Metrics.LoadGovernor governor, IOptions<ConsoleOptions> options, ILogger<MessageSearchIndexer> logger)
    : LeasedPassWorker(scopes, time, governor)
{
    public const string LeaseName = "message-search-index";

    /// <summary>
    /// PostgreSQL identities can commit out of order (a lower id committed after a higher one): each pass also looks
    /// again at this many ids below the watermark for messages that are not indexed yet. SQLite has one writer.
    /// </summary>
    public const long PostgresOverlap = 10_000;

    private long _indexed;
    private bool _cleanRefused;

    /// <summary>Ids covered since start (the bench reads it).</summary>
    public long Indexed => Interlocked.Read(ref _indexed);

    protected override string Lease => LeaseName;

    protected override TimeSpan LeaseDuration => TimeSpan.FromSeconds(options.Value.SearchIndexLeaseSeconds);

    protected override TimeSpan Interval => TimeSpan.FromSeconds(options.Value.SearchIndexIntervalSeconds);

    protected override TimeSpan Pause => TimeSpan.FromMilliseconds(options.Value.SearchIndexPauseMilliseconds);

    /// <summary>One pass: takes the lease and indexes the next batch of ids above the watermark.</summary>
    /// <returns>How far the watermark moved (0 when caught up or another node holds the lease).</returns>
    public async Task<long> RunOnceAsync(CancellationToken cancellationToken) => (await RunPassAsync(cancellationToken)).Done;

    /// <summary>One pass, with whether it asks for the next one at once (tests).</summary>
    internal Task<(long Done, bool More)> PassAsync(CancellationToken cancellationToken) => RunPassAsync(cancellationToken);

    /// <summary>
    /// One pass. It asks for the next one at once only when it was full (a backlog of more than a batch, or of
    /// re-tags): a pass that took everything there was leaves what arrives meanwhile to the next interval. Asking again
    /// whenever it moved at all kept the indexer in passes 20 ms apart at any message rate, each a few round trips
    /// for a handful of messages (at 100 msgs/s on PostgreSQL a quarter of everything the server allocated). Searches
    /// read the messages above the watermark directly, so the interval's lag hides nothing.
    /// </summary>
    protected override async Task<(long Done, bool More)> WorkAsync(ParleyDbContext db, CancellationToken cancellationToken)
    {
        var npgsql = db.Database.IsNpgsql();
        var batch = npgsql ? options.Value.SearchIndexBatch : options.Value.SearchIndexSqliteBatch;
        var moved = await IndexBatchAsync(db, batch, cancellationToken);
        Interlocked.Add(ref _indexed, moved);
        var retagged = await RetagAsync(db, cancellationToken);
        if ((moved > 0 || retagged > 0) && npgsql)
        {
            // The GIN takes new rows into its pending list, which every scan reads in full (at 10M messages a 4 MB list
            // made each bucket's probe 1.9 ms instead of 0.01 ms). Merged into the index now, the list is empty between
            // passes; merging is the same work the list would do when full, in one go.
            // Only the index's owner may: a deployment whose app role does not own it (migrated by another role) keeps
            // the list and its slower scans, and is told once.
            if (!_cleanRefused)
            {
                try
                {
                    await db.Database.ExecuteSqlRawAsync("""SELECT gin_clean_pending_list('"IX_MessageSearchGrams_Grams"'::regclass)""", cancellationToken);
                }
                catch (Npgsql.PostgresException e) when (e.SqlState == Npgsql.PostgresErrorCodes.InsufficientPrivilege)
                {
                    _cleanRefused = true;
                    LogCleanRefused(logger, e);
                }
            }
        }

        return (moved + retagged, moved >= batch || retagged >= RetagBatch);
    }

    /// <summary>How many conversations one pass re-tags (their messages' department postings, after a transfer).</summary>
    public const int RetagBatch = 50;

    /// <summary>The department of an admin's (every department's) keys on PostgreSQL.</summary>
    public const int PostgresAllDepartments = -1;

    /// <summary>PostgreSQL postings are qualified by the message id's bucket: <c>id &gt;&gt; 18</c>.</summary>
    public const int PostgresBucketBits = 18;

    /// <summary>
    /// The keys of a term's bigram hashes for one department and id bucket, as <c>parley_search_qualified</c> computes
    /// them (the search asks with these; a test holds the two equal).
    /// </summary>
    public static int[] PostgresKeys(IReadOnlyList<int> grams, int scope, int bucket)
    {
        var keys = new int[grams.Count];
        for (var i = 0; i < keys.Length; i++)
        {
            keys[i] = (int)(-1 - (((long)grams[i] * 2654435761L + ((long)scope + 1) * 40503L + (long)bucket * 2246822519L) % 2147483647L));
        }

        return keys;
    }

    /// <summary>
    /// The department that qualifies a conversation's postings on PostgreSQL (what <c>parley_search_scope</c>
    /// computes): 0 for no department, otherwise 1 plus the team id's last 28 bits.
    /// </summary>
    public static int PostgresScopeKey(Guid? teamId) =>
        teamId is { } team ? 1 + int.Parse(team.ToString("N").AsSpan(25), System.Globalization.NumberStyles.HexNumber, System.Globalization.CultureInfo.InvariantCulture) : 0;

    /// <summary>The department token of a conversation's messages on SQLite: <c>tnone</c>, or <c>t</c> and the team id's hex digits.</summary>
    public static string SqliteScopeToken(Guid? teamId) => teamId is { } team ? "t" + team.ToString("N") : "tnone";

    /// <summary>
    /// Re-tags the indexed messages of conversations whose department changed (queued by the
    /// <c>Conversations_search_retag</c> trigger), up to <see cref="RetagBatch"/> per pass. A queue row is removed only
    /// if its version is still the one read, so a change that lands meanwhile is re-tagged by the next pass.
    /// </summary>
    private static async Task<int> RetagAsync(ParleyDbContext db, CancellationToken cancellationToken)
    {
        if (db.Database.IsNpgsql())
        {
            await using var tx = await db.Database.BeginTransactionAsync(cancellationToken);
            var queued = await db.Database.SqlQuery<RetagRow>($"""
                SELECT "ConversationId", "Version" FROM "MessageSearchRetag" LIMIT {RetagBatch}
                """).ToListAsync(cancellationToken);
            if (queued.Count == 0)
            {
                return 0;
            }

            var ids = queued.ConvertAll(r => r.ConversationId).ToArray();
            var versions = queued.ConvertAll(r => r.Version).ToArray();
            await db.Database.ExecuteSqlAsync($"""
                UPDATE "MessageSearchGrams" g SET "Grams" = parley_search_postings(parley_search_grams(m."Body"), c."TeamId", m."Id")
                FROM "Messages" m JOIN "Conversations" c ON c."Id" = m."ConversationId"
                WHERE g."MessageId" = m."Id" AND m."ConversationId" = ANY({ids})
                """, cancellationToken);
            await db.Database.ExecuteSqlAsync($"""
                DELETE FROM "MessageSearchRetag" r USING unnest({ids}, {versions}) AS v(id, version)
                WHERE r."ConversationId" = v.id AND r."Version" = v.version
                """, cancellationToken);
            await tx.CommitAsync(cancellationToken);
            return queued.Count;
        }

        // SQLite: rare and small (one conversation's messages each), so it all runs under the write lock, where nothing
        // can change between reading the department and writing the documents.
        await db.Database.OpenConnectionAsync(cancellationToken);
        var connection = db.Database.GetDbConnection();
        await using (var peek = connection.CreateCommand())
        {
            peek.CommandText = """SELECT 1 FROM "MessageSearchRetag" LIMIT 1""";
            if (await peek.ExecuteScalarAsync(cancellationToken) is null)
            {
                return 0;
            }
        }

        await using var write = await db.Database.BeginTransactionAsync(cancellationToken);
        var transaction = write.GetDbTransaction();
        var rows = new List<(string Id, long Version)>();
        await using (var read = connection.CreateCommand())
        {
            read.Transaction = transaction;
            read.CommandText = $"""SELECT "ConversationId", "Version" FROM "MessageSearchRetag" LIMIT {RetagBatch}""";
            await using var reader = await read.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                rows.Add((reader.GetString(0), reader.GetInt64(1)));
            }
        }

        await using var messages = connection.CreateCommand();
        messages.Transaction = transaction;
        messages.CommandText = """
            SELECT m."Id", m."Body", c."TeamId" FROM "Messages" m JOIN "Conversations" c ON c."Id" = m."ConversationId"
            WHERE m."ConversationId" = $conversation AND m."Id" <= (SELECT "Watermark" FROM "MessageSearchState" WHERE "Id" = 1) AND m."Kind" <> $event
            """;
        var conversation = Parameter(messages, "$conversation");
        Parameter(messages, "$event").Value = (int)MessageKind.Event;
        await using var delete = connection.CreateCommand();
        delete.Transaction = transaction;
        delete.CommandText = """DELETE FROM "MessageSearchFts" WHERE rowid = $id""";
        var deleteId = Parameter(delete, "$id");
        using var insert = SqliteStatement.Prepare((SqliteConnection)connection, InsertDocumentSql);
        await using var done = connection.CreateCommand();
        done.Transaction = transaction;
        done.CommandText = """DELETE FROM "MessageSearchRetag" WHERE "ConversationId" = $conversation AND "Version" = $version""";
        var doneConversation = Parameter(done, "$conversation");
        var doneVersion = Parameter(done, "$version");
        using var documents = new SqliteDocuments();
        foreach (var (id, version) in rows)
        {
            conversation.Value = id;
            documents.Clear();
            await using (var reader = await messages.ExecuteReaderAsync(cancellationToken))
            {
                while (await reader.ReadAsync(cancellationToken))
                {
                    documents.Add(reader.GetInt64(0), reader.GetString(1), reader.IsDBNull(2) ? null : Guid.Parse(reader.GetString(2)));
                }
            }

            for (var i = 0; i < documents.Count; i++)
            {
                deleteId.Value = documents.Id(i);
                await delete.ExecuteNonQueryAsync(cancellationToken);
                InsertDocument(insert, documents, i);
            }

            doneConversation.Value = id;
            doneVersion.Value = version;
            await done.ExecuteNonQueryAsync(cancellationToken);
        }

        await write.CommitAsync(cancellationToken);
        return rows.Count;
    }

    private sealed record RetagRow(Guid ConversationId, long Version);

    /// <summary>A message's document into the index (SQLite), under its id as rowid.</summary>
    private const string InsertDocumentSql = """INSERT INTO "MessageSearchFts" (rowid, "Grams") VALUES (?1, ?2)""";

    private static void InsertDocument(SqliteStatement insert, SqliteDocuments documents, int i)
    {
        insert.Bind(1, documents.Id(i));
        insert.BindUtf8(2, documents.Document(i));
        insert.Execute();
    }

    protected override void PassFailed(Exception exception) => LogPassFailed(logger, exception);

    /// <summary>Runs passes until the watermark reaches the newest message (tests and the bench).</summary>
    public async Task CatchUpAsync(CancellationToken cancellationToken)
    {
        while (await RunOnceAsync(cancellationToken) > 0)
        {
        }
    }

    public static Task<long> WatermarkAsync(ParleyDbContext db, CancellationToken cancellationToken) =>
        db.Database.SqlQueryRaw<long>("""SELECT "Watermark" AS "Value" FROM "MessageSearchState" WHERE "Id" = 1""").SingleAsync(cancellationToken);

    private static async Task<long> IndexBatchAsync(ParleyDbContext db, int batch, CancellationToken cancellationToken)
    {
        if (!db.Database.IsNpgsql())
        {
            return await IndexSqliteAsync(db, batch, cancellationToken);
        }

        var watermark = await WatermarkAsync(db, cancellationToken);
        var top = await db.Messages.MaxAsync(m => (long?)m.Id, cancellationToken) ?? 0;
        if (top <= watermark)
        {
            return 0;
        }

        var to = Math.Min(top, watermark + batch);
        await IndexPostgresAsync(db, watermark, to, cancellationToken);
        return to - watermark;
    }

    private static async Task IndexPostgresAsync(ParleyDbContext db, long watermark, long to, CancellationToken cancellationToken)
    {
        await using var tx = await db.Database.BeginTransactionAsync(cancellationToken);
        var from = Math.Max(0, watermark - PostgresOverlap);
        await db.Database.ExecuteSqlAsync($"""
            INSERT INTO "MessageSearchGrams" ("MessageId", "Grams")
            SELECT m."Id", parley_search_postings(parley_search_grams(m."Body"), c."TeamId", m."Id")
            FROM "Messages" m JOIN "Conversations" c ON c."Id" = m."ConversationId"
            WHERE m."Id" > {from} AND m."Id" <= {to} AND m."Kind" <> {(int)MessageKind.Event}
              AND NOT EXISTS (SELECT 1 FROM "MessageSearchGrams" g WHERE g."MessageId" = m."Id")
            ON CONFLICT DO NOTHING
            """, cancellationToken);

        // An erasure that committed while this range was being read leaves no text behind.
        await db.Database.ExecuteSqlAsync($"""
            DELETE FROM "MessageSearchGrams" g USING "Messages" m
            WHERE g."MessageId" = m."Id" AND m."Id" > {from} AND m."Id" <= {to} AND m."Kind" = {(int)MessageKind.Event}
            """, cancellationToken);
        await MoveWatermarkAsync(db, to, cancellationToken);
        await tx.CommitAsync(cancellationToken);
    }

    /// <summary>
    /// SQLite has one write lock, which the group commit waits for: the messages are read and their documents built
    /// before the write transaction (WAL readers and the writer do not block each other), so the lock is held only
    /// for the inserts. Under it, a message erased or deleted since the read is left out.
    /// </summary>
    /// <returns>How far the watermark moved.</returns>
    private static async Task<long> IndexSqliteAsync(ParleyDbContext db, int batch, CancellationToken cancellationToken)
    {
        await db.Database.OpenConnectionAsync(cancellationToken);
        var connection = (SqliteConnection)db.Database.GetDbConnection();
        long watermark, top;
        using (var bounds = SqliteStatement.Prepare(connection, BoundsSql))
        {
            // Two scalar subqueries: always one row (disposed right after, so no reset).
            bounds.Step();
            (watermark, top) = (bounds.IsNull(0) ? throw new InvalidOperationException("The search index has no state row (migration SearchIndex).") : bounds.Int64(0), bounds.IsNull(1) ? 0 : bounds.Int64(1));
        }

        if (top <= watermark)
        {
            return 0;
        }

        var to = Math.Min(top, watermark + batch);
        var documents = SqliteDocuments.Rent();
        try
        {
            await IndexSqliteAsync(db, connection, documents, watermark, to, cancellationToken);
        }
        finally
        {
            documents.Return();
        }

        return to - watermark;
    }

    /// <summary>The watermark and the newest message id (SQLite), in one read.</summary>
    private const string BoundsSql = """SELECT (SELECT "Watermark" FROM "MessageSearchState" WHERE "Id" = 1), (SELECT MAX("Id") FROM "Messages")""";

    private static async Task IndexSqliteAsync(
        ParleyDbContext db, SqliteConnection connection, SqliteDocuments documents, long watermark, long to, CancellationToken cancellationToken)
    {
        using (var read = RangeStatement(connection, RangeSql, watermark, to))
        {
            foreach (var row in read.Rows())
            {
                documents.Add(row.Int64(0), row.Utf8(1), row.IsNull(2) ? null : row.Guid(2));
            }
        }

        await using var tx = await db.Database.BeginTransactionAsync(cancellationToken);
        if (documents.Count > 0)
        {
            var live = new HashSet<long>(documents.Count);
            using (var check = RangeStatement(connection, RangeIdsSql, watermark, to))
            {
                foreach (var row in check.Rows())
                {
                    live.Add(row.Int64(0));
                }
            }

            using var insert = SqliteStatement.Prepare(connection, InsertDocumentSql);
            for (var i = 0; i < documents.Count; i++)
            {
                if (live.Contains(documents.Id(i)))
                {
                    InsertDocument(insert, documents, i);
                }
            }
        }

        using (var move = SqliteStatement.Prepare(connection, MoveWatermarkSql))
        {
            move.Bind(1, to);
            move.Execute();
        }

        await tx.CommitAsync(cancellationToken);
    }

    /// <summary>The indexable messages of the id range (not event lines: erased ones are event lines too), with their conversation's department.</summary>
    private const string RangeSql = """
        SELECT m."Id", m."Body", c."TeamId" FROM "Messages" m JOIN "Conversations" c ON c."Id" = m."ConversationId"
        WHERE m."Id" > ?1 AND m."Id" <= ?2 AND m."Kind" <> ?3
        """;

    /// <summary>The ids of <see cref="RangeSql"/>'s messages.</summary>
    private const string RangeIdsSql = """SELECT "Id" FROM "Messages" WHERE "Id" > ?1 AND "Id" <= ?2 AND "Kind" <> ?3""";

    private static SqliteStatement RangeStatement(SqliteConnection connection, string sql, long watermark, long to)
    {
        var statement = SqliteStatement.Prepare(connection, sql);
        statement.Bind(1, watermark);
        statement.Bind(2, to);
        statement.Bind(3, (int)MessageKind.Event);
        return statement;
    }

    private const string MoveWatermarkSql = """UPDATE "MessageSearchState" SET "Watermark" = ?1 WHERE "Id" = 1""";

    private static Task<int> MoveWatermarkAsync(ParleyDbContext db, long to, CancellationToken cancellationToken) =>
        db.Database.ExecuteSqlAsync($"""UPDATE "MessageSearchState" SET "Watermark" = {to} WHERE "Id" = 1""", cancellationToken);

    private static DbParameter Parameter(DbCommand command, string name)
    {
        var p = command.CreateParameter();
        p.ParameterName = name;
        command.Parameters.Add(p);
        return p;
    }

    /// <summary>
    /// SQLite's bigrams of a text: each pair of adjacent UTF-16 units, ASCII letters folded to lower case (exactly
    /// what SQLite's LIKE folds), as one token <c>g</c> + 8 hex digits. A text that LIKE matches holds every bigram
    /// of the pattern, so the index returns a superset of LIKE's matches; LIKE then decides.
    /// </summary>
    public static IReadOnlyCollection<string> SqliteGrams(string text)
    {
        var codes = new List<uint>();
        DistinctGrams(text, [], codes);
        return codes.ConvertAll(static code =>
        {
            Span<byte> token = stackalloc byte[TokenLength];
            FormatToken(code, token);
            return Encoding.ASCII.GetString(token);
        });
    }

    private const int TokenLength = 9;

    /// <summary>A bigram's token: <c>g</c> and its code as 8 lower-case hex digits, in ASCII (the one place that spells it).</summary>
    private static void FormatToken(uint code, Span<byte> token)
    {
        token[0] = (byte)'g';
        code.TryFormat(token[1..], out _, "x8", System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>Each pair of adjacent UTF-16 units (ASCII folded), as a 32-bit code, once, in order of first appearance.</summary>
    private static void DistinctGrams(ReadOnlySpan<char> text, HashSet<uint> seen, List<uint> codes)
    {
        seen.Clear();
        codes.Clear();
        for (var i = 0; i + 1 < text.Length; i++)
        {
            var code = ((uint)Fold(text[i]) << 16) | Fold(text[i + 1]);
            if (seen.Add(code))
            {
                codes.Add(code);
            }
        }
    }

    private static char Fold(char c) => c is >= 'A' and <= 'Z' ? (char)(c + 32) : c;

    /// <summary>Removes the index rows of a conversation's messages (erasure and retention, in the caller's transaction).</summary>
    public static async Task RemovePostingsAsync(ParleyDbContext db, Guid conversationId, CancellationToken cancellationToken)
    {
        if (db.Database.IsNpgsql())
        {
            await db.Database.ExecuteSqlAsync($"""DELETE FROM "MessageSearchGrams" WHERE "MessageId" IN (SELECT "Id" FROM "Messages" WHERE "ConversationId" = {conversationId})""", cancellationToken);
            return;
        }

        // SQLite stores Guids as text through EF's converter: the ids come from the model, the delete by rowid.
        var ids = await db.Messages.Where(m => m.ConversationId == conversationId).Select(m => m.Id).ToListAsync(cancellationToken);
        var json = System.Text.Json.JsonSerializer.Serialize(ids);
        await db.Database.ExecuteSqlAsync($"""DELETE FROM "MessageSearchFts" WHERE rowid IN (SELECT value FROM json_each({json}))""", cancellationToken);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "The database role may not merge the search index's GIN pending list (it does not own the index); searches read the list until autovacuum merges it")]
    private static partial void LogCleanRefused(ILogger logger, Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "A search index pass failed; the watermark stays and the next pass retries")]
    private static partial void LogPassFailed(ILogger logger, Exception exception);
}
