using System.Data.Common;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.Extensions.Options;
using Npgsql;
using Parley.Data;

namespace Parley.Server.Data;

internal static class DataSetup
{
    public static IServiceCollection AddParleyData(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<DatabaseOptions>().BindConfiguration(DatabaseOptions.Section).ValidateDataAnnotations().ValidateOnStart();

        // Read eagerly: the provider decides which services exist at all.
        var options = configuration.GetSection(DatabaseOptions.Section).Get<DatabaseOptions>() ?? new DatabaseOptions();
        var connectionString = options.ResolveConnectionString();

        if (options.Provider == DatabaseProvider.Postgres)
        {
            services.AddSingleton(_ => new NpgsqlDataSourceBuilder(connectionString).Build());
            services.AddSingleton<SqlDialect>(sp => new PostgresDialect(sp.GetRequiredService<NpgsqlDataSource>()));
            services.AddDbContextPool<ParleyDbContext>((sp, db) => db.UseNpgsql(
                sp.GetRequiredService<NpgsqlDataSource>(),
                x => x.MigrationsAssembly("Parley.Migrations.Postgres")).AddInterceptors(TextInputCheck));
        }
        else
        {
            Directory.CreateDirectory(options.ResolveDataDirectory());
            var interceptor = new SqlitePragmaInterceptor(options.SqliteSynchronous);
            services.AddSingleton<SqlDialect>(new SqliteDialect(connectionString, options.SqliteSynchronous));
            services.AddDbContextPool<ParleyDbContext>(db => db
                .UseSqlite(connectionString, x => x.MigrationsAssembly("Parley.Migrations.Sqlite"))
                // SQLite cannot alter a column, so EF rebuilds the table between "PRAGMA foreign_keys = 0/1", which
                // cannot run inside a transaction and is warned about on every first start. The initializer backs
                // the file up before it applies migrations to an existing database, which is the remedy the
                // warning asks for; the note stays visible at Debug.
                .ConfigureWarnings(w => w.Log((RelationalEventId.NonTransactionalMigrationOperationWarning, LogLevel.Debug)))
                .AddInterceptors(interceptor, TextInputCheck));
        }

        services.AddHostedService<DatabaseInitializer>();
        services.AddHealthChecks().AddDbContextCheck<ParleyDbContext>("database", tags: ["ready"]);
        return services;
    }

    private static readonly TextInputInterceptor TextInputCheck = new();

    /// <summary>
    /// Applies the configured durability to every SQLite connection EF Core uses, once per physical connection: the
    /// settings last as long as the connection, and Microsoft.Data.Sqlite's pool hands the same one out again on every
    /// open (EF opens and closes around each query), so running them on every open parsed and ran three statements per
    /// query for nothing.
    /// </summary>
    private sealed class SqlitePragmaInterceptor(SqliteSynchronous synchronous) : DbConnectionInterceptor
    {
        private readonly string _pragmas = SqliteDialect.Pragmas(synchronous);

        // The physical connections already set up; an entry goes with its connection when the pool closes it.
        private readonly System.Runtime.CompilerServices.ConditionalWeakTable<SQLitePCL.sqlite3, object> _applied = [];

        public override void ConnectionOpened(DbConnection connection, ConnectionEndEventData eventData)
        {
            if (IsApplied(connection))
            {
                return;
            }

            using var cmd = connection.CreateCommand();
            cmd.CommandText = _pragmas;
            cmd.ExecuteNonQuery();
            Applied(connection);
        }

        public override async Task ConnectionOpenedAsync(DbConnection connection, ConnectionEndEventData eventData, CancellationToken cancellationToken = default)
        {
            if (IsApplied(connection))
            {
                return;
            }

            await using var cmd = connection.CreateCommand();
            cmd.CommandText = _pragmas;
            await cmd.ExecuteNonQueryAsync(cancellationToken);
            Applied(connection);
        }

        private bool IsApplied(DbConnection connection) =>
            connection is SqliteConnection { Handle: { } handle } && _applied.TryGetValue(handle, out _);

        private void Applied(DbConnection connection)
        {
            if (connection is SqliteConnection { Handle: { } handle })
            {
                _applied.AddOrUpdate(handle, this);
            }
        }
    }
}

/// <summary>Migrates the schema and creates the first admin and site before the server accepts requests.</summary>
internal sealed partial class DatabaseInitializer(
    IServiceScopeFactory scopes,
    IOptions<DatabaseOptions> options,
    ILogger<DatabaseInitializer> logger) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ParleyDbContext>();
        if (options.Value.Provider == DatabaseProvider.Sqlite)
        {
            // WAL lets readers run beside the single writer; it is a property of the file, set once.
            await db.Database.OpenConnectionAsync(cancellationToken);
            await db.Database.ExecuteSqlRawAsync("PRAGMA journal_mode=WAL;", cancellationToken);
            await db.Database.CloseConnectionAsync();
        }

        if (options.Value.ApplyMigrations || options.Value.Provider == DatabaseProvider.Sqlite)
        {
            var pending = (await db.Database.GetPendingMigrationsAsync(cancellationToken)).ToList();
            if (pending.Count > 0)
            {
                LogMigrating(logger, options.Value.Provider, pending.Count);
                if (options.Value.Provider == DatabaseProvider.Sqlite)
                    await BackUpBeforeUpgradeAsync(db, cancellationToken);
                await db.Database.MigrateAsync(cancellationToken);
            }
        }

        await scope.ServiceProvider.GetRequiredService<Features.Auth.Bootstrapper>().RunAsync(cancellationToken);
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>
    /// Copies an existing SQLite database (one with migrations already applied) with VACUUM INTO before an upgrade:
    /// some SQLite migrations rebuild tables outside a transaction, and a crash half-way must leave something to go
    /// back to. A fresh database has nothing to lose and is not copied.
    /// </summary>
    private async Task BackUpBeforeUpgradeAsync(ParleyDbContext db, CancellationToken cancellationToken)
    {
        var applied = (await db.Database.GetAppliedMigrationsAsync(cancellationToken)).ToList();
        if (applied.Count == 0)
            return;
        var file = db.Database.GetDbConnection().DataSource;
        if (string.IsNullOrEmpty(file) || !File.Exists(file))
            return;
        var backup = $"{file}.before-{applied[^1]}.bak";
        if (File.Exists(backup))
            File.Delete(backup);
        await db.Database.ExecuteSqlRawAsync("VACUUM INTO {0}", [backup], cancellationToken);
        LogBackedUp(logger, backup);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Bringing the {Provider} database schema up to date ({Count} migrations to apply)")]
    private static partial void LogMigrating(ILogger logger, DatabaseProvider provider, int count);

    [LoggerMessage(Level = LogLevel.Information, Message = "Backed up the SQLite database to {Backup} before upgrading its schema")]
    private static partial void LogBackedUp(ILogger logger, string backup);
}
