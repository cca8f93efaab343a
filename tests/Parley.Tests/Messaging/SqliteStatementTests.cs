using Microsoft.Data.Sqlite;
using Parley.Server.Data;

namespace Parley.Tests.Messaging;

/// <summary>
/// The group commit writes SQLite rows through <see cref="SqliteStatement"/>, beside EF Core and Microsoft.Data.Sqlite
/// which write the same tables. Every value must be stored exactly as they store it: SQLite compares and sorts text,
/// so a time written with another format (or a lower-case Guid) would miss range queries and equality look-ups.
/// </summary>
public sealed class SqliteStatementTests : IDisposable
{
    private readonly SqliteConnection _connection = new("Data Source=:memory:");

    public SqliteStatementTests()
    {
        _connection.Open();
        using var create = _connection.CreateCommand();
        create.CommandText = "CREATE TABLE t (k INTEGER PRIMARY KEY, g, d, s, n, b)";
        create.ExecuteNonQuery();
    }

    public static TheoryData<string, long> Values => new()
    {
        { "2026-12-06 22:41:21.1234567 / 你好 👋 / upper guid", 1 },
        { "no fraction, empty text", 2 },
        { "fraction with trailing zeros, nulls", 3 },
        { "an unpaired surrogate, a long text", 4 },
    };

    private static (Guid? G, DateTime? D, string? S, long? N, bool B) Row(long k) => k switch
    {
        1 => (Guid.Parse("0f8fad5b-d9cb-469f-a165-70867728950e"), new DateTime(2026, 12, 6, 22, 41, 21, DateTimeKind.Utc).AddTicks(1234567), "你好 👋 <b>&amp;", long.MaxValue, true),
        2 => (Guid.Parse("7c9e6679-7425-40de-944b-e07fc1f90ae7"), new DateTime(2026, 1, 2, 3, 4, 5, DateTimeKind.Utc), "", -1, false),
        3 => (null, new DateTime(2026, 3, 29, 1, 0, 0, DateTimeKind.Utc).AddTicks(1200000), null, null, false),
        _ => (Guid.Parse("a8098c1a-f86e-11da-bd1a-00112444be1e"), new DateTime(2026, 3, 29, 1, 0, 0, DateTimeKind.Utc).AddTicks(10), "a\ud800b" + new string('退', 3000), 0, true),
    };

    private static void BindRow(SqliteStatement statement, long k)
    {
        var (g, d, s, n, b) = Row(k);
        statement.Bind(1, k);
        statement.Bind(2, g);
        statement.Bind(3, d);
        statement.Bind(4, s);
        statement.Bind(5, n);
        statement.Bind(6, b);
    }

    [Theory]
    [MemberData(nameof(Values))]
    public void StoresEachValueAsMicrosoftDataSqliteDoes(string what, long k)
    {
        var (g, d, s, n, b) = Row(k);

        // The reference: the same values bound as SqliteParameters (what EF Core does), into another key.
        using (var reference = _connection.CreateCommand())
        {
            reference.CommandText = "INSERT INTO t VALUES (@k, @g, @d, @s, @n, @b)";
            reference.Parameters.AddWithValue("@k", -k);
            reference.Parameters.AddWithValue("@g", g is { } guid ? guid.ToString().ToUpperInvariant() : DBNull.Value);
            reference.Parameters.AddWithValue("@d", (object?)d ?? DBNull.Value);
            reference.Parameters.AddWithValue("@s", (object?)s ?? DBNull.Value);
            reference.Parameters.AddWithValue("@n", (object?)n ?? DBNull.Value);
            reference.Parameters.AddWithValue("@b", b);
            reference.ExecuteNonQuery();
        }

        using (var statement = SqliteStatement.Prepare(_connection, "INSERT INTO t VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING k"))
        {
            BindRow(statement, k);
            Assert.Equal(k, statement.ExecuteInt64());
        }

        using var compare = _connection.CreateCommand();
        compare.CommandText = """
            SELECT typeof(a.g) = typeof(r.g) AND a.g IS r.g, typeof(a.d) = typeof(r.d) AND a.d IS r.d,
                   typeof(a.s) = typeof(r.s) AND a.s IS r.s, typeof(a.n) = typeof(r.n) AND a.n IS r.n,
                   typeof(a.b) = typeof(r.b) AND a.b IS r.b, a.d
            FROM t AS a, t AS r WHERE a.k = @k AND r.k = -@k
            """;
        compare.Parameters.AddWithValue("@k", k);
        using var reader = compare.ExecuteReader();
        Assert.True(reader.Read(), what);
        Assert.True(reader.GetBoolean(0), $"{what}: Guid stored as {reader.GetValue(5)}");
        Assert.True(reader.GetBoolean(1), $"{what}: time stored as {reader.GetValue(5)}");
        Assert.True(reader.GetBoolean(2), $"{what}: text");
        Assert.True(reader.GetBoolean(3), $"{what}: integer");
        Assert.True(reader.GetBoolean(4), $"{what}: bool");
    }

