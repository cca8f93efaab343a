using System.Data.Common;
using Npgsql;
using NpgsqlTypes;
using Parley.Data;
using Parley.Server.Data;
using Parley.Server.Features.Integration;
using Parley.Server.Features.Webhooks;

namespace Parley.Server.Messaging;

/// <summary>
/// One writer: the integration event of every committed message (<c>message.created</c>, docs/integration.md) and the
/// webhook outbox rows of the endpoints subscribed to it are inserted in the message's own transaction, by fixed
/// statements, so an acknowledged message always has its event and the integration log adds no second writer (and no
/// second commit) on the chat path. The payload is the one the integration log always stored: the message as agents see
/// it, serialised by <see cref="MessageEventJournal.Payload"/>; redacted when the contact is erased or the conversation
/// anonymised. The enabled endpoints come from <see cref="WebhookSubscriptions"/> (memory), read here only after a change.
/// </summary>
internal sealed partial class GroupCommit
{
    // Conversations of the locked batch whose events are stored without payload (docs/privacy.md).
    private readonly HashSet<Guid> _redacted = [];

    private const string LoadEndpointsSql = """SELECT "Id", "EventTypes" FROM "WebhookEndpoints" WHERE "Enabled" """;

    /// <summary>
    /// PostgreSQL, in the same <see cref="NpgsqlBatch"/> as the insert: the events in the batch's order (each message's
    /// id spliced into its pre-serialised payload, found by its unique (conversation, seq)), then one outbox row per
    /// event and subscribed endpoint. Taking <see cref="IntegrationEventLog.OrderLock"/> first makes event ids follow
    /// commit order across every writer of the log, so a reader that follows ids (gRPC streams) never skips one.
    /// </summary>
    private const string InsertEventsArraySql = """
        WITH e AS (
            INSERT INTO "IntegrationEvents" ("Type", "ConversationId", "ContactId", "DataJson", "CreatedAt")
            SELECT $1, v.cv, v.ct, CASE WHEN v.splice THEN '{"id":' || m."Id" || v.d ELSE v.d END, $6
            FROM unnest($2::uuid[], $3::bigint[], $4::uuid[], $5::text[], $7::boolean[]) WITH ORDINALITY AS v(cv, seq, ct, d, splice, n)
            JOIN "Messages" AS m ON m."ConversationId" = v.cv AND m."Seq" = v.seq
            ORDER BY v.n
            RETURNING "Id")
        INSERT INTO "WebhookDeliveries" ("EndpointId", "EventId", "Status", "Attempts", "NextAttemptAt", "CreatedAt")
        SELECT s.id, e."Id", 0, 0, $6, $6 FROM e CROSS JOIN unnest($8::uuid[]) AS s(id) ORDER BY e."Id"
        """;

    /// <summary>The payload's start while the message has no id yet; the rest follows the id on PostgreSQL.</summary>
    private const string UnnumberedPrefix = "{\"id\":0";

    private static bool HasEvent(Message m) => MessageEventJournal.Records(m);

    private async Task<WebhookSubscriptions.Snapshot> SubscriptionsAsync(DbConnection connection, DbTransaction? tx, CancellationToken cancellationToken)
    {
        if (journal.Subscriptions.Current is { } current)
        {
            return current;
        }

        var version = journal.Subscriptions.BeginLoad();
        var endpoints = new List<(Guid, string)>();
        await using var cmd = connection.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = LoadEndpointsSql;
        await using var reader = await cmd.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            endpoints.Add((SqlDialect.ReadGuid(reader, 0), reader.GetString(1)));
        }

        return journal.Subscriptions.Store(version, endpoints);
    }

    /// <summary>Whether the message's event is stored without its payload (SQLite binds the payload itself as UTF-8).</summary>
    private bool Redacted(Message m) => _redacted.Contains(m.ConversationId);

    private string PayloadOf(Message m) =>
        Redacted(m) ? Features.Privacy.DataLifecycle.RedactedPayload : MessageEventJournal.Payload(m);

    /// <summary>PostgreSQL: the order lock and the events' statement, added to the insert's batch (no round trip more).</summary>
    private int AddEventCommands(NpgsqlBatch batch, List<(int Index, Message Message)> fresh, Dictionary<Guid, ConversationState> conversations, Guid[] subscribers, DateTime now)
    {
        var n = 0;
        foreach (var (_, m) in fresh)
        {
            n += HasEvent(m) ? 1 : 0;
        }

        if (n == 0)
        {
            return 0;
        }

        var conversation = new Guid[n];
        var seq = new long[n];
        var contact = new Guid?[n];
        var data = new string[n];
        var splice = new bool[n];
        var i = 0;
        foreach (var (_, m) in fresh)
        {
            if (!HasEvent(m))
            {
                continue;
            }

            conversation[i] = m.ConversationId;
            seq[i] = m.Seq;
            contact[i] = conversations[m.ConversationId].ContactId;
            var payload = PayloadOf(m);
            splice[i] = payload.StartsWith(UnnumberedPrefix, StringComparison.Ordinal);
            data[i] = splice[i] ? payload[UnnumberedPrefix.Length..] : payload;
            i++;
        }

        var orderLock = new NpgsqlBatchCommand(IntegrationEventLog.OrderLockSql);
        batch.BatchCommands.Add(orderLock);

        var command = new NpgsqlBatchCommand(InsertEventsArraySql);
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = MessageEventJournal.Type, NpgsqlDbType = NpgsqlDbType.Text });
        command.Parameters.Add(new NpgsqlParameter<Guid[]> { TypedValue = conversation });
        command.Parameters.Add(new NpgsqlParameter<long[]> { TypedValue = seq });
        command.Parameters.Add(new NpgsqlParameter<Guid?[]> { TypedValue = contact });
        command.Parameters.Add(Texts(data));
        command.Parameters.Add(new NpgsqlParameter<DateTime> { TypedValue = now, NpgsqlDbType = NpgsqlDbType.TimestampTz });
        command.Parameters.Add(new NpgsqlParameter<bool[]> { TypedValue = splice });
        command.Parameters.Add(new NpgsqlParameter<Guid[]> { TypedValue = subscribers });
        batch.BatchCommands.Add(command);
        return n;
    }
}
