using System.Data.Common;
using Parley.Data;
using Parley.Server.Data;

namespace Parley.Server.Routing;

public enum AssignMode
{
    /// <summary>Routing: the conversation must be unassigned and not offered to someone else.</summary>
    Route,

    /// <summary>An agent takes a waiting conversation from the pool: same conditions as routing.</summary>
    Pick,

    /// <summary>A person assigns or transfers: any open conversation, whoever holds it now.</summary>
    Transfer,

    /// <summary>The agent accepts an offer made to them that has not expired.</summary>
    Accept,

    /// <summary>Reserve the conversation for the agent until the offer expires (counts against capacity).</summary>
    Offer,
}

public enum AssignOutcome
{
    Assigned,
    Offered,

    /// <summary>Already assigned to that agent; nothing changed.</summary>
    Unchanged,

    /// <summary>Someone else got it first, it was closed, or the offer is gone.</summary>
    Taken,

    AtCapacity,
    AgentUnavailable,
    NotFound,
}

public sealed record AssignResult(AssignOutcome Outcome, Guid? PreviousAssigneeId = null, Guid? TeamId = null);

/// <summary>
/// The one place that gives a conversation to an agent. Every path (routing on any node, offers, pool picks, REST
/// and hub transfers) goes through it, so two invariants hold however many nodes race:
/// a conversation is handed out once, and an agent never holds more than their capacity.
/// <para>
/// How (docs/routing.md, "Correctness across nodes"): one short transaction per attempt. It first locks the
/// agent's <c>Users</c> row (PostgreSQL <c>SELECT ... FOR UPDATE</c>; SQLite's <c>BEGIN IMMEDIATE</c> already
/// serializes every writer), so all attempts for one agent run one after another and each counts the load the
/// previous one committed (READ COMMITTED takes a new snapshot per statement). It then locks the conversation row
/// and re-checks its state before the update, so of two nodes assigning the same conversation the second sees
/// the first one's assignee and backs off. Lock order is always user, then conversation: no deadlocks.
/// </para>
/// </summary>
internal sealed class AssignmentStore(SqlDialect dialect, TimeProvider time)
{
    public async Task<AssignResult> AssignAsync(Guid conversationId, Guid agentId, AssignMode mode, TimeSpan offerTimeout = default, CancellationToken cancellationToken = default)
    {
        await using var connection = dialect.CreateConnection();
        await connection.OpenAsync(cancellationToken);
        await dialect.InitializeConnectionAsync(connection, cancellationToken);
        await using var tx = await connection.BeginTransactionAsync(cancellationToken);
        var now = Now();

        int capacity;
        await using (var cmd = Command(connection, tx, $"SELECT \"Capacity\", \"IsActive\" FROM \"Users\" WHERE \"Id\" = @a{dialect.LockRows}"))
        {
            dialect.Add(cmd, "a", agentId);
            await using var reader = await cmd.ExecuteReaderAsync(cancellationToken);
            if (!await reader.ReadAsync(cancellationToken) || !reader.GetBoolean(1))
            {
                return new AssignResult(AssignOutcome.AgentUnavailable);
            }

            capacity = reader.GetInt32(0);
        }

        ConversationStateRow row;
        await using (var cmd = Command(connection, tx,
            $"SELECT \"Status\", \"AssigneeId\", \"OfferedToId\", \"OfferExpiresAt\", \"TeamId\" FROM \"Conversations\" WHERE \"Id\" = @c{dialect.LockRows}"))
        {
            dialect.Add(cmd, "c", conversationId);
            await using var reader = await cmd.ExecuteReaderAsync(cancellationToken);
            if (!await reader.ReadAsync(cancellationToken))
            {
                return new AssignResult(AssignOutcome.NotFound);
            }

            row = new ConversationStateRow(
                (ConversationStatus)reader.GetInt32(0),
                reader.IsDBNull(1) ? null : SqlDialect.ReadGuid(reader, 1),
                reader.IsDBNull(2) ? null : SqlDialect.ReadGuid(reader, 2),
                reader.IsDBNull(3) ? null : SqlDialect.ReadUtc(reader, 3),
                reader.IsDBNull(4) ? null : SqlDialect.ReadGuid(reader, 4));
        }

        if (row.Status == ConversationStatus.Closed)
        {
            return new AssignResult(AssignOutcome.Taken, row.AssigneeId, row.TeamId);
        }

        if (row.AssigneeId == agentId)
        {
            return new AssignResult(AssignOutcome.Unchanged, row.AssigneeId, row.TeamId);
        }

        var offeredToOther = row.OfferedToId is { } offered && offered != agentId;
        var eligible = mode switch
        {
            AssignMode.Route or AssignMode.Pick => row.AssigneeId is null && !offeredToOther,
            AssignMode.Offer => row.AssigneeId is null && row.OfferedToId is null,
            AssignMode.Accept => row.AssigneeId is null && row.OfferedToId == agentId && row.OfferExpiresAt > now,
            AssignMode.Transfer => true,
            _ => false,
        };
        if (!eligible)
        {
            return new AssignResult(AssignOutcome.Taken, row.AssigneeId, row.TeamId);
        }

        // The agent's load: what they hold plus what is offered to them, not counting this conversation.
        await using (var cmd = Command(connection, tx,
            "SELECT COUNT(*) FROM \"Conversations\" WHERE \"Status\" <> 2 AND \"Id\" <> @c AND (\"AssigneeId\" = @a OR \"OfferedToId\" = @a)"))
        {
            dialect.Add(cmd, "a", agentId);
            dialect.Add(cmd, "c", conversationId);
            var load = Convert.ToInt32(await cmd.ExecuteScalarAsync(cancellationToken), System.Globalization.CultureInfo.InvariantCulture);
            if (load >= capacity)
            {
                return new AssignResult(AssignOutcome.AtCapacity, row.AssigneeId, row.TeamId);
            }
        }

        await using (var cmd = Command(connection, tx, mode == AssignMode.Offer
            ? "UPDATE \"Conversations\" SET \"OfferedToId\" = @a, \"OfferExpiresAt\" = @e, \"UpdatedAt\" = @now WHERE \"Id\" = @c"
            : "UPDATE \"Conversations\" SET \"AssigneeId\" = @a, \"AssignedAt\" = @now, \"OfferedToId\" = NULL, \"OfferExpiresAt\" = NULL, " +
              "\"QueuedAt\" = NULL, \"DeclinedBy\" = NULL, \"UpdatedAt\" = @now WHERE \"Id\" = @c"))
        {
            dialect.Add(cmd, "a", agentId);
            dialect.Add(cmd, "c", conversationId);
            dialect.Add(cmd, "now", now);
            dialect.Add(cmd, "e", now + offerTimeout);
            await cmd.ExecuteNonQueryAsync(cancellationToken);
        }

        if (row.TeamId is { } team && mode != AssignMode.Transfer)
        {
            // The round-robin cursor lives in the database, so every node continues the same rotation.
            await using var cmd = Command(connection, tx, "UPDATE \"TeamMembers\" SET \"LastAssignedAt\" = @now WHERE \"TeamId\" = @t AND \"UserId\" = @a");
            dialect.Add(cmd, "t", team);
            dialect.Add(cmd, "a", agentId);
            dialect.Add(cmd, "now", now);
            await cmd.ExecuteNonQueryAsync(cancellationToken);
        }

        await tx.CommitAsync(cancellationToken);
        return new AssignResult(mode == AssignMode.Offer ? AssignOutcome.Offered : AssignOutcome.Assigned, row.AssigneeId, row.TeamId);
    }

