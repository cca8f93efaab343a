using System.Data.Common;
using Parley.Data;
using Parley.Server.Data;
using Parley.Server.Features.Integration;

namespace Parley.Server.Messaging;

/// <summary>
/// Stores a batch of messages in one transaction: lock the conversations, find retried client ids, assign
/// sequence numbers, insert, advance the conversations (and their report facts). On PostgreSQL that is three round
/// trips per batch however large it is, each a fixed statement over arrays (GroupCommit.Postgres.cs); on SQLite,
/// which has no round trips, the advance is two prepared statements per conversation.
/// </summary>
internal sealed partial class GroupCommit(SqlDialect dialect, TimeProvider time, MessageEventJournal journal) : IAsyncDisposable
{
    private const string MessageColumns =
        "\"Id\", \"ConversationId\", \"Seq\", \"VisitorSeq\", \"ClientId\", \"SenderKind\", \"SenderId\", \"SenderName\", \"Kind\", \"Body\", \"CreatedAt\"";

    private DbConnection? _connection;

    // SQLite: the fixed-shape statements of the write path, prepared once per connection and reused batch after batch
    // (preparing them per batch, with new parameter objects, was a large part of what the chat path allocated).
    private readonly Dictionary<string, DbCommand> _prepared = new(StringComparer.Ordinal);

    // The queue and assignment times of the locked rows, for the report facts; not part of ConversationState.
    private readonly Dictionary<Guid, (DateTime? QueuedAt, DateTime? AssignedAt)> _routingTimes = [];

    public async Task<(WriteResult[] Results, List<MessageCommitted> Committed)> CommitAsync(IReadOnlyList<WriteCommand> batch, CancellationToken cancellationToken)
    {
        var connection = await EnsureOpenAsync(cancellationToken);
        try
        {
            await using var tx = await connection.BeginTransactionAsync(cancellationToken);
            var conversations = await LockConversationsAsync(connection, tx, batch, cancellationToken);
            var existing = await FindExistingAsync(connection, tx, batch, conversations, cancellationToken);

            // Microsecond precision, as PostgreSQL stores it: the ack must equal what a later retry reads back.
            var now = time.GetUtcNow().UtcDateTime;
            now = now.AddTicks(-(now.Ticks % TimeSpan.TicksPerMicrosecond));
            var results = new WriteResult[batch.Count];
            var fresh = new List<(int Index, Message Message)>(batch.Count);
            var freshByKey = new Dictionary<(Guid, Guid), Message>();
            for (var i = 0; i < batch.Count; i++)
            {
                var cmd = batch[i];
                if (!conversations.TryGetValue(cmd.ConversationId, out var conv)
                    || (cmd.RequiredContactId is { } contact && conv.ContactId != contact))
                {
                    results[i] = new WriteResult(WriteOutcome.NotFound, null);
                }
                else if (existing.TryGetValue((cmd.ConversationId, cmd.ClientId), out var original)
                    || freshByKey.TryGetValue((cmd.ConversationId, cmd.ClientId), out original))
                {
                    // A retry, possibly inside this very batch: answer with the original, store nothing. Only the
                    // same sender's message counts; another's would hand this sender a foreign ack and drop its text.
                    results[i] = cmd.IsRetryOf(original)
                        ? new WriteResult(WriteOutcome.Duplicate, original)
                        : new WriteResult(WriteOutcome.ClientIdTaken, null);
                }
                else if (cmd.RejectIfClosed && conv.Status == ConversationStatus.Closed)
                {
                    results[i] = new WriteResult(WriteOutcome.Closed, null);
                }
                else if (cmd.SenderKind == SenderKind.Visitor && conv.ContactBlocked)
                {
                    results[i] = new WriteResult(WriteOutcome.Blocked, null);
                }
                else
                {
                    var message = new Message
                    {
                        ConversationId = cmd.ConversationId,
                        Seq = ++conv.LastSeq,
                        VisitorSeq = cmd.Kind == MessageKind.Note ? null : ++conv.LastVisitorSeq,
                        ClientId = cmd.ClientId,
                        SenderKind = cmd.SenderKind,
                        SenderId = cmd.SenderId,
                        SenderName = cmd.SenderName,
                        Kind = cmd.Kind,
                        Body = cmd.Body,
                        CreatedAt = now,
                    };
                    if (cmd.Kind != MessageKind.Note)
                    {
                        conv.LastMessageAt = now;
                        conv.LastMessagePreview = ConversationState.Preview(cmd.PreviewText ?? cmd.Body);
                        conv.LastMessageSenderKind = cmd.SenderKind;
                        if (cmd.SenderKind == SenderKind.Visitor)
                        {
                            conv.WaitingSince ??= now;
                        }
                        else if (cmd.SenderKind is SenderKind.Agent or SenderKind.Bot)
                        {
                            conv.WaitingSince = null;
                        }
                    }

                    freshByKey[(cmd.ConversationId, cmd.ClientId)] = message;
                    fresh.Add((i, message));
                    results[i] = new WriteResult(WriteOutcome.Stored, message);
                }
            }

            var committed = new List<MessageCommitted>(fresh.Count);
            var events = 0;
            if (fresh.Count > 0)
            {
                var subscribers = (await SubscriptionsAsync(connection, tx, cancellationToken)).Subscribers(MessageEventJournal.Type);
                if (connection is Npgsql.NpgsqlConnection pg)
                {
                    events = await InsertAndAdvancePostgresAsync(pg, (Npgsql.NpgsqlTransaction)tx, fresh, conversations, subscribers, now, cancellationToken);
                }
                else
                {
                    await InsertAsync(connection, tx, fresh, cancellationToken);
                    await AdvanceConversationsAsync(connection, tx, fresh, conversations, cancellationToken);
                    events = await InsertEventsAsync(connection, tx, fresh, conversations, subscribers, now, cancellationToken);
                }
                foreach (var (_, message) in fresh)
                {
                    committed.Add(new MessageCommitted(message, conversations[message.ConversationId]));
                }
            }

            await tx.CommitAsync(cancellationToken);
            if (events > 0)
            {
                journal.Committed();
            }

            return (results, committed);
        }
        catch
        {
            // The connection may be broken; the next batch starts from a fresh one.
            await ResetAsync();
            throw;
        }
    }