    [Theory]
    [MemberData(nameof(Values))]
    public void ReadsBackWhatItStored(string what, long k)
    {
        var (g, d, s, n, b) = Row(k);
        using (var insert = SqliteStatement.Prepare(_connection, "INSERT INTO t VALUES (?1, ?2, ?3, ?4, ?5, ?6)"))
        {
            BindRow(insert, k);
            insert.Execute();
        }

        using var read = SqliteStatement.Prepare(_connection, "SELECT g, d, s, n, b FROM t WHERE k = ?1");
        read.Bind(1, k);
        Assert.True(read.Step(), what);
        Assert.Equal(g, read.IsNull(0) ? null : read.Guid(0));
        Assert.Equal(d, read.Utc(1));
        Assert.Equal(DateTimeKind.Utc, read.Utc(1).Kind);
        // Text goes through UTF-8, as with Microsoft.Data.Sqlite: an unpaired surrogate comes back as U+FFFD.
        Assert.Equal(s is null ? null : System.Text.Encoding.UTF8.GetString(System.Text.Encoding.UTF8.GetBytes(s)), read.IsNull(2) ? null : read.String(2));
        Assert.Equal(n, read.IsNull(3) ? null : read.Int64(3));
        Assert.Equal(b, read.Boolean(4));
        Assert.False(read.Step());
        read.Reset();
    }

    [Fact]
    public void AFailedRun_ThrowsSqlitesError_AndTheStatementRunsAgain()
    {
        using var insert = SqliteStatement.Prepare(_connection, "INSERT INTO t (k, s) VALUES (?1, ?2)");
        insert.Bind(1, 10L);
        insert.Bind(2, "first");
        insert.Execute();

        insert.Bind(1, 10L);
        insert.Bind(2, "duplicate key");
        var error = Assert.Throws<SqliteException>(insert.Execute);
        Assert.Equal(19, error.SqliteErrorCode); // SQLITE_CONSTRAINT

        insert.Bind(1, 11L);
        insert.Bind(2, "after the error");
        insert.Execute();
        using var count = _connection.CreateCommand();
        count.CommandText = "SELECT group_concat(s, '|') FROM (SELECT s FROM t WHERE k IN (10, 11) ORDER BY k)";
        Assert.Equal("first|after the error", count.ExecuteScalar());
    }

    [Fact]
    public void Rows_ResetTheStatement_WhenTheLoopEndsEarly()
    {
        using (var insert = SqliteStatement.Prepare(_connection, "INSERT INTO t (k, s) VALUES (?1, ?2)"))
        {
            foreach (var k in new long[] { 20, 21, 22 })
            {
                insert.Bind(1, k);
                insert.Bind(2, "row " + k);
                insert.Execute();
            }
        }

        using var read = SqliteStatement.Prepare(_connection, "SELECT s FROM t WHERE k >= ?1 ORDER BY k");
        read.Bind(1, 20L);
        foreach (var row in read.Rows())
        {
            Assert.Equal("row 20", row.String(0));
            break;
        }

        // Reset: the next run starts from its own first row (an unreset statement would go on at "row 21").
        read.Bind(1, 21L);
        var seen = new List<string>();
        foreach (var row in read.Rows())
        {
            seen.Add(row.String(0));
        }

        Assert.Equal(["row 21", "row 22"], seen);
    }

    [Fact]
    public void MoreThanOneStatement_IsRefused()
    {
        Assert.Throws<ArgumentException>(() => SqliteStatement.Prepare(_connection, "SELECT 1; SELECT 2"));
        Assert.Throws<SqliteException>(() => SqliteStatement.Prepare(_connection, "SELECT * FROM missing"));
    }

    public void Dispose() => _connection.Dispose();
}