    /// <summary>
    /// Withdraws an open offer made to <paramref name="agentId"/> (declined, expired, agent gone). The agent is
    /// remembered so routing offers the conversation to someone else next. False when the offer was no longer open.
    /// </summary>
    public async Task<bool> ReleaseOfferAsync(Guid conversationId, Guid agentId, CancellationToken cancellationToken = default)
    {
        await using var connection = dialect.CreateConnection();
        await connection.OpenAsync(cancellationToken);
        await dialect.InitializeConnectionAsync(connection, cancellationToken);
        await using var tx = await connection.BeginTransactionAsync(cancellationToken);
        string? declined;
        await using (var cmd = Command(connection, tx,
            $"SELECT \"DeclinedBy\" FROM \"Conversations\" WHERE \"Id\" = @c AND \"OfferedToId\" = @a AND \"AssigneeId\" IS NULL{dialect.LockRows}"))
        {
            dialect.Add(cmd, "c", conversationId);
            dialect.Add(cmd, "a", agentId);
            await using var reader = await cmd.ExecuteReaderAsync(cancellationToken);
            if (!await reader.ReadAsync(cancellationToken))
            {
                return false;
            }

            declined = reader.IsDBNull(0) ? null : reader.GetString(0);
        }

        await using (var cmd = Command(connection, tx,
            "UPDATE \"Conversations\" SET \"OfferedToId\" = NULL, \"OfferExpiresAt\" = NULL, \"DeclinedBy\" = @d, \"UpdatedAt\" = @now WHERE \"Id\" = @c"))
        {
            dialect.Add(cmd, "c", conversationId);
            dialect.Add(cmd, "d", AddDeclined(declined, agentId));
            dialect.Add(cmd, "now", Now());
            await cmd.ExecuteNonQueryAsync(cancellationToken);
        }

        await tx.CommitAsync(cancellationToken);
        return true;
    }