    private async Task<DbConnection> EnsureOpenAsync(CancellationToken cancellationToken)
    {
        if (_connection is { State: System.Data.ConnectionState.Open })
        {
            return _connection;
        }

        await ResetAsync();
        var connection = dialect.CreateConnection();
        await connection.OpenAsync(cancellationToken);
        await dialect.InitializeConnectionAsync(connection, cancellationToken);
        _connection = connection;
        return connection;
    }

    private async Task ResetAsync()
    {
        foreach (var command in _prepared.Values)
        {
            await command.DisposeAsync();
        }

        _prepared.Clear();
        if (_connection is not null)
        {
            await _connection.DisposeAsync();
            _connection = null;
        }
    }

    /// <summary>The connection's command for <paramref name="sql"/>, created and prepared the first time, in <paramref name="tx"/>.</summary>
    private DbCommand Prepared(DbConnection connection, DbTransaction tx, string sql)
    {
        if (!_prepared.TryGetValue(sql, out var command))
        {
            command = connection.CreateCommand();
            command.CommandText = sql;
            _prepared[sql] = command;
        }

        command.Transaction = tx;
        return command;
    }

    /// <summary>
    /// A look-up by keys: on PostgreSQL one statement over all of them (<paramref name="listStatement"/> writes its
    /// text and binds the list: one round trip), on SQLite <paramref name="sqliteSingleKeySql"/>, prepared once per
    /// connection, run for each key (no round trips to save, and a fixed-shape statement instead of new SQL per batch).
    /// <paramref name="read"/> consumes each execution's rows.
    /// </summary>
    private async Task ByKeysAsync(
        DbConnection connection, DbTransaction tx, IReadOnlyList<Guid> keys, Action<DbCommand> listStatement,
        string sqliteSingleKeySql, string keyParameter, Func<DbCommand, Task> read)
    {
        if (connection is Npgsql.NpgsqlConnection)
        {
            await using var cmd = connection.CreateCommand();
            cmd.Transaction = tx;
            listStatement(cmd);
            await read(cmd);
            return;
        }

        var single = Prepared(connection, tx, sqliteSingleKeySql);
        foreach (var key in keys)
        {
            dialect.Set(single, keyParameter, key);
            await read(single);
        }
    }

