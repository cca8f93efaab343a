using System.Data.Common;
using System.Globalization;
using System.Text;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace Parley.Server.Data;

/// <summary>
/// The few places where the hot path speaks SQL directly (group commit, replay) differ by provider only in
/// connection creation, row locking and how a Guid is bound. Everything else goes through EF Core.
/// </summary>
internal abstract class SqlDialect
{
    public abstract DbConnection CreateConnection();

    /// <summary>Suffix that row-locks the selected conversation rows (alias <c>c</c>) until commit.</summary>
    protected abstract string LockConversationRows { get; }

    /// <summary>False where one transaction-wide write lock serializes writers (SQLite) and row locks do not exist.</summary>
    public bool LocksRows => LockRows.Length > 0;

    /// <summary>Suffix that row-locks the rows a single-table SELECT returns until commit (routing's assignment core).</summary>
    public abstract string LockRows { get; }

    public abstract object GuidValue(Guid value);

    /// <summary>
    /// A membership test for a WHERE clause (<c>IN (@name0, @name1, …)</c>, or on PostgreSQL <c>= ANY(@name)</c> with
    /// one array parameter, so the statement's text is the same for every batch), binding <paramref name="ids"/> to
    /// <paramref name="command"/>.
    /// </summary>
    public abstract string InList(DbCommand command, string name, IReadOnlyList<Guid> ids);

    public abstract Task InitializeConnectionAsync(DbConnection connection, CancellationToken cancellationToken);

    public static Guid ReadGuid(DbDataReader reader, int ordinal) =>
        reader.GetFieldType(ordinal) == typeof(Guid) ? reader.GetGuid(ordinal) : Guid.Parse(reader.GetString(ordinal));

    public static DateTime ReadUtc(DbDataReader reader, int ordinal) =>
        DateTime.SpecifyKind(reader.GetDateTime(ordinal), DateTimeKind.Utc);

    /// <summary>
    /// Makes <paramref name="command"/> select <paramref name="columns"/> of the conversations <paramref name="ids"/>
    /// (alias <c>c</c>, joined with <paramref name="joins"/>) and lock those conversation rows until commit, in id
    /// order. Every transaction that locks several conversation rows goes through here: on PostgreSQL two
    /// transactions that take the same rows in different orders deadlock (the group commit and the report facts
    /// refresher both do). SQLite adds no row lock; <c>BEGIN IMMEDIATE</c> already holds its one write lock.
    /// </summary>
    public void SelectConversationsForUpdate(DbCommand command, IReadOnlyList<Guid> ids, string columns = "c.\"Id\"", string joins = "")
    {
        command.CommandText = $"SELECT {columns} FROM \"Conversations\" AS c {joins} WHERE c.\"Id\" {InList(command, "@lock", ids)} ORDER BY c.\"Id\"{LockConversationRows}";
    }

    public void Add(DbCommand command, string name, object? value)
    {
        var p = command.CreateParameter();
        p.ParameterName = name;
        p.Value = Bindable(value);
        command.Parameters.Add(p);
    }

    /// <summary>Sets a parameter's value, adding the parameter the first time (a command reused row after row).</summary>
    public void Set(DbCommand command, string name, object? value)
    {
        var index = command.Parameters.IndexOf(name);
        if (index < 0)
        {
            Add(command, name, value);
            return;
        }

        command.Parameters[index].Value = Bindable(value);
    }

    private object Bindable(object? value) => value switch
    {
        null => DBNull.Value,
        Guid g => GuidValue(g),
        _ => value,
    };
}

internal sealed class SqliteDialect(string connectionString, SqliteSynchronous synchronous) : SqlDialect
{
    protected override string LockConversationRows => ""; // SQLite: BEGIN IMMEDIATE already holds the single write lock.

    public override string LockRows => "";

    public override string InList(DbCommand command, string name, IReadOnlyList<Guid> ids)
    {
        var sql = new StringBuilder("IN (");
        for (var i = 0; i < ids.Count; i++)
        {
            var parameter = name + i.ToString(CultureInfo.InvariantCulture);
            sql.Append(i == 0 ? "" : ", ").Append(parameter);
            Add(command, parameter, ids[i]);
        }

        return sql.Append(')').ToString();
    }

    // EF Core stores Guid as upper-case TEXT on SQLite; raw ADO.NET would bind a BLOB.
    public override object GuidValue(Guid value) => string.Create(36, value, static (span, g) =>
    {
        g.TryFormat(span, out _, "D");
        for (var i = 0; i < span.Length; i++)
        {
            span[i] = char.ToUpperInvariant(span[i]);
        }
    });

    public override DbConnection CreateConnection() => new SqliteConnection(connectionString);

    public override async Task InitializeConnectionAsync(DbConnection connection, CancellationToken cancellationToken)
    {
        await using var cmd = connection.CreateCommand();
        cmd.CommandText = Pragmas(synchronous);
        await cmd.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>
    /// Every connection's settings. <c>busy_timeout</c> lets SQLite itself wait for another connection's write lock,
    /// retrying within a millisecond or two; without it Microsoft.Data.Sqlite retries a busy statement only after
    /// sleeping 150 ms, and every group commit that met a background writer's short transaction (an intent, a lease,
    /// the search indexer) stalled that long — agents' replies waited 150–600 ms under load (docs/benchmarks.md).
    /// </summary>
    public static string Pragmas(SqliteSynchronous synchronous) =>
        $"PRAGMA synchronous={(synchronous == SqliteSynchronous.Full ? "FULL" : "NORMAL")}; PRAGMA foreign_keys=ON; PRAGMA busy_timeout={BusyTimeoutMilliseconds};";

    public const int BusyTimeoutMilliseconds = 10_000;
}

internal sealed class PostgresDialect(NpgsqlDataSource dataSource) : SqlDialect
{
    // Serializes writers of the same conversation across nodes; the ORDER BY before it keeps the lock order stable.
    protected override string LockConversationRows => ConversationRowLock;

    /// <summary>The lock clause of <see cref="SqlDialect.SelectConversationsForUpdate"/> (the group commit's fixed text has it too).</summary>
    public const string ConversationRowLock = " FOR UPDATE OF c";

    public override string LockRows => " FOR UPDATE";

    public override string InList(DbCommand command, string name, IReadOnlyList<Guid> ids)
    {
        command.Parameters.Add(new NpgsqlParameter<Guid[]>(name, ids as Guid[] ?? [.. ids]));
        return $"= ANY({name})";
    }

    public override object GuidValue(Guid value) => value;

    public override DbConnection CreateConnection() => dataSource.CreateConnection();

    public override Task InitializeConnectionAsync(DbConnection connection, CancellationToken cancellationToken) => Task.CompletedTask;
}
