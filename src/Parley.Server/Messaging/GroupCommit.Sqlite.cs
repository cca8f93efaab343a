using System.Buffers;
using System.Text.Json;
using Microsoft.Data.Sqlite;
using Parley.Data;
using Parley.Server.Data;

namespace Parley.Server.Messaging;

/// <summary>
/// SQLite's shape of the write: SQLite runs in the process, so there are no round trips to save, and the batch is a few
/// fixed statements run once per key, message or conversation. Each is a <see cref="SqliteStatement"/> prepared once per
/// connection, its values bound straight into SQLite (Microsoft.Data.Sqlite's commands allocated a parameter binder, a
/// UTF-8 copy of each string and a reader per execution). Parameters are numbered in the SQL (<c>?1</c>, <c>?2</c>…).
/// </summary>
internal sealed partial class GroupCommit
{
    // The statements of the write path, prepared once per connection and reused batch after batch.
    private readonly Dictionary<string, SqliteStatement> _statements = new(StringComparer.Ordinal);

    // The message.created payloads, serialised as UTF-8 into one reused buffer and bound as bytes.
    private readonly ArrayBufferWriter<byte> _payload = new(1024);
    private readonly Utf8JsonWriter _payloadWriter = new(Stream.Null);

    private SqliteStatement Statement(SqliteConnection connection, string sql)
    {
        if (!_statements.TryGetValue(sql, out var statement))
        {
            statement = SqliteStatement.Prepare(connection, sql);
            _statements[sql] = statement;
        }

        return statement;
    }

    private void DisposeStatements()
    {
        foreach (var statement in _statements.Values)
        {
            statement.Dispose();
        }

        _statements.Clear();
    }

    /// <summary>One conversation by id (BEGIN IMMEDIATE already holds the single write lock).</summary>
    private const string SqliteReadConversationSql = $"SELECT {LockColumns} FROM \"Conversations\" AS c {LockJoins} WHERE c.\"Id\" = ?1";

    private void ReadConversationsSqlite(SqliteConnection connection, List<Guid> ids, Dictionary<Guid, ConversationState> result)
    {
        var read = Statement(connection, SqliteReadConversationSql);
        foreach (var id in ids)
        {
            read.Bind(1, id);
            foreach (var row in read.Rows())
            {
                ReadConversation(row, result);
            }
        }
    }

    private const string SqliteFindByClientIdSql = $"SELECT {MessageColumns} FROM \"Messages\" WHERE \"ClientId\" = ?1";

    private void FindExistingSqlite(SqliteConnection connection, List<Guid> clientIds, Dictionary<(Guid, Guid), Message> found)
    {
        var find = Statement(connection, SqliteFindByClientIdSql);
        foreach (var clientId in clientIds)
        {
            find.Bind(1, clientId);
            foreach (var row in find.Rows())
            {
                var m = MessageReader.Read(row);
                found[(m.ConversationId, m.ClientId)] = m;
            }
        }
    }

    private const string SqliteInsertMessageSql = """
        INSERT INTO "Messages" ("ConversationId", "Seq", "VisitorSeq", "ClientId", "SenderKind", "SenderId", "SenderName", "Kind", "Body", "CreatedAt")
        VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) RETURNING "Id"
        """;

    /// <summary>Advances one conversation.</summary>
    private const string SqliteUpdateConversationSql = """
        UPDATE "Conversations" SET "LastSeq" = ?1, "LastVisitorSeq" = ?2, "LastMessageAt" = ?3,
        "LastMessagePreview" = ?4, "LastMessageSenderKind" = ?5, "UpdatedAt" = ?6, "WaitingSince" = ?7 WHERE "Id" = ?8
        """;

    /// <summary>The upsert of one conversation's report facts (<see cref="FactsOnConflict"/>).</summary>
    private const string SqliteUpsertFactsSql = FactsInsertInto + """

        VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, FALSE, FALSE, ?14)

        """ + FactsOnConflict;

    /// <summary>One event, its id back for the outbox rows.</summary>
    private const string SqliteInsertEventSql = """
        INSERT INTO "IntegrationEvents" ("Type", "ConversationId", "ContactId", "DataJson", "CreatedAt") VALUES (?1, ?2, ?3, ?4, ?5) RETURNING "Id"
        """;

