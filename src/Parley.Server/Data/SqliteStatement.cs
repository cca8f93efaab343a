using System.Buffers;
using System.Data.Common;
using System.Globalization;
using System.Text;
using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace Parley.Server.Data;

/// <summary>
/// The columns of one result row, read by ordinal, whatever runs the statement: an ADO.NET reader (<see cref="DbRow"/>)
/// or a <see cref="SqliteStatement"/>. One mapping of a row serves both stores' write paths.
/// </summary>
internal interface IRow
{
    bool IsNull(int ordinal);

    long Int64(int ordinal);

    int Int32(int ordinal);

    bool Boolean(int ordinal);

    Guid Guid(int ordinal);

    string String(int ordinal);

    /// <summary>A UTC time, as the stores keep them (PostgreSQL <c>timestamptz</c>; SQLite EF Core's text).</summary>
    DateTime Utc(int ordinal);
}

/// <summary>A row of an ADO.NET reader.</summary>
internal readonly struct DbRow(DbDataReader reader) : IRow
{
    public bool IsNull(int ordinal) => reader.IsDBNull(ordinal);

    public long Int64(int ordinal) => reader.GetInt64(ordinal);

    public int Int32(int ordinal) => reader.GetInt32(ordinal);

    public bool Boolean(int ordinal) => reader.GetBoolean(ordinal);

    public Guid Guid(int ordinal) => SqlDialect.ReadGuid(reader, ordinal);

    public string String(int ordinal) => reader.GetString(ordinal);

    public DateTime Utc(int ordinal) => SqlDialect.ReadUtc(reader, ordinal);
}

/// <summary>
/// A SQLite statement prepared once on an open <see cref="SqliteConnection"/>'s handle and run again and again, with
/// its values bound straight into SQLite: no parameter objects, no boxing, no UTF-8 copy of each string on the heap,
/// no reader object per run. Microsoft.Data.Sqlite allocates all of those per execution; on the group commit, which
/// runs a few statements per message, they were a third of what a stored message allocated (docs/benchmarks.md).
/// It runs inside whatever transaction the connection has open (SQLite's transactions belong to the connection).
/// <para>
/// Values are written in the formats EF Core's SQLite provider writes and reads, so rows written here and by EF
/// compare and sort alike: text as UTF-8, a Guid as upper-case text, a time as <c>yyyy-MM-dd HH:mm:ss.FFFFFFF</c> text, a bool as
/// 0 or 1. Parameters are bound by their 1-based position in the SQL text.
/// </para>
/// Not thread-safe, like the connection it belongs to; dispose it before the connection.
/// </summary>
internal sealed class SqliteStatement : IRow, IDisposable
{
    /// <summary>Microsoft.Data.Sqlite's (and so EF Core's) text form of a DateTime.</summary>
    public const string TimeFormat = @"yyyy\-MM\-dd HH\:mm\:ss.FFFFFFF";

    private const uint PreparePersistent = 0x01; // SQLITE_PREPARE_PERSISTENT: kept for many runs

    private readonly sqlite3 _db;
    private readonly sqlite3_stmt _stmt;

    private SqliteStatement(sqlite3 db, sqlite3_stmt stmt)
    {
        _db = db;
        _stmt = stmt;
    }

    public static SqliteStatement Prepare(SqliteConnection connection, string sql)
    {
        var db = connection.Handle ?? throw new InvalidOperationException("The connection is not open.");
        var rc = raw.sqlite3_prepare_v3(db, sql, PreparePersistent, out var stmt, out var tail);
        SqliteException.ThrowExceptionForRC(rc, db);
        if (!string.IsNullOrWhiteSpace(tail))
        {
            stmt.Dispose();
            throw new ArgumentException("One statement only: " + tail, nameof(sql));
        }

        return new SqliteStatement(db, stmt);
    }

    public void Bind(int index, long value) => Check(raw.sqlite3_bind_int64(_stmt, index, value));

    public void Bind(int index, long? value) => Check(value is { } v ? raw.sqlite3_bind_int64(_stmt, index, v) : raw.sqlite3_bind_null(_stmt, index));

    public void Bind(int index, int value) => Bind(index, (long)value);

    public void Bind(int index, int? value) => Bind(index, (long?)value);

    public void Bind(int index, bool value) => Bind(index, value ? 1L : 0L);

    public void Bind(int index, Guid value)
    {
        Span<byte> text = stackalloc byte[36];
        value.TryFormat(text, out _, "D");
        for (var i = 0; i < text.Length; i++)
        {
            if (text[i] is >= (byte)'a' and <= (byte)'f')
            {
                text[i] -= 'a' - 'A';
            }
        }

        Check(raw.sqlite3_bind_text(_stmt, index, text));
    }

    public void Bind(int index, Guid? value)
    {
        if (value is { } v)
        {
            Bind(index, v);
        }
        else
        {
            Check(raw.sqlite3_bind_null(_stmt, index));
        }
    }

    public void Bind(int index, string? value)
    {
        if (value is null)
        {
            Check(raw.sqlite3_bind_null(_stmt, index));
        }
        else
        {
            Bind(index, value.AsSpan());
        }
    }

