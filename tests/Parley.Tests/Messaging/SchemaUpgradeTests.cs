using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;
using Parley.Data;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Messaging;

/// <summary>
/// Upgrading an existing SQLite database: some migrations rebuild tables outside a transaction, so the server copies
/// the file first (and says where); a fresh database is created without a copy.
/// </summary>
public sealed class SchemaUpgradeTests
{
    [Fact]
    public async Task UpgradingAnOlderSqliteDatabase_BacksItUpFirst_AndAFreshOneIsNotCopied()
    {
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        var file = Path.Combine(storage.DataDirectory, "parley.db");
        Directory.CreateDirectory(storage.DataDirectory);

        // An "older release": the schema as of the migration before the newest.
        var options = new DbContextOptionsBuilder<ParleyDbContext>()
            .UseSqlite($"Data Source={file}", x => x.MigrationsAssembly("Parley.Migrations.Sqlite")).Options;
        string previous;
        await using (var db = new ParleyDbContext(options))
        {
            var all = db.Database.GetMigrations().ToList();
            previous = all[^2];
            await db.GetService<IMigrator>().MigrateAsync(previous, TestContext.Current.CancellationToken);
        }

        SqliteConnection.ClearAllPools();
        await using (var server = await ParleyServer.StartAsync(storage))
        {
            var backup = $"{file}.before-{previous}.bak";
            Assert.True(File.Exists(backup), $"expected a backup at {backup}");
            await using var copy = new SqliteConnection($"Data Source={backup};Mode=ReadOnly");
            await copy.OpenAsync(TestContext.Current.CancellationToken);
            await using var cmd = copy.CreateCommand();
            // The copy is the database as it was before the upgrade: its history ends at the older migration.
            cmd.CommandText = "SELECT MAX(\"MigrationId\") FROM \"__EFMigrationsHistory\"";
            Assert.Equal(previous, await cmd.ExecuteScalarAsync(TestContext.Current.CancellationToken));
        }

        await using var fresh = await TestStorage.CreateAsync(Store.Sqlite);
        await using (await ParleyServer.StartAsync(fresh))
        {
            Assert.Empty(Directory.EnumerateFiles(fresh.DataDirectory, "*.bak", SearchOption.AllDirectories));
        }
    }
}
