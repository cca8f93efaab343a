using Npgsql;

namespace Parley.Tests.Infrastructure;

public enum Store
{
    Sqlite,
    Postgres,
}

/// <summary>
/// A fresh, isolated store for one test: a SQLite file in a temp folder, or a new PostgreSQL database on the
/// server named by PARLEY_TEST_POSTGRES. PostgreSQL tests skip locally when it is not set, and fail under CI.
/// </summary>
public sealed class TestStorage : IAsyncDisposable
{
    private readonly string? _adminConnectionString;
    private readonly string? _database;

    private TestStorage(Store store, string dataDirectory, string? connectionString, string? adminConnectionString, string? database)
    {
        Store = store;
        DataDirectory = dataDirectory;
        ConnectionString = connectionString;
        _adminConnectionString = adminConnectionString;
        _database = database;
    }

    public Store Store { get; }

    public string DataDirectory { get; }

    public string? ConnectionString { get; }

    public static string? PostgresAdminConnectionString()
    {
        var cs = Environment.GetEnvironmentVariable("PARLEY_TEST_POSTGRES");
        if (string.IsNullOrWhiteSpace(cs))
        {
            if (string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase))
            {
                throw new InvalidOperationException("PARLEY_TEST_POSTGRES must be set under CI: PostgreSQL tests may not be skipped.");
            }

            return null;
        }

        return cs;
    }

    public static async Task<TestStorage> CreateAsync(Store store)
    {
        var dir = Path.Combine(Path.GetTempPath(), "parley-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        if (store == Store.Sqlite)
        {
            return new TestStorage(store, dir, null, null, null);
        }

        var admin = PostgresAdminConnectionString();
        if (admin is null)
        {
            Assert.Skip("PostgreSQL not configured (set PARLEY_TEST_POSTGRES); skipped outside CI.");
        }

        var database = "parley_t_" + Guid.NewGuid().ToString("N")[..16];
        await using (var conn = new NpgsqlConnection(admin))
        {
            await conn.OpenAsync();
            await using var cmd = new NpgsqlCommand($"CREATE DATABASE \"{database}\"", conn);
            await cmd.ExecuteNonQueryAsync();
        }

        var builder = new NpgsqlConnectionStringBuilder(admin) { Database = database };
        return new TestStorage(store, dir, builder.ConnectionString, admin, database);
    }

    public Dictionary<string, string?> Settings() => new()
    {
        ["Parley:Database:Provider"] = Store == Store.Postgres ? "postgres" : "sqlite",
        ["Parley:Database:ConnectionString"] = ConnectionString,
        ["Parley:Database:DataDirectory"] = DataDirectory,
    };

    public async ValueTask DisposeAsync()
    {
        if (_adminConnectionString is not null && _database is not null)
        {
            NpgsqlConnection.ClearAllPools();
            await using var conn = new NpgsqlConnection(_adminConnectionString);
            await conn.OpenAsync();
            await using var cmd = new NpgsqlCommand($"DROP DATABASE IF EXISTS \"{_database}\" WITH (FORCE)", conn);
            await cmd.ExecuteNonQueryAsync();
        }

        try
        {
            Directory.Delete(DataDirectory, recursive: true);
        }
        catch (IOException)
        {
            // A file still held open by a stopping server; the temp folder is cleaned by the OS eventually.
        }
    }
}
