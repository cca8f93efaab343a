using System.ComponentModel.DataAnnotations;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Parley.Data;
using Parley.Server.Infrastructure;

namespace Parley.Server.Features.Reports;

public sealed class ReportsOptions
{
    public const string Section = "Parley:Reports";

    /// <summary>Whether reports read the hourly rollups where they can (false: always the exact facts).</summary>
    public bool UseRollups { get; set; } = true;

    /// <summary>How often the rollup materialiser looks for stale hours.</summary>
    [Range(1, 3600)]
    public int RollupIntervalSeconds { get; set; } = 5;

    /// <summary>How long the materialiser's lease lasts: one node at a time rebuilds hours.</summary>
    [Range(5, 3600)]
    public int RollupLeaseSeconds { get; set; } = 30;
}

/// <summary>
/// Keeps <see cref="ReportRollup"/> current: rebuilds every hour marked in <see cref="ReportRollupDirty"/> from the
/// closed conversations' facts — the created-side metrics of those created in the hour and the closing metrics of
/// those closed in it, per department and site — and clears the mark it read. Idempotent (an hour is rebuilt whole)
/// and resumable (the marks are the work queue, in the database); one node at a time (the <c>report-rollups</c>
/// lease). Nothing here runs on the message path: marks are written by <see cref="ConversationFactsRefresher"/>.
/// </summary>
public sealed partial class ReportRollupMaterialiser(IServiceScopeFactory scopes, TimeProvider time, Metrics.LoadGovernor governor, IOptions<ReportsOptions> options, ILogger<ReportRollupMaterialiser> logger)
    : LeasedPassWorker(scopes, time, governor)
{
    public const string LeaseName = "report-rollups";
    private const int HoursPerPass = 200;
    private static readonly TimeSpan Hour = TimeSpan.FromHours(1);
    private static readonly int[] Levels = [ReportRollup.DepartmentLevel, ReportRollup.AgentLevel];
    private long _rebuilt;
    private DateTimeOffset? _nextAudit;

    /// <summary>How often <see cref="AuditAsync"/> runs (and once at each node's first pass).</summary>
    internal static readonly TimeSpan AuditInterval = TimeSpan.FromHours(1);

    /// <summary>Hours rebuilt since start (tests and the bench wait on it).</summary>
    public long Rebuilt => Interlocked.Read(ref _rebuilt);

    protected override string Lease => LeaseName;

    protected override TimeSpan LeaseDuration => TimeSpan.FromSeconds(options.Value.RollupLeaseSeconds);

    protected override TimeSpan Interval => TimeSpan.FromSeconds(options.Value.RollupIntervalSeconds);

    public static DateTime HourOf(DateTime utc) => new(utc.Ticks - (utc.Ticks % TimeSpan.TicksPerHour), DateTimeKind.Utc);

    /// <summary>One pass: takes the lease, rebuilds up to <see cref="HoursPerPass"/> marked hours, oldest first.</summary>
    /// <returns>How many hours were rebuilt (0 when another node holds the lease or nothing is marked).</returns>
    public async Task<int> RunOnceAsync(CancellationToken cancellationToken) => (int)(await RunPassAsync(cancellationToken)).Done;

    protected override async Task<(long Done, bool More)> WorkAsync(ParleyDbContext db, CancellationToken cancellationToken)
    {
        if (_nextAudit is not { } due || Time.GetUtcNow() >= due)
        {
            var marked = await AuditAsync(db, cancellationToken);
            _nextAudit = Time.GetUtcNow() + AuditInterval;
            if (marked > 0)
            {
                LogAuditMarked(logger, marked);
            }
        }

        var marks = await db.ReportRollupDirty.AsNoTracking().OrderBy(d => d.Hour).Take(HoursPerPass).ToListAsync(cancellationToken);
        foreach (var day in marks.GroupBy(m => DayOf(m.Hour)))
        {
            await RebuildAsync(db, day.ToList(), cancellationToken);
            Interlocked.Add(ref _rebuilt, day.Count());
        }

        return (marks.Count, marks.Count == HoursPerPass);
    }

    protected override void PassFailed(Exception exception) => LogPassFailed(logger, exception);

    /// <summary>Rebuilds one hour's rows from the facts and clears its mark if nobody marked it again meanwhile.</summary>
    public static Task RebuildAsync(ParleyDbContext db, ReportRollupDirty mark, CancellationToken cancellationToken) =>
        RebuildAsync(db, [mark], cancellationToken);

    /// <summary>
    /// Rebuilds marked hours of one UTC day, in one transaction: each hour's rows from the facts (both levels), then the
    /// day's rows once from its hourly rows, then clears each mark if nobody marked the hour again meanwhile. One day
    /// at a time, because the day's rows are re-summed from all its hours: per hour, an upgrade that marks every hour
    /// re-summed each day 24 times (with rows per agent, minutes instead of seconds at a million conversations).
    /// </summary>
    public static async Task RebuildAsync(ParleyDbContext db, IReadOnlyList<ReportRollupDirty> marks, CancellationToken cancellationToken)
    {
        var day = DayOf(marks[0].Hour);
        if (marks.Any(m => DayOf(m.Hour) != day))
        {
            throw new ArgumentException("The marks must be of one UTC day.", nameof(marks));
        }

        var rebuilt = new List<ReportRollup>();
        foreach (var mark in marks)
        {
            rebuilt.AddRange(await HourRowsAsync(db, mark.Hour, cancellationToken));
        }

        await using var tx = await db.Database.BeginTransactionAsync(cancellationToken);
        foreach (var mark in marks)
        {
            var hour = mark.Hour;
            await db.ReportRollups.Where(r => r.Span == 1 && r.Hour == hour).ExecuteDeleteAsync(cancellationToken);
        }

        db.ReportRollups.AddRange(rebuilt);
        await db.SaveChangesAsync(cancellationToken);
        db.ChangeTracker.Clear();

        // The UTC day's rows: the sum of its hourly rows, rewritten in the same transaction, so they always agree.
        var dayEnd = day.AddDays(1);
        var days = new Dictionary<RollupKey, ReportRollupTotals>();
        foreach (var r in await db.ReportRollups.AsNoTracking().Where(r => r.Span == 1 && r.Hour >= day && r.Hour < dayEnd).ToListAsync(cancellationToken))
        {
            days.GetOrAdd(RollupKey.Of(r), () => new ReportRollupTotals()).Add(r);
        }

        await db.ReportRollups.Where(r => r.Span == 24 && r.Hour == day).ExecuteDeleteAsync(cancellationToken);
        db.ReportRollups.AddRange(days.Select(t => t.Value.ToRollup(day, 24, t.Key)));
        await db.SaveChangesAsync(cancellationToken);
        db.ChangeTracker.Clear();
        foreach (var mark in marks)
        {
            var (hour, stamp) = (mark.Hour, mark.Stamp);
            await db.ReportRollupDirty.Where(d => d.Hour == hour && d.Stamp == stamp).ExecuteDeleteAsync(cancellationToken);
        }

        await tx.CommitAsync(cancellationToken);
    }

    /// <summary>One hour's rows, both levels, from the facts of the closed conversations created or closed in it.</summary>
    private static async Task<IEnumerable<ReportRollup>> HourRowsAsync(ParleyDbContext db, DateTime hour, CancellationToken cancellationToken)
    {
        var end = hour + Hour;
        var window = new ReportWindow(hour, end, TimeZoneInfo.Utc, businessHoursOnly: false);
        var facts = db.ConversationFacts.AsNoTracking().Where(f => f.ClosedAt != null);
        var created = await ReportService.Project(facts.Where(f => f.CreatedAt >= hour && f.CreatedAt < end)).ToListAsync(cancellationToken);
        var closed = await ReportService.Project(facts.Where(f => f.ClosedAt >= hour && f.ClosedAt < end)).ToListAsync(cancellationToken);

        // Every conversation counts once per level: per department and site, and per department, site and agent.
        var totals = new Dictionary<RollupKey, ReportRollupTotals>();
        ReportRollupTotals For(RollupKey key) => totals.GetOrAdd(key, () => new ReportRollupTotals());

        foreach (var level in Levels)
        {
            foreach (var row in created)
            {
                For(RollupKey.Of(row, level)).AddCreated(row, window);
            }

            foreach (var row in closed)
            {
                For(RollupKey.Of(row, level)).AddClosed(row, window);
            }
        }

        return totals.Select(t => t.Value.ToRollup(hour, 1, t.Key));
    }

    public static DateTime DayOf(DateTime utc) => new(utc.Year, utc.Month, utc.Day, 0, 0, 0, DateTimeKind.Utc);

    /// <summary>
    /// Marks the hours whose rows disagree with each other, so the next passes rebuild them: an hour whose rows per
    /// agent do not add up to its rows per department (every closed conversation counts once in each level), and a UTC
    /// day whose day rows do not add up to its hourly rows. Both happen when a node of the release before per-agent
    /// rows (<c>ReportAgentRollups</c>) rebuilds an hour during a rolling upgrade: it deletes the hour's rows of both
    /// levels but writes its department rows only, and re-sums the day's rows over both levels. One grouped read of
    /// the rollups (their counts only), at a node's first pass and then every <see cref="AuditInterval"/>.
    /// </summary>
    /// <returns>How many hours it marked.</returns>
    public static async Task<int> AuditAsync(ParleyDbContext db, CancellationToken cancellationToken)
    {
        var sums = await db.ReportRollups.AsNoTracking()
            .GroupBy(r => new { r.Level, r.Span, r.Hour })
            .Select(g => new { g.Key.Level, g.Key.Span, g.Key.Hour, Created = g.Sum(r => r.Created), Closed = g.Sum(r => r.Closed) })
            .ToListAsync(cancellationToken);
        var hourly = sums.Where(x => x.Span == 1).ToDictionary(x => (x.Level, x.Hour), x => (x.Created, x.Closed));
        var days = sums.Where(x => x.Span == 24).ToDictionary(x => (x.Level, x.Hour), x => (x.Created, x.Closed));
        var hours = hourly.Keys.Select(k => k.Hour).Distinct().ToList();
        var stale = new HashSet<DateTime>();
        foreach (var hour in hours)
        {
            if (hourly.GetValueOrDefault((ReportRollup.DepartmentLevel, hour)) != hourly.GetValueOrDefault((ReportRollup.AgentLevel, hour)))
            {
                stale.Add(hour);
            }
        }

        var hoursByDay = hours.ToLookup(DayOf);
        foreach (var day in hoursByDay.Select(g => g.Key).Union(days.Keys.Select(k => k.Hour)).Distinct())
        {
            foreach (var level in Levels)
            {
                var (created, closed) = (0, 0);
                foreach (var hour in hoursByDay[day])
                {
                    var h = hourly.GetValueOrDefault((level, hour));
                    created += h.Created;
                    closed += h.Closed;
                }

                if (days.GetValueOrDefault((level, day)) != (created, closed))
                {
                    // One marked hour of the day rewrites the day's rows; the day's first hour will do.
                    stale.Add(hoursByDay[day].DefaultIfEmpty(day).Min());
                }
            }
        }

        await MarkAsync(db, stale.Order(), cancellationToken);
        return stale.Count;
    }

    /// <summary>
    /// The statement that marks one hour stale: a new mark, or the stamp of an existing one bumped, so that a rebuild
    /// which read the hour's facts before this change does not clear the mark (<see cref="RebuildAsync"/> deletes only
    /// the stamp it read). <paramref name="hour"/> is the parameter's placeholder.
    /// </summary>
    internal static string MarkSql(string hour) => $"""
        INSERT INTO "ReportRollupDirty" ("Hour", "Stamp") VALUES ({hour}, 1)
        ON CONFLICT ("Hour") DO UPDATE SET "Stamp" = "ReportRollupDirty"."Stamp" + 1;
        """;

    /// <summary>
    /// Marks every hour that holds a closed conversation's creation or close, so the next passes rebuild all rollups
    /// (seeded or imported facts, written behind the refresher's back). The migration does the same in SQL. Hours
    /// already marked get their stamp bumped like any other change: a pass rebuilding one of them right now read the
    /// facts before these were written, and must leave the mark for the next pass.
    /// </summary>
    public static async Task MarkAllAsync(ParleyDbContext db, CancellationToken cancellationToken)
    {
        var times = await db.ConversationFacts.AsNoTracking().Where(f => f.ClosedAt != null)
            .Select(f => new { f.CreatedAt, ClosedAt = f.ClosedAt!.Value }).ToListAsync(cancellationToken);
        await MarkAsync(db, times.SelectMany(t => new[] { HourOf(t.CreatedAt), HourOf(t.ClosedAt) }).Distinct().Order(), cancellationToken);
    }

    /// <summary>Marks <paramref name="hours"/> (<see cref="MarkSql"/>), 200 to a statement batch.</summary>
    private static async Task MarkAsync(ParleyDbContext db, IEnumerable<DateTime> hours, CancellationToken cancellationToken)
    {
        foreach (var chunk in hours.Chunk(200))
        {
            var sql = string.Concat(chunk.Select((_, i) => MarkSql("{" + i.ToString(System.Globalization.CultureInfo.InvariantCulture) + "}")));
            await db.Database.ExecuteSqlRawAsync(sql, chunk.Cast<object>(), cancellationToken);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Report rollups: {Hours} hour(s) whose rows disagreed (a node of an older release rebuilt them?) are marked for rebuilding")]
    private static partial void LogAuditMarked(ILogger logger, int hours);

    [LoggerMessage(Level = LogLevel.Warning, Message = "A report rollup pass failed; the marked hours stay marked and the next pass retries them")]
    private static partial void LogPassFailed(ILogger logger, Exception exception);
}