    /// <summary>One outbox row (<see cref="Features.Webhooks.WebhookDeliveryStatus.Pending"/>, due at once).</summary>
    private const string SqliteInsertDeliverySql = """
        INSERT INTO "WebhookDeliveries" ("EndpointId", "EventId", "Status", "Attempts", "NextAttemptAt", "CreatedAt") VALUES (?1, ?2, 0, 0, ?3, ?3)
        """;

    /// <summary>
    /// Inserts the messages (giving them their ids), advances their conversations and report facts, and stores the
    /// <c>message.created</c> events with their outbox rows (GroupCommit.Events.cs). Returns how many events it stored.
    /// </summary>
    private int InsertAndAdvanceSqlite(
        SqliteConnection connection, List<(int Index, Message Message)> fresh,
        Dictionary<Guid, ConversationState> conversations, Guid[] subscribers, DateTime now)
    {
        var insert = Statement(connection, SqliteInsertMessageSql);
        foreach (var (_, m) in fresh)
        {
            insert.Bind(1, m.ConversationId);
            insert.Bind(2, m.Seq);
            insert.Bind(3, m.VisitorSeq);
            insert.Bind(4, m.ClientId);
            insert.Bind(5, (int)m.SenderKind);
            insert.Bind(6, m.SenderId);
            insert.Bind(7, m.SenderName);
            insert.Bind(8, (int)m.Kind);
            insert.Bind(9, m.Body);
            insert.Bind(10, m.CreatedAt);
            m.Id = insert.ExecuteInt64();
        }

        var updatedAt = fresh[0].Message.CreatedAt;
        var update = Statement(connection, SqliteUpdateConversationSql);
        var facts = Statement(connection, SqliteUpsertFactsSql);
        foreach (var c in ConversationsOf(fresh, conversations))
        {
            update.Bind(1, c.LastSeq);
            update.Bind(2, c.LastVisitorSeq);
            update.Bind(3, c.LastMessageAt);
            update.Bind(4, c.LastMessagePreview);
            update.Bind(5, (int?)c.LastMessageSenderKind);
            update.Bind(6, updatedAt);
            update.Bind(7, c.WaitingSince);
            update.Bind(8, c.Id);
            update.Execute();

            var f = BatchFacts.Of(c, fresh, _routingTimes);
            facts.Bind(1, c.Id);
            facts.Bind(2, c.SiteId);
            facts.Bind(3, c.TeamId);
            facts.Bind(4, c.AssigneeId);
            facts.Bind(5, c.CreatedAt);
            facts.Bind(6, f.QueuedAt);
            facts.Bind(7, f.AssignedAt);
            facts.Bind(8, f.FirstIn);
            facts.Bind(9, f.FirstOut);
            facts.Bind(10, f.Inbound);
            facts.Bind(11, f.Outbound);
            facts.Bind(12, f.Bot);
            facts.Bind(13, c.BotActive);
            facts.Bind(14, updatedAt);
            facts.Execute();
        }

        var events = 0;
        var evt = Statement(connection, SqliteInsertEventSql);
        var delivery = Statement(connection, SqliteInsertDeliverySql);
        foreach (var (_, m) in fresh)
        {
            if (!HasEvent(m))
            {
                continue;
            }

            evt.Bind(1, Features.Integration.MessageEventJournal.Type);
            evt.Bind(2, m.ConversationId);
            evt.Bind(3, conversations[m.ConversationId].ContactId);
            if (Redacted(m))
            {
                evt.Bind(4, Features.Privacy.DataLifecycle.RedactedPayload);
            }
            else
            {
                _payload.ResetWrittenCount();
                _payloadWriter.Reset(_payload);
                Features.Integration.MessageEventJournal.WritePayload(m, _payloadWriter);
                _payloadWriter.Flush();
                evt.BindUtf8(4, _payload.WrittenSpan);
            }

            evt.Bind(5, now);
            var id = evt.ExecuteInt64();
            events++;
            foreach (var endpoint in subscribers)
            {
                delivery.Bind(1, endpoint);
                delivery.Bind(2, id);
                delivery.Bind(3, now);
                delivery.Execute();
            }
        }

        return events;
    }
}
