using System.ComponentModel.DataAnnotations;

namespace Parley.Server.Data;

public enum DatabaseProvider
{
    Sqlite,
    Postgres,
}

/// <summary>How SQLite makes a commit durable. Full fsyncs the WAL on every commit (group commit keeps that cheap).</summary>
public enum SqliteSynchronous
{
    /// <summary>Survives process crashes; a power loss may drop the last commits. Faster.</summary>
    Normal,

    /// <summary>Survives power loss: every commit is fsynced before the ack. The default.</summary>
    Full,
}

public sealed class DatabaseOptions
{
    public const string Section = "Parley:Database";

    public DatabaseProvider Provider { get; set; } = DatabaseProvider.Sqlite;

    /// <summary>Required for PostgreSQL. For SQLite, defaults to <c>{DataDirectory}/parley.db</c>.</summary>
    public string? ConnectionString { get; set; }

    /// <summary>Where the SQLite file and the key ring live. Relative paths are relative to the working directory.</summary>
    [Required]
    public string DataDirectory { get; set; } = "data";

    public SqliteSynchronous SqliteSynchronous { get; set; } = SqliteSynchronous.Full;

    /// <summary>Apply pending migrations at start. Always on for SQLite; clusters may turn it off and run <c>parley migrate</c>.</summary>
    public bool ApplyMigrations { get; set; } = true;

    public string ResolveDataDirectory() => Path.GetFullPath(DataDirectory);

    public string ResolveConnectionString()
    {
        if (!string.IsNullOrWhiteSpace(ConnectionString))
        {
            return ConnectionString;
        }

        if (Provider == DatabaseProvider.Postgres)
        {
            throw new InvalidOperationException("Parley:Database:ConnectionString is required when Provider is postgres.");
        }

        return $"Data Source={Path.Combine(ResolveDataDirectory(), "parley.db")}";
    }
}
