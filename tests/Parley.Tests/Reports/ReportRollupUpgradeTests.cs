using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;
using Microsoft.Extensions.DependencyInjection;
using Parley.Data;
using Parley.Server.Features.Reports;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Reports;

/// <summary>
/// The migration that adds rollup rows per agent (<c>ReportAgentRollups</c>) on a database that already has rollups:
/// the department rows stay, every hour with a closed conversation is marked so the agent rows get built, and going
/// back down removes the agent rows before the key shrinks.
/// </summary>
public sealed class ReportRollupUpgradeTests
{
    [Theory]
    [BothStores]
    public async Task AgentRollupMigration_KeepsDepartmentRows_AndMarksTheHoursForAgentRows(Store store)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var storage = await TestStorage.CreateAsync(store);
        await using var server = await ParleyServer.StartAsync(storage, new Dictionary<string, string?> { ["Parley:Reports:RollupIntervalSeconds"] = "3600" });
        await using var scope = server.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ParleyDbContext>();
        var site = await db.Sites.Select(s => s.Id).FirstAsync(ct);
        var admin = await db.Users.Where(u => u.Email == ParleyServer.AdminEmail).Select(u => u.Id).FirstAsync(ct);
        var created = new DateTime(2026, 3, 2, 5, 10, 0, DateTimeKind.Utc);
        var closed = created.AddHours(2);
        await ReportRollupTests.AddClosedConversationAsync(db, site, admin, created, closed, ct);
        await ReportRollupMaterialiser.MarkAllAsync(db, ct);
        var materialiser = server.Services.GetRequiredService<ReportRollupMaterialiser>();
        while (await materialiser.RunOnceAsync(ct) > 0)
        {
        }

        Assert.Equal(2, await db.ReportRollups.CountAsync(r => r.Level == ReportRollup.AgentLevel && r.Span == 1 && r.AgentId == admin, ct));
        var departmentRows = await db.ReportRollups.CountAsync(r => r.Level == ReportRollup.DepartmentLevel, ct);

        // Down to the release before: the agent rows go, the department rows stay.
        var migrator = db.GetService<IMigrator>();
        var all = db.Database.GetMigrations().ToList();
        var index = all.FindIndex(m => m.EndsWith("_ReportAgentRollups", StringComparison.Ordinal));
        await migrator.MigrateAsync(all[index - 1], ct);
        await using (var cmd = db.Database.GetDbConnection().CreateCommand())
        {
            await db.Database.OpenConnectionAsync(ct);
            cmd.CommandText = """SELECT COUNT(*) FROM "ReportRollups" """;
            Assert.Equal(departmentRows, Convert.ToInt32(await cmd.ExecuteScalarAsync(ct), System.Globalization.CultureInfo.InvariantCulture));
            await db.Database.CloseConnectionAsync();
        }

        // And up again, as an upgrade from that release: both hours of the conversation are marked for the agent rows.
        await migrator.MigrateAsync(cancellationToken: ct);
        Assert.Equal(departmentRows, await db.ReportRollups.CountAsync(r => r.Level == ReportRollup.DepartmentLevel, ct));
        Assert.Equal(0, await db.ReportRollups.CountAsync(r => r.Level == ReportRollup.AgentLevel, ct));
        var marked = await db.ReportRollupDirty.Select(d => d.Hour).ToListAsync(ct);
        Assert.Contains(ReportRollupMaterialiser.HourOf(created), marked);
        Assert.Contains(ReportRollupMaterialiser.HourOf(closed), marked);
        while (await materialiser.RunOnceAsync(ct) > 0)
        {
        }

        Assert.Equal(2, await db.ReportRollups.CountAsync(r => r.Level == ReportRollup.AgentLevel && r.Span == 1 && r.AgentId == admin, ct));
    }

    /// <summary>
    /// During a rolling upgrade a node of the older release rebuilds an hour: it deletes both levels' rows, writes the
    /// department rows only, and re-sums the day over both levels. The audit finds both disagreements and the passes
    /// repair them.
    /// </summary>
    [Theory]
    [BothStores]
    public async Task AnOlderNodesRebuild_IsFoundByTheAudit_AndRepaired(Store store)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var storage = await TestStorage.CreateAsync(store);
        await using var server = await ParleyServer.StartAsync(storage, new Dictionary<string, string?> { ["Parley:Reports:RollupIntervalSeconds"] = "3600" });
        await using var scope = server.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ParleyDbContext>();
        var site = await db.Sites.Select(s => s.Id).FirstAsync(ct);
        var admin = await db.Users.Where(u => u.Email == ParleyServer.AdminEmail).Select(u => u.Id).FirstAsync(ct);
        var hour = new DateTime(2026, 3, 2, 5, 0, 0, DateTimeKind.Utc);
        for (var i = 0; i < 3; i++)
        {
            await ReportRollupTests.AddClosedConversationAsync(db, site, admin, hour.AddMinutes(i * 10), hour.AddMinutes((i * 10) + 5), ct);
        }

        await ReportRollupMaterialiser.MarkAllAsync(db, ct);
        var materialiser = server.Services.GetRequiredService<ReportRollupMaterialiser>();
        while (await materialiser.RunOnceAsync(ct) > 0)
        {
        }

        Assert.Equal(0, await ReportRollupMaterialiser.AuditAsync(db, ct)); // consistent rollups: nothing to mark

        // What the older node leaves behind.
        await db.ReportRollups.Where(r => r.Level == ReportRollup.AgentLevel && r.Span == 1 && r.Hour == hour).ExecuteDeleteAsync(ct);
        await db.ReportRollups.Where(r => r.Level == ReportRollup.DepartmentLevel && r.Span == 24).ExecuteUpdateAsync(s => s.SetProperty(r => r.Created, r => r.Created * 2), ct);

        Assert.Equal(1, await ReportRollupMaterialiser.AuditAsync(db, ct)); // the hour (which is also the day's first)
        Assert.True(await db.ReportRollupDirty.AnyAsync(d => d.Hour == hour, ct));
        while (await materialiser.RunOnceAsync(ct) > 0)
        {
        }

        Assert.Equal(3, await db.ReportRollups.Where(r => r.Level == ReportRollup.AgentLevel && r.Span == 1 && r.Hour == hour).SumAsync(r => r.Created, ct));
        Assert.Equal(3, await db.ReportRollups.Where(r => r.Level == ReportRollup.DepartmentLevel && r.Span == 24).SumAsync(r => r.Created, ct));
        Assert.Equal(0, await ReportRollupMaterialiser.AuditAsync(db, ct));
    }
}