    /// <summary>
    /// Text, encoded to UTF-8 here as Microsoft.Data.Sqlite encodes it (so an unpaired surrogate becomes U+FFFD alike),
    /// on the stack or in a pooled buffer; SQLite copies it.
    /// </summary>
    public void Bind(int index, ReadOnlySpan<char> value)
    {
        byte[]? rented = null;
        var max = Encoding.UTF8.GetMaxByteCount(value.Length);
        var buffer = max <= 1024 ? stackalloc byte[1024] : (rented = ArrayPool<byte>.Shared.Rent(max));
        try
        {
            var length = Encoding.UTF8.GetBytes(value, buffer);
            Check(raw.sqlite3_bind_text(_stmt, index, buffer[..length]));
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }

    /// <summary>UTF-8 text already encoded (a payload serialised to bytes).</summary>
    public void BindUtf8(int index, ReadOnlySpan<byte> value) => Check(raw.sqlite3_bind_text(_stmt, index, value));

    public void Bind(int index, DateTime? value)
    {
        if (value is not { } v)
        {
            Check(raw.sqlite3_bind_null(_stmt, index));
            return;
        }

        Span<byte> text = stackalloc byte[32];
        v.TryFormat(text, out var written, TimeFormat, CultureInfo.InvariantCulture);
        Check(raw.sqlite3_bind_text(_stmt, index, text[..written]));
    }

    /// <summary>Runs the statement to its next row: true with a row to read, false when it is done.</summary>
    public bool Step()
    {
        var rc = raw.sqlite3_step(_stmt);
        if (rc == raw.SQLITE_ROW)
        {
            return true;
        }

        if (rc == raw.SQLITE_DONE)
        {
            return false;
        }

        Reset();
        SqliteException.ThrowExceptionForRC(rc, _db);
        return false;
    }

    /// <summary>Readies the statement for its next run; the bound values are cleared.</summary>
    public void Reset()
    {
        raw.sqlite3_reset(_stmt);
        raw.sqlite3_clear_bindings(_stmt);
    }

    /// <summary>
    /// The statement's rows, run from its bound values: <c>foreach (var row in statement.Rows())</c> reads each row's
    /// columns from <c>row</c> (the statement itself), and the statement is reset when the loop ends, however it ends.
    /// </summary>
    public RowEnumerator Rows() => new(this);

    /// <summary>Steps through the rows without allocating; resets the statement when disposed.</summary>
    public struct RowEnumerator(SqliteStatement statement) : IDisposable
    {
        public readonly SqliteStatement Current => statement;

        public readonly RowEnumerator GetEnumerator() => this;

        public readonly bool MoveNext() => statement.Step();

        public readonly void Dispose() => statement.Reset();
    }

    /// <summary>Runs a statement that returns no rows (or whose rows are not wanted) and resets it.</summary>
    public void Execute()
    {
        try
        {
            while (Step())
            {
            }
        }
        finally
        {
            Reset();
        }
    }

    /// <summary>Runs a statement whose first row's first column is an integer (<c>RETURNING "Id"</c>) and resets it.</summary>
    public long ExecuteInt64()
    {
        try
        {
            return Step() ? Int64(0) : throw new InvalidOperationException("The statement returned no row.");
        }
        finally
        {
            Reset();
        }
    }

    public bool IsNull(int ordinal) => raw.sqlite3_column_type(_stmt, ordinal) == raw.SQLITE_NULL;

    public long Int64(int ordinal) => raw.sqlite3_column_int64(_stmt, ordinal);

    public int Int32(int ordinal) => raw.sqlite3_column_int(_stmt, ordinal);

    public bool Boolean(int ordinal) => raw.sqlite3_column_int64(_stmt, ordinal) != 0;

    public Guid Guid(int ordinal)
    {
        // A TEXT column's bytes as stored (UTF-8), read without a string; a 16-byte BLOB is the binary form.
        var bytes = raw.sqlite3_column_blob(_stmt, ordinal);
        return bytes.Length == 16 ? new Guid(bytes) : System.Guid.Parse(bytes);
    }

    public string String(int ordinal) => raw.sqlite3_column_text(_stmt, ordinal).utf8_to_string();

    /// <summary>A text column's UTF-8 bytes as stored, valid until the next <see cref="Step"/> or <see cref="Reset"/>.</summary>
    public ReadOnlySpan<byte> Utf8(int ordinal) => raw.sqlite3_column_blob(_stmt, ordinal);

    public DateTime Utc(int ordinal)
    {
        var bytes = raw.sqlite3_column_blob(_stmt, ordinal);
        Span<char> text = stackalloc char[64];
        var length = Encoding.UTF8.GetChars(bytes[..Math.Min(bytes.Length, 64)], text);
        return DateTime.SpecifyKind(DateTime.Parse(text[..length], CultureInfo.InvariantCulture), DateTimeKind.Utc);
    }

    public void Dispose() => _stmt.Dispose();

    private void Check(int rc) => SqliteException.ThrowExceptionForRC(rc, _db);
}