    private const string LockColumns = """
        c."Id", c."SiteId", c."ContactId", c."Status", c."AssigneeId", c."LastSeq", c."LastVisitorSeq", c."CreatedAt",
        c."LastMessageAt", c."LastMessagePreview", c."LastMessageSenderKind", ct."Name", u."DisplayName",
        c."TeamId", c."SnoozedUntil", c."WaitingSince", ct."BlockedAt", c."BotActive",
        c."Intent", c."TakeoverReason", c."TakeoverAlertedAt", c."QueuedAt", c."AssignedAt", c."RoutingWaitUntil",
        c."AnonymisedAt", ct."ErasedAt"
        """;

    private const string LockJoins = """
        JOIN "Contacts" AS ct ON ct."Id" = c."ContactId"
        LEFT JOIN "Users" AS u ON u."Id" = c."AssigneeId"
        """;

    /// <summary>SQLite: one conversation by id (BEGIN IMMEDIATE already holds the single write lock), prepared once.</summary>
    private const string SqliteReadConversationSql = $"SELECT {LockColumns} FROM \"Conversations\" AS c {LockJoins} WHERE c.\"Id\" = @lock";

    private async Task<Dictionary<Guid, ConversationState>> LockConversationsAsync(
        DbConnection connection, DbTransaction tx, IReadOnlyList<WriteCommand> batch, CancellationToken cancellationToken)
    {
        var ids = batch.Select(b => b.ConversationId).Distinct().Order().ToList();
        var result = new Dictionary<Guid, ConversationState>(ids.Count);
        _routingTimes.Clear();
        _redacted.Clear();
        // PostgreSQL: one statement locks them all, in id order (no deadlock between nodes).
        await ByKeysAsync(
            connection,
            tx,
            ids,
            cmd => dialect.SelectConversationsForUpdate(cmd, ids, columns: LockColumns, joins: LockJoins),
            SqliteReadConversationSql,
            "@lock",
            cmd => ReadConversationsAsync(cmd, result, cancellationToken));
        return result;
    }

