using System.Data.Common;
using Microsoft.Data.Sqlite;
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

    // A batch's working sets, reused batch after batch (one writer loop commits one batch at a time); the results and
    // the committed messages handed back are new for every batch.
    private readonly List<Guid> _keys = [];
    private readonly List<Guid> _clientIds = [];
    private readonly Dictionary<Guid, ConversationState> _conversations = [];
    private readonly Dictionary<(Guid, Guid), Message> _existing = [];
    private readonly List<(int Index, Message Message)> _fresh = [];
    private readonly Dictionary<(Guid, Guid), Message> _freshByKey = [];
    private readonly List<ConversationState> _states = [];

    // The row being read, before ConversationState.From copies it (every field From reads is set for each row).
    private readonly Conversation _row = new();

    // The queue and assignment times of the locked rows, for the report facts; not part of ConversationState.
    private readonly Dictionary<Guid, (DateTime? QueuedAt, DateTime? AssignedAt)> _routingTimes = [];

    public async Task<(WriteResult[] Results, List<MessageCommitted> Committed)> CommitAsync(IReadOnlyList<WriteCommand> batch, CancellationToken cancellationToken)
    {
        var connection = await EnsureOpenAsync(cancellationToken);
        var sqlite = connection as SqliteConnection;
        DbTransaction? tx = null;
        try
        {
            // SQLite: BEGIN IMMEDIATE and COMMIT are statements prepared once on this connection. Microsoft.Data.Sqlite's
            // transaction object made a new command, statement, weak reference and rollback hook for every batch. No
            // DbTransaction exists then, and every statement of the batch runs on this connection, inside it.
            if (sqlite is not null)
            {
                Statement(sqlite, "BEGIN IMMEDIATE").Execute();
            }
            else
            {
                tx = await connection.BeginTransactionAsync(cancellationToken);
            }

            var conversations = await LockConversationsAsync(connection, tx, batch, cancellationToken);
            var existing = await FindExistingAsync(connection, tx, batch, conversations, cancellationToken);

            // Microsecond precision, as PostgreSQL stores it: the ack must equal what a later retry reads back.
            var now = time.GetUtcNow().UtcDateTime;
            now = now.AddTicks(-(now.Ticks % TimeSpan.TicksPerMicrosecond));
            var results = new WriteResult[batch.Count];
            var fresh = _fresh;
            var freshByKey = _freshByKey;
            fresh.Clear();
            freshByKey.Clear();
            for (var i = 0; i < batch.Count; i++)
            {
                var cmd = batch[i];
                if (!conversations.TryGetValue(cmd.ConversationId, out var conv)
                    || (cmd.RequiredContactId is { } contact && conv.ContactId != contact)
                    || (cmd.RequiredScope is { } scope && !scope.CanSee(conv.TeamId, conv.AssigneeId)))
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
            var outbox = false;
            if (fresh.Count > 0)
            {
                var subscribers = (await SubscriptionsAsync(connection, tx, cancellationToken)).Subscribers(MessageEventJournal.Type);
                outbox = subscribers.Length > 0;
                if (connection is Npgsql.NpgsqlConnection pg)
                {
                    events = await InsertAndAdvancePostgresAsync(pg, (Npgsql.NpgsqlTransaction)tx!, fresh, conversations, subscribers, now, cancellationToken);
                }
                else
                {
                    events = InsertAndAdvanceSqlite((SqliteConnection)connection, fresh, conversations, subscribers, now);
                }
                foreach (var (_, message) in fresh)
                {
                    committed.Add(new MessageCommitted(message, conversations[message.ConversationId]));
                }
            }

            if (sqlite is not null)
            {
                Statement(sqlite, "COMMIT").Execute();
            }
            else
            {
                await tx!.CommitAsync(cancellationToken);
            }

            if (events > 0)
            {
                journal.Committed(outbox);
            }

            return (results, committed);
        }
        catch
        {
            try
            {
                // The transaction ends before its connection is closed: PostgreSQL's is disposed (rolled back) as it
                // always was, SQLite's is rolled back by a statement.
                if (tx is not null)
                {
                    var failed = tx;
                    tx = null;
                    await failed.DisposeAsync();
                }
                else if (sqlite is not null)
                {
                    RollBackSqlite(sqlite);
                }
            }
            finally
            {
                // The connection may be broken; the next batch starts from a fresh one.
                await ResetAsync();
            }

            throw;
        }
        finally
        {
            if (tx is not null)
            {
                await tx.DisposeAsync();
            }
        }
    }

    /// <summary>
    /// Ends a failed batch's transaction before the connection goes back to the pool (a transaction begun by a statement
    /// is not rolled back by closing a pooled connection). A connection that cannot roll back is not pooled again.
    /// </summary>
    private static void RollBackSqlite(SqliteConnection connection)
    {
        try
        {
            if (connection.State == System.Data.ConnectionState.Open && SQLitePCL.raw.sqlite3_get_autocommit(connection.Handle) == 0)
            {
                using var rollback = connection.CreateCommand();
                rollback.CommandText = "ROLLBACK";
                rollback.ExecuteNonQuery();
            }
        }
        catch (SqliteException)
        {
            SqliteConnection.ClearPool(connection);
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
        DisposeStatements();
        if (_connection is not null)
        {
            await _connection.DisposeAsync();
            _connection = null;
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

    // PostgreSQL's two reads of every commit, as fixed texts with one positional array parameter: a named parameter
    // made Npgsql parse and rewrite the text on every commit, and the text itself was built on every commit.
    private const string PostgresLockSql =
        "SELECT " + LockColumns + " FROM \"Conversations\" AS c " + LockJoins + " WHERE c.\"Id\" = ANY($1) ORDER BY c.\"Id\"" + Data.PostgresDialect.ConversationRowLock;

    private const string PostgresFindExistingSql = "SELECT " + MessageColumns + " FROM \"Messages\" WHERE \"ClientId\" = ANY($1)";

    private static Npgsql.NpgsqlCommand PostgresCommand(DbConnection connection, DbTransaction? tx, string sql, List<Guid> ids)
    {
        var command = new Npgsql.NpgsqlCommand(sql, (Npgsql.NpgsqlConnection)connection, (Npgsql.NpgsqlTransaction?)tx);
        command.Parameters.Add(new Npgsql.NpgsqlParameter<Guid[]> { TypedValue = [.. ids] });
        return command;
    }

    private async Task<Dictionary<Guid, ConversationState>> LockConversationsAsync(
        DbConnection connection, DbTransaction? tx, IReadOnlyList<WriteCommand> batch, CancellationToken cancellationToken)
    {
        var ids = SortedDistinct(_keys, batch, static b => b.ConversationId);
        var result = _conversations;
        result.Clear();
        _routingTimes.Clear();
        _redacted.Clear();
        if (connection is SqliteConnection sqlite)
        {
            ReadConversationsSqlite(sqlite, ids, result);
            return result;
        }

        // PostgreSQL: one statement locks them all, in id order (no deadlock between nodes).
        await using var cmd = PostgresCommand(connection, tx, PostgresLockSql, ids);
        await using var reader = await cmd.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            ReadConversation(new DbRow(reader), result);
        }

        return result;
    }

    /// <summary>One row of <see cref="LockColumns"/>: its state into <paramref name="result"/>, its routing times and whether its events are redacted.</summary>
    private void ReadConversation<TRow>(TRow row, Dictionary<Guid, ConversationState> result)
        where TRow : IRow
    {
        // One entity reused for every row (a new one per conversation per batch was 3-4 % of what a message allocated).
        var conversation = _row;
        conversation.Id = row.Guid(0);
        conversation.SiteId = row.Guid(1);
        conversation.ContactId = row.Guid(2);
        conversation.Status = (ConversationStatus)row.Int32(3);
        conversation.AssigneeId = row.IsNull(4) ? null : row.Guid(4);
        conversation.LastSeq = row.Int64(5);
        conversation.LastVisitorSeq = row.Int64(6);
        conversation.CreatedAt = row.Utc(7);
        conversation.LastMessageAt = row.IsNull(8) ? null : row.Utc(8);
        conversation.LastMessagePreview = row.IsNull(9) ? null : row.String(9);
        conversation.LastMessageSenderKind = row.IsNull(10) ? null : (SenderKind)row.Int32(10);
        conversation.TeamId = row.IsNull(13) ? null : row.Guid(13);
        conversation.SnoozedUntil = row.IsNull(14) ? null : row.Utc(14);
        conversation.WaitingSince = row.IsNull(15) ? null : row.Utc(15);
        conversation.BotActive = row.Boolean(17);
        conversation.Intent = row.IsNull(18) ? null : row.String(18);
        conversation.TakeoverReason = row.IsNull(19) ? null : row.String(19);
        conversation.TakeoverAlertedAt = row.IsNull(20) ? null : row.Utc(20);
        conversation.RoutingWaitUntil = row.IsNull(23) ? null : row.Utc(23);
        var state = ConversationState.From(
            conversation,
            contactName: row.IsNull(11) ? null : row.String(11),
            assigneeName: row.IsNull(12) ? null : row.String(12),
            contactBlocked: !row.IsNull(16));
        result[state.Id] = state;
        _routingTimes[state.Id] = (row.IsNull(21) ? null : row.Utc(21), row.IsNull(22) ? null : row.Utc(22));
        if (!row.IsNull(24) || !row.IsNull(25))
        {
            _redacted.Add(state.Id);
        }
    }

    private async Task<Dictionary<(Guid, Guid), Message>> FindExistingAsync(
        DbConnection connection, DbTransaction? tx, IReadOnlyList<WriteCommand> batch,
        Dictionary<Guid, ConversationState> conversations, CancellationToken cancellationToken)
    {
        var found = _existing;
        found.Clear();

        // One index range per client id on (ClientId, ConversationId); the pair is matched in memory. A long OR of
        // (conversation AND client) pairs made SQLite's planner fall back to scanning the table.
        var clientIds = SortedDistinct(_clientIds, batch, static b => b.ClientId, conversations);
        if (clientIds.Count == 0)
        {
            return found;
        }

        if (connection is SqliteConnection sqlite)
        {
            FindExistingSqlite(sqlite, clientIds, found);
            return found;
        }

        await using var cmd = PostgresCommand(connection, tx, PostgresFindExistingSql, clientIds);
        await using var reader = await cmd.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            var m = MessageReader.Read(new DbRow(reader));
            found[(m.ConversationId, m.ClientId)] = m;
        }

        return found;
    }

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
    private List<ConversationState> ConversationsOf(List<(int Index, Message Message)> fresh, Dictionary<Guid, ConversationState> conversations)
    {
        _states.Clear();
        foreach (var (_, m) in fresh)
        {
            var state = conversations[m.ConversationId];
            if (!_states.Contains(state))
            {
                _states.Add(state);
            }
        }

        return _states;
    }

    /// <summary>
    /// <paramref name="keys"/> refilled with one key of each command (of a conversation in <paramref name="found"/>,
    /// when given), sorted, each once.
    /// </summary>
    private static List<Guid> SortedDistinct(
        List<Guid> keys, IReadOnlyList<WriteCommand> batch, Func<WriteCommand, Guid> key, Dictionary<Guid, ConversationState>? found = null)
    {
        keys.Clear();
        foreach (var command in batch)
        {
            if (found is null || found.ContainsKey(command.ConversationId))
            {
                keys.Add(key(command));
            }
        }

        keys.Sort();
        var kept = 0;
        for (var i = 0; i < keys.Count; i++)
        {
            if (i == 0 || keys[i] != keys[kept - 1])
            {
                keys[kept++] = keys[i];
            }
        }

        keys.RemoveRange(kept, keys.Count - kept);
        return keys;
    }

    /// <summary>
    /// Advances the conversation's report facts (docs/reports.md) in the same transaction: message counters, first
    /// visitor message, first reply of a person, first queue and assignment times. One upsert per conversation, beside
    /// the conversation update, so reports never count messages and the batch costs no round trip more.
    /// A conversation that did not start with the bot waited for a person from its creation. The values are each
    /// store's own (SQLite: one row, GroupCommit.Sqlite.cs; PostgreSQL: arrays, GroupCommit.Postgres.cs).
    /// </summary>
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

    public async ValueTask DisposeAsync() => await ResetAsync();
}

internal static class MessageReader
{
    /// <summary>Reads the columns in the order of GroupCommit.MessageColumns.</summary>
    public static Message Read<TRow>(TRow row)
        where TRow : IRow => new()
        {
            Id = row.Int64(0),
            ConversationId = row.Guid(1),
            Seq = row.Int64(2),
            VisitorSeq = row.IsNull(3) ? null : row.Int64(3),
            ClientId = row.Guid(4),
            SenderKind = (SenderKind)row.Int32(5),
            SenderId = row.IsNull(6) ? null : row.Guid(6),
            SenderName = row.IsNull(7) ? null : row.String(7),
            Kind = (MessageKind)row.Int32(8),
            Body = row.String(9),
            CreatedAt = row.Utc(10),
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
