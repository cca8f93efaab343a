using Npgsql;
using NpgsqlTypes;
using Parley.Data;

namespace Parley.Server.Messaging;

/// <summary>
/// PostgreSQL's shape of the write: the insert, the conversations' advance and their report facts' upsert go as one
/// <see cref="NpgsqlBatch"/> (one round trip), and every statement has a fixed text with one array parameter per
/// column (<c>unnest</c>), so a batch builds no SQL and binds a dozen parameters however many rows it holds.
/// </summary>
internal sealed partial class GroupCommit
{
    private const string InsertMessagesSql = """
        INSERT INTO "Messages" ("ConversationId", "Seq", "VisitorSeq", "ClientId", "SenderKind", "SenderId", "SenderName", "Kind", "Body", "CreatedAt")
        SELECT * FROM unnest($1::uuid[], $2::bigint[], $3::bigint[], $4::uuid[], $5::integer[], $6::uuid[], $7::text[], $8::integer[], $9::text[], $10::timestamptz[])
        RETURNING "Id", "ConversationId", "Seq"
        """;

    private const string AdvanceConversationsSql = """
        UPDATE "Conversations" AS c SET "LastSeq" = v.s, "LastVisitorSeq" = v.vs, "LastMessageAt" = v.t, "LastMessagePreview" = v.p,
            "LastMessageSenderKind" = v.k, "UpdatedAt" = $8, "WaitingSince" = v.w
        FROM unnest($1::uuid[], $2::bigint[], $3::bigint[], $4::timestamptz[], $5::text[], $6::integer[], $7::timestamptz[]) AS v(id, s, vs, t, p, k, w)
        WHERE c."Id" = v.id
        """;

    /// <summary>The same upsert as <see cref="UpsertFactsSql"/>, over arrays.</summary>
    private const string UpsertFactsArraySql = FactsInsertInto + """

        SELECT v.id, v.fs, v.ft, v.fa, v.fc, v.fq, v.fg, v.fv, v.fr, v.fi, v.fo, v.fb, v.fbot, FALSE, FALSE, $14
        FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::timestamptz[], $6::timestamptz[], $7::timestamptz[], $8::timestamptz[],
            $9::timestamptz[], $10::integer[], $11::integer[], $12::integer[], $13::boolean[]) AS v(id, fs, ft, fa, fc, fq, fg, fv, fr, fi, fo, fb, fbot)

        """ + FactsOnConflict;

    /// <summary>Returns how many integration events the batch stored (GroupCommit.Events.cs).</summary>
    private async Task<int> InsertAndAdvancePostgresAsync(
        NpgsqlConnection connection, NpgsqlTransaction tx, List<(int Index, Message Message)> fresh,
        Dictionary<Guid, ConversationState> conversations, Guid[] subscribers, DateTime now, CancellationToken cancellationToken)
    {
        await using var batch = new NpgsqlBatch(connection, tx);
        batch.BatchCommands.Add(InsertCommand(fresh));

        var states = ConversationsOf(fresh, conversations);
        var updatedAt = fresh[0].Message.CreatedAt;
        batch.BatchCommands.Add(AdvanceCommand(states, updatedAt));
        batch.BatchCommands.Add(FactsCommand(states, fresh, updatedAt));
        var events = AddEventCommands(batch, fresh, conversations, subscribers, now);

        await using var reader = await batch.ExecuteReaderAsync(cancellationToken);
        await ReadInsertedIdsAsync(reader, fresh, cancellationToken);

        // The update and the upsert return no rows; reading to the end surfaces their errors here.
        while (await reader.NextResultAsync(cancellationToken))
        {
        }

        return events;
    }

    private static NpgsqlBatchCommand InsertCommand(List<(int Index, Message Message)> fresh)
    {
        var n = fresh.Count;
        var conversation = new Guid[n];
        var seq = new long[n];
        var visitorSeq = new long?[n];
        var client = new Guid[n];
        var senderKind = new int[n];
        var senderId = new Guid?[n];
        var senderName = new string?[n];
        var kind = new int[n];
        var body = new string[n];
        var createdAt = new DateTime[n];
        for (var i = 0; i < n; i++)
        {
            var m = fresh[i].Message;
            conversation[i] = m.ConversationId;
            seq[i] = m.Seq;
            visitorSeq[i] = m.VisitorSeq;
            client[i] = m.ClientId;
            senderKind[i] = (int)m.SenderKind;
            senderId[i] = m.SenderId;
            senderName[i] = m.SenderName;
            kind[i] = (int)m.Kind;
            body[i] = m.Body;
            createdAt[i] = m.CreatedAt;
        }

        var command = new NpgsqlBatchCommand(InsertMessagesSql);
        command.Parameters.Add(new NpgsqlParameter<Guid[]> { TypedValue = conversation });
        command.Parameters.Add(new NpgsqlParameter<long[]> { TypedValue = seq });
        command.Parameters.Add(new NpgsqlParameter<long?[]> { TypedValue = visitorSeq });
        command.Parameters.Add(new NpgsqlParameter<Guid[]> { TypedValue = client });
        command.Parameters.Add(new NpgsqlParameter<int[]> { TypedValue = senderKind });
        command.Parameters.Add(new NpgsqlParameter<Guid?[]> { TypedValue = senderId });
        command.Parameters.Add(Texts(senderName));
        command.Parameters.Add(new NpgsqlParameter<int[]> { TypedValue = kind });
        command.Parameters.Add(Texts(body));
        command.Parameters.Add(Times(createdAt));
        return command;
    }