    private async Task ReadConversationsAsync(DbCommand cmd, Dictionary<Guid, ConversationState> result, CancellationToken cancellationToken)
    {
        await using var reader = await cmd.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            var row = new Conversation
            {
                Id = SqlDialect.ReadGuid(reader, 0),
                SiteId = SqlDialect.ReadGuid(reader, 1),
                ContactId = SqlDialect.ReadGuid(reader, 2),
                Status = (ConversationStatus)reader.GetInt32(3),
                AssigneeId = reader.IsDBNull(4) ? null : SqlDialect.ReadGuid(reader, 4),
                LastSeq = reader.GetInt64(5),
                LastVisitorSeq = reader.GetInt64(6),
                CreatedAt = SqlDialect.ReadUtc(reader, 7),
                LastMessageAt = reader.IsDBNull(8) ? null : SqlDialect.ReadUtc(reader, 8),
                LastMessagePreview = reader.IsDBNull(9) ? null : reader.GetString(9),
                LastMessageSenderKind = reader.IsDBNull(10) ? null : (SenderKind)reader.GetInt32(10),
                TeamId = reader.IsDBNull(13) ? null : SqlDialect.ReadGuid(reader, 13),
                SnoozedUntil = reader.IsDBNull(14) ? null : SqlDialect.ReadUtc(reader, 14),
                WaitingSince = reader.IsDBNull(15) ? null : SqlDialect.ReadUtc(reader, 15),
                BotActive = reader.GetBoolean(17),
                Intent = reader.IsDBNull(18) ? null : reader.GetString(18),
                TakeoverReason = reader.IsDBNull(19) ? null : reader.GetString(19),
                TakeoverAlertedAt = reader.IsDBNull(20) ? null : SqlDialect.ReadUtc(reader, 20),
                RoutingWaitUntil = reader.IsDBNull(23) ? null : SqlDialect.ReadUtc(reader, 23),
            };
            var state = ConversationState.From(
                row,
                contactName: reader.IsDBNull(11) ? null : reader.GetString(11),
                assigneeName: reader.IsDBNull(12) ? null : reader.GetString(12),
                contactBlocked: !reader.IsDBNull(16));
            result[state.Id] = state;
            _routingTimes[state.Id] = (reader.IsDBNull(21) ? null : SqlDialect.ReadUtc(reader, 21), reader.IsDBNull(22) ? null : SqlDialect.ReadUtc(reader, 22));
            if (!reader.IsDBNull(24) || !reader.IsDBNull(25))
            {
                _redacted.Add(state.Id);
            }
        }
    }

    private async Task<Dictionary<(Guid, Guid), Message>> FindExistingAsync(
        DbConnection connection, DbTransaction tx, IReadOnlyList<WriteCommand> batch,
        Dictionary<Guid, ConversationState> conversations, CancellationToken cancellationToken)
    {
        var found = new Dictionary<(Guid, Guid), Message>();

        // One index range per client id on (ClientId, ConversationId); the pair is matched in memory. A long OR of
        // (conversation AND client) pairs made SQLite's planner fall back to scanning the table.
        var clientIds = batch.Where(b => conversations.ContainsKey(b.ConversationId)).Select(b => b.ClientId).Distinct().ToList();
        if (clientIds.Count == 0)
        {
            return found;
        }

        await ByKeysAsync(
            connection,
            tx,
            clientIds,
            cmd => cmd.CommandText = $"SELECT {MessageColumns} FROM \"Messages\" WHERE \"ClientId\" {dialect.InList(cmd, "@dk", clientIds)}",
            SqliteFindByClientIdSql,
            "@dk",
            cmd => ReadExistingAsync(cmd, found, cancellationToken));
        return found;
    }

    private const string SqliteFindByClientIdSql = $"SELECT {MessageColumns} FROM \"Messages\" WHERE \"ClientId\" = @dk";

    private static async Task ReadExistingAsync(DbCommand cmd, Dictionary<(Guid, Guid), Message> found, CancellationToken cancellationToken)
    {
        await using var reader = await cmd.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            var m = MessageReader.Read(reader);
            found[(m.ConversationId, m.ClientId)] = m;
        }
    }

    /// <summary>SQLite: one prepared single-row insert, run for each message of the batch (no round trips to save).</summary>
    private async Task InsertAsync(DbConnection connection, DbTransaction tx, List<(int Index, Message Message)> fresh, CancellationToken cancellationToken)
    {
        var cmd = Prepared(connection, tx, InsertMessageSql);
        foreach (var (_, m) in fresh)
        {
            dialect.Set(cmd, "@a", m.ConversationId);
            dialect.Set(cmd, "@b", m.Seq);
            dialect.Set(cmd, "@c", m.VisitorSeq);
            dialect.Set(cmd, "@d", m.ClientId);
            dialect.Set(cmd, "@e", (int)m.SenderKind);
            dialect.Set(cmd, "@f", m.SenderId);
            dialect.Set(cmd, "@g", m.SenderName);
            dialect.Set(cmd, "@h", (int)m.Kind);
            dialect.Set(cmd, "@i", m.Body);
            dialect.Set(cmd, "@j", m.CreatedAt);
            m.Id = (long)(await cmd.ExecuteScalarAsync(cancellationToken))!;
        }
    }

    private const string InsertMessageSql = """
        INSERT INTO "Messages" ("ConversationId", "Seq", "VisitorSeq", "ClientId", "SenderKind", "SenderId", "SenderName", "Kind", "Body", "CreatedAt")
        VALUES (@a, @b, @c, @d, @e, @f, @g, @h, @i, @j) RETURNING "Id"
        """;

    /// <summary>
    /// Gives the inserted messages their ids from the insert's <c>RETURNING "Id", "ConversationId", "Seq"</c> rows,
    /// whose order is unspecified: matched by (conversation, seq), which is unique.
    /// </summary>
    private static async Task ReadInsertedIdsAsync(DbDataReader reader, List<(int Index, Message Message)> fresh, CancellationToken cancellationToken)
    {
        var byKey = new Dictionary<(Guid, long), Message>(fresh.Count);
        foreach (var (_, m) in fresh)
        {
            byKey[(m.ConversationId, m.Seq)] = m;
        }

        while (await reader.ReadAsync(cancellationToken))
        {
            byKey[(SqlDialect.ReadGuid(reader, 1), reader.GetInt64(2))].Id = reader.GetInt64(0);
        }
    }

    /// <summary>The conversations the batch's new messages belong to, each once, in the order of their first message.</summary>
    private static List<ConversationState> ConversationsOf(List<(int Index, Message Message)> fresh, Dictionary<Guid, ConversationState> conversations) =>
        fresh.Select(f => f.Message.ConversationId).Distinct().Select(id => conversations[id]).ToList();

    private async Task AdvanceConversationsAsync(
        DbConnection connection, DbTransaction tx, List<(int Index, Message Message)> fresh,
        Dictionary<Guid, ConversationState> conversations, CancellationToken cancellationToken)
    {
        // SQLite runs in-process, so a statement per conversation costs no round trip, while one long multi-statement
        // command is re-encoded and re-bound statement by statement: quadratic in the batch, and (measured) half of
        // everything the chat path allocated. The same two commands, prepared once, serve every conversation of the batch.
        var updatedAt = fresh[0].Message.CreatedAt;
        var update = Prepared(connection, tx, UpdateConversationSql);
        var facts = Prepared(connection, tx, UpsertFactsSql);
        foreach (var c in ConversationsOf(fresh, conversations))
        {
            SetUpdateConversation(update, c, updatedAt);
            await update.ExecuteNonQueryAsync(cancellationToken);
            dialect.Set(facts, "@id", c.Id);
            dialect.Set(facts, "@u", updatedAt);
            SetFacts(facts, c, fresh);
            await facts.ExecuteNonQueryAsync(cancellationToken);
        }
    }

    /// <summary>Advances one conversation (SQLite; <c>@id</c> and <c>@u</c> are shared with the facts).</summary>
    private const string UpdateConversationSql = """
        UPDATE "Conversations" SET "LastSeq" = @s, "LastVisitorSeq" = @v, "LastMessageAt" = @t,
        "LastMessagePreview" = @p, "LastMessageSenderKind" = @k, "UpdatedAt" = @u, "WaitingSince" = @w WHERE "Id" = @id
        """;

    private void SetUpdateConversation(DbCommand cmd, ConversationState c, DateTime updatedAt)
    {
        dialect.Set(cmd, "@s", c.LastSeq);
        dialect.Set(cmd, "@v", c.LastVisitorSeq);
        dialect.Set(cmd, "@t", c.LastMessageAt);
        dialect.Set(cmd, "@p", c.LastMessagePreview);
        dialect.Set(cmd, "@k", c.LastMessageSenderKind is { } k ? (int)k : null);
        dialect.Set(cmd, "@u", updatedAt);
        dialect.Set(cmd, "@w", c.WaitingSince);
        dialect.Set(cmd, "@id", c.Id);
    }

    /// <summary>
    /// Advances the conversation's report facts (docs/reports.md) in the same transaction: message counters, first
    /// visitor message, first reply of a person, first queue and assignment times. One upsert per conversation, beside
    /// the conversation update, so reports never count messages and the batch costs no round trip more.
    /// A conversation that did not start with the bot waited for a person from its creation.
    /// </summary>
    private const string UpsertFactsSql = FactsInsertInto + """

        VALUES (@id, @fs, @ft, @fa, @fc, @fq, @fg, @fv, @fr, @fi, @fo, @fb, @fbot, FALSE, FALSE, @u)

        """ + FactsOnConflict;

    private const string FactsInsertInto = """
        INSERT INTO "ConversationFacts" ("ConversationId", "SiteId", "TeamId", "AssigneeId", "CreatedAt", "FirstQueuedAt", "FirstAssignedAt",
            "FirstVisitorMessageAt", "FirstResponseAt", "MessagesIn", "MessagesOut", "BotMessages", "BotStarted", "HandedOff", "Abandoned", "UpdatedAt")
        """;

    /// <summary>How a batch's facts add to the stored ones (both stores).</summary>
    private const string FactsOnConflict = """
        ON CONFLICT ("ConversationId") DO UPDATE SET
            "TeamId" = excluded."TeamId",
            "AssigneeId" = COALESCE(excluded."AssigneeId", "ConversationFacts"."AssigneeId"),
            "FirstQueuedAt" = COALESCE("ConversationFacts"."FirstQueuedAt", excluded."FirstQueuedAt",
                CASE WHEN "ConversationFacts"."BotStarted" OR excluded."BotStarted" THEN NULL ELSE "ConversationFacts"."CreatedAt" END),
            "FirstAssignedAt" = COALESCE("ConversationFacts"."FirstAssignedAt", excluded."FirstAssignedAt"),
            "FirstVisitorMessageAt" = COALESCE("ConversationFacts"."FirstVisitorMessageAt", excluded."FirstVisitorMessageAt"),
            "FirstResponseAt" = COALESCE("ConversationFacts"."FirstResponseAt", excluded."FirstResponseAt"),
            "MessagesIn" = "ConversationFacts"."MessagesIn" + excluded."MessagesIn",
            "MessagesOut" = "ConversationFacts"."MessagesOut" + excluded."MessagesOut",
            "BotMessages" = "ConversationFacts"."BotMessages" + excluded."BotMessages",
            "HandedOff" = "ConversationFacts"."HandedOff" OR ("ConversationFacts"."BotStarted" AND (NOT excluded."BotStarted" OR excluded."AssigneeId" IS NOT NULL)),
            "BotStarted" = "ConversationFacts"."BotStarted" OR excluded."BotStarted",
            "UpdatedAt" = excluded."UpdatedAt"
        """;

    private void SetFacts(DbCommand cmd, ConversationState c, List<(int Index, Message Message)> fresh)
    {
        var facts = BatchFacts.Of(c, fresh, _routingTimes);
        dialect.Set(cmd, "@fs", c.SiteId);
        dialect.Set(cmd, "@ft", c.TeamId);
        dialect.Set(cmd, "@fa", c.AssigneeId);
        dialect.Set(cmd, "@fc", c.CreatedAt);
        dialect.Set(cmd, "@fq", facts.QueuedAt);
        dialect.Set(cmd, "@fg", facts.AssignedAt);
        dialect.Set(cmd, "@fv", facts.FirstIn);
        dialect.Set(cmd, "@fr", facts.FirstOut);
        dialect.Set(cmd, "@fi", facts.Inbound);
        dialect.Set(cmd, "@fo", facts.Outbound);
        dialect.Set(cmd, "@fb", facts.Bot);
        dialect.Set(cmd, "@fbot", c.BotActive);
    }

    public async ValueTask DisposeAsync() => await ResetAsync();
}