    /// <summary>
    /// Takes an open conversation away from <paramref name="fromAgentId"/> (or whoever holds it, when null) and puts it
    /// back in the queue at its original arrival. False when it was closed or held by someone else.
    /// </summary>
    public async Task<bool> RequeueAsync(Guid conversationId, Guid? fromAgentId, CancellationToken cancellationToken = default)
    {
        await using var connection = dialect.CreateConnection();
        await connection.OpenAsync(cancellationToken);
        await dialect.InitializeConnectionAsync(connection, cancellationToken);
        await using var cmd = connection.CreateCommand();
        cmd.CommandText = "UPDATE \"Conversations\" SET \"AssigneeId\" = NULL, \"AssignedAt\" = NULL, \"OfferedToId\" = NULL, \"OfferExpiresAt\" = NULL, " +
            "\"QueuedAt\" = \"CreatedAt\", \"RoutedAt\" = @now, \"UpdatedAt\" = @now WHERE \"Id\" = @c AND \"Status\" <> 2 AND \"AssigneeId\" IS NOT NULL" +
            (fromAgentId is null ? "" : " AND \"AssigneeId\" = @a");
        dialect.Add(cmd, "c", conversationId);
        dialect.Add(cmd, "now", Now());
        if (fromAgentId is { } a)
        {
            dialect.Add(cmd, "a", a);
        }

        return await cmd.ExecuteNonQueryAsync(cancellationToken) == 1;
    }

    public static bool HasDeclined(string? declinedBy, Guid agentId) =>
        declinedBy is not null && declinedBy.Contains(agentId.ToString("N"), StringComparison.Ordinal);

    private static string AddDeclined(string? declinedBy, Guid agentId)
    {
        if (HasDeclined(declinedBy, agentId))
        {
            return declinedBy!;
        }

        // Bounded: the oldest refusals fall off, so a conversation refused by everyone is eventually offered again.
        var ids = (declinedBy ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries).Append(agentId.ToString("N")).TakeLast(60);
        return string.Join(' ', ids);
    }

    private DateTime Now()
    {
        // Microsecond precision, as PostgreSQL stores it.
        var now = time.GetUtcNow().UtcDateTime;
        return now.AddTicks(-(now.Ticks % TimeSpan.TicksPerMicrosecond));
    }

    private static DbCommand Command(DbConnection connection, DbTransaction tx, string sql)
    {
        var cmd = connection.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = sql;
        return cmd;
    }

    private readonly record struct ConversationStateRow(ConversationStatus Status, Guid? AssigneeId, Guid? OfferedToId, DateTime? OfferExpiresAt, Guid? TeamId);
}