    private static NpgsqlBatchCommand AdvanceCommand(List<ConversationState> states, DateTime updatedAt)
    {
        var n = states.Count;
        var id = new Guid[n];
        var seq = new long[n];
        var visitorSeq = new long[n];
        var lastAt = new DateTime?[n];
        var preview = new string?[n];
        var senderKind = new int?[n];
        var waitingSince = new DateTime?[n];
        for (var i = 0; i < n; i++)
        {
            var c = states[i];
            id[i] = c.Id;
            seq[i] = c.LastSeq;
            visitorSeq[i] = c.LastVisitorSeq;
            lastAt[i] = c.LastMessageAt;
            preview[i] = c.LastMessagePreview;
            senderKind[i] = c.LastMessageSenderKind is { } k ? (int)k : null;
            waitingSince[i] = c.WaitingSince;
        }

        var command = new NpgsqlBatchCommand(AdvanceConversationsSql);
        command.Parameters.Add(new NpgsqlParameter<Guid[]> { TypedValue = id });
        command.Parameters.Add(new NpgsqlParameter<long[]> { TypedValue = seq });
        command.Parameters.Add(new NpgsqlParameter<long[]> { TypedValue = visitorSeq });
        command.Parameters.Add(Times(lastAt));
        command.Parameters.Add(Texts(preview));
        command.Parameters.Add(new NpgsqlParameter<int?[]> { TypedValue = senderKind });
        command.Parameters.Add(Times(waitingSince));
        command.Parameters.Add(new NpgsqlParameter<DateTime> { TypedValue = updatedAt, NpgsqlDbType = NpgsqlDbType.TimestampTz });
        return command;
    }

    private NpgsqlBatchCommand FactsCommand(List<ConversationState> states, List<(int Index, Message Message)> fresh, DateTime updatedAt)
    {
        var n = states.Count;
        var id = new Guid[n];
        var site = new Guid[n];
        var team = new Guid?[n];
        var assignee = new Guid?[n];
        var createdAt = new DateTime[n];
        var queuedAt = new DateTime?[n];
        var assignedAt = new DateTime?[n];
        var firstIn = new DateTime?[n];
        var firstOut = new DateTime?[n];
        var inbound = new int[n];
        var outbound = new int[n];
        var bot = new int[n];
        var botStarted = new bool[n];
        for (var i = 0; i < n; i++)
        {
            var c = states[i];
            var facts = BatchFacts.Of(c, fresh, _routingTimes);
            id[i] = c.Id;
            site[i] = c.SiteId;
            team[i] = c.TeamId;
            assignee[i] = c.AssigneeId;
            createdAt[i] = c.CreatedAt;
            queuedAt[i] = facts.QueuedAt;
            assignedAt[i] = facts.AssignedAt;
            firstIn[i] = facts.FirstIn;
            firstOut[i] = facts.FirstOut;
            inbound[i] = facts.Inbound;
            outbound[i] = facts.Outbound;
            bot[i] = facts.Bot;
            botStarted[i] = c.BotActive;
        }

        var command = new NpgsqlBatchCommand(UpsertFactsArraySql);
        command.Parameters.Add(new NpgsqlParameter<Guid[]> { TypedValue = id });
        command.Parameters.Add(new NpgsqlParameter<Guid[]> { TypedValue = site });
        command.Parameters.Add(new NpgsqlParameter<Guid?[]> { TypedValue = team });
        command.Parameters.Add(new NpgsqlParameter<Guid?[]> { TypedValue = assignee });
        command.Parameters.Add(Times(createdAt));
        command.Parameters.Add(Times(queuedAt));
        command.Parameters.Add(Times(assignedAt));
        command.Parameters.Add(Times(firstIn));
        command.Parameters.Add(Times(firstOut));
        command.Parameters.Add(new NpgsqlParameter<int[]> { TypedValue = inbound });
        command.Parameters.Add(new NpgsqlParameter<int[]> { TypedValue = outbound });
        command.Parameters.Add(new NpgsqlParameter<int[]> { TypedValue = bot });
        command.Parameters.Add(new NpgsqlParameter<bool[]> { TypedValue = botStarted });
        command.Parameters.Add(new NpgsqlParameter<DateTime> { TypedValue = updatedAt, NpgsqlDbType = NpgsqlDbType.TimestampTz });
        return command;
    }

    private static NpgsqlParameter<string?[]> Texts(string?[] values) =>
        new() { TypedValue = values, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text };

    private static NpgsqlParameter<DateTime[]> Times(DateTime[] values) =>
        new() { TypedValue = values, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.TimestampTz };

    private static NpgsqlParameter<DateTime?[]> Times(DateTime?[] values) =>
        new() { TypedValue = values, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.TimestampTz };
}