internal static class MessageReader
{
    /// <summary>Reads the columns in the order of GroupCommit.MessageColumns.</summary>
    public static Message Read(DbDataReader reader) => new()
    {
        Id = reader.GetInt64(0),
        ConversationId = SqlDialect.ReadGuid(reader, 1),
        Seq = reader.GetInt64(2),
        VisitorSeq = reader.IsDBNull(3) ? null : reader.GetInt64(3),
        ClientId = SqlDialect.ReadGuid(reader, 4),
        SenderKind = (SenderKind)reader.GetInt32(5),
        SenderId = reader.IsDBNull(6) ? null : SqlDialect.ReadGuid(reader, 6),
        SenderName = reader.IsDBNull(7) ? null : reader.GetString(7),
        Kind = (MessageKind)reader.GetInt32(8),
        Body = reader.GetString(9),
        CreatedAt = SqlDialect.ReadUtc(reader, 10),
    };
}

/// <summary>What one batch adds to a conversation's report facts: its messages by direction, the first of each, and the routing times.</summary>
internal readonly record struct BatchFacts(int Inbound, int Outbound, int Bot, DateTime? FirstIn, DateTime? FirstOut, DateTime? QueuedAt, DateTime? AssignedAt)
{
    /// <summary>A conversation that did not start with the bot waited for a person from its creation.</summary>
    public static BatchFacts Of(
        ConversationState c, List<(int Index, Message Message)> fresh, Dictionary<Guid, (DateTime? QueuedAt, DateTime? AssignedAt)> routingTimes)
    {
        int inbound = 0, outbound = 0, bot = 0;
        DateTime? firstIn = null, firstOut = null;
        foreach (var (_, m) in fresh)
        {
            if (m.ConversationId != c.Id || m.Kind is not (MessageKind.Text or MessageKind.Attachment))
            {
                continue;
            }

            switch (m.SenderKind)
            {
                case SenderKind.Visitor:
                    inbound++;
                    firstIn ??= m.CreatedAt;
                    break;
                case SenderKind.Agent:
                    outbound++;
                    firstOut ??= m.CreatedAt;
                    break;
                case SenderKind.Bot:
                    bot++;
                    break;
            }
        }

        var (queuedAt, assignedAt) = routingTimes.GetValueOrDefault(c.Id);
        return new BatchFacts(inbound, outbound, bot, firstIn, firstOut, queuedAt ?? (c.BotActive ? null : c.CreatedAt), assignedAt);
    }
}
