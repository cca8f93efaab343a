using System.Globalization;
using System.Linq.Expressions;
using Microsoft.EntityFrameworkCore;
using Parley.Data;
using Parley.Server.Infrastructure;
using Parley.Server.Routing;

namespace Parley.Server.Features.Reports;

/// <summary>
/// The summary from the hourly rollups (docs/reports.md, "Hourly rollups"): rollup rows for the hours in the window
/// that are not marked stale, plus — read exactly from the facts — the conversations still open, those of the marked
/// hours, and (a supervisor limited to some departments) his own conversations outside them. Taken only where
/// rollups give the same figures: supervisors and admins, no business-hours filter, no agent or label filter, and a
/// window that starts and ends on whole UTC hours (any whole-hour zone; a :30 or :45 zone reads the facts).
/// </summary>
public sealed partial class ReportService
{
    /// <summary>More stale hours than this in the window (after a migration, a bulk import): read the facts instead.</summary>
    public const int MaxStaleHours = 168;

    /// <summary>
    /// What the rollups give for a report's window: rollup rows, each counted whole, and the fact rows read exactly
    /// (open conversations, stale hours, a supervisor's own conversations outside his departments), each with the
    /// sides (created, closed) it adds.
    /// </summary>
    internal sealed record RollupSlice(ReportRange Range, ReportWindow Window, List<ReportRollup> Rollups, List<ExactRow> Exact)
    {
        /// <summary>The rows of the slice's level with its department, site and sandbox filters (any span, any hour).</summary>
        public required IQueryable<ReportRollup> Filtered { get; init; }

        /// <summary>The window's marked hours (their conversations are in <see cref="Exact"/>).</summary>
        public required List<DateTime> StaleHours { get; init; }

        /// <summary>Everything in the slice added up (the summary, response times, CSAT).</summary>
        public ReportRollupTotals Total()
        {
            var totals = new ReportRollupTotals();
            foreach (var rollup in Rollups)
            {
                totals.Add(rollup);
            }

            foreach (var row in Exact)
            {
                row.AddTo(totals, Window, created: true, closed: true);
            }

            return totals;
        }
    }

    /// <summary>A fact row read exactly, and which of its sides count in the window.</summary>
    internal readonly record struct ExactRow(FactRow Row, bool Created, bool Closed)
    {
        public void AddTo(ReportRollupTotals totals, ReportWindow window, bool created, bool closed)
        {
            if (Created && created)
            {
                totals.AddCreated(Row, window);
            }

            if (Closed && closed)
            {
                totals.AddClosed(Row, window);
            }
        }
    }

    /// <returns>Null where the rollups cannot give the exact figures (the caller reads the facts).</returns>
    internal async Task<ReportSummaryDto?> RollupSummaryAsync(Actor actor, ReportRequest request, CancellationToken cancellationToken)
    {
        if (await RollupSliceAsync(actor, request, MaxDays, ReportRollup.DepartmentLevel, dayRows: true, cancellationToken) is not { } slice)
        {
            return null;
        }

        return new ReportSummaryDto(slice.Range, slice.Total().ToMetrics());
    }

    /// <summary>
    /// Reads a window's rollups at <paramref name="level"/> and the exact rows, or null where rollups cannot give the
    /// exact figures. With <paramref name="dayRows"/>, whole UTC days read their day rows (a total); without, every hour
    /// its hourly row, so the caller can put each hour in a local day or hour of its own.
    /// </summary>
    internal async Task<RollupSlice?> RollupSliceAsync(Actor actor, ReportRequest request, int maxDays, int level, bool dayRows, CancellationToken cancellationToken)
    {
        if (!options.Value.UseRollups || request.BusinessHours || request.AgentId is not null || request.LabelId is not null)
        {
            return null;
        }

        var (from, to, zone) = ParseRange(request, maxDays);
        var fromUtc = LocalMidnightUtc(from, zone);
        var toUtc = LocalMidnightUtc(to.AddDays(1), zone);
        if (fromUtc.Ticks % TimeSpan.TicksPerHour != 0 || toUtc.Ticks % TimeSpan.TicksPerHour != 0)
        {
            return null;
        }

        await ValidateFiltersAsync(actor, request, cancellationToken);
        var scope = await access.ScopeAsync(actor, cancellationToken);
        if (!scope.IsSupervisor)
        {
            return null; // an agent's own conversations: few, read exactly through (assignee, created)
        }

        var facts = await FilteredAsync(actor, request, cancellationToken);
        var window = new ReportWindow(fromUtc, toUtc, zone, businessHoursOnly: false);

        // Open conversations first, then the stale marks, then the facts of the marked hours and the rollups.
        var rows = await Project(facts.Where(f => f.ClosedAt == null && f.CreatedAt >= fromUtc && f.CreatedAt < toUtc)).ToListAsync(cancellationToken);
        var stale = await db.ReportRollupDirty.AsNoTracking().Where(d => d.Hour >= fromUtc && d.Hour < toUtc).Select(d => d.Hour).ToListAsync(cancellationToken);
        if (stale.Count > MaxStaleHours)
        {
            return null;
        }

        var staleHours = stale.ToHashSet();
        if (stale.Count > 0)
        {
            var lo = stale.Min();
            var hi = stale.Max().AddHours(1);
            rows.AddRange(await Project(facts.Where(f => (f.CreatedAt >= lo && f.CreatedAt < hi) || (f.ClosedAt >= lo && f.ClosedAt < hi))).ToListAsync(cancellationToken));
        }

        // Whole UTC days inside the window with no stale hour read their day rows (when asked for); every other hour
        // its hourly rows.
        var dayLo = ReportRollupMaterialiser.DayOf(fromUtc) == fromUtc ? fromUtc : ReportRollupMaterialiser.DayOf(fromUtc).AddDays(1);
        var dayHi = !dayRows ? dayLo : ReportRollupMaterialiser.DayOf(toUtc) < dayLo ? dayLo : ReportRollupMaterialiser.DayOf(toUtc);
        var staleDays = staleHours.Select(ReportRollupMaterialiser.DayOf).ToHashSet();
        var staleLo = stale.Count == 0 ? fromUtc : ReportRollupMaterialiser.DayOf(stale.Min());
        var staleHi = stale.Count == 0 ? fromUtc : ReportRollupMaterialiser.DayOf(stale.Max()).AddDays(1);
        bool WholeDay(DateTime day) => day >= dayLo && day < dayHi && !staleDays.Contains(day);
        var rollups = db.ReportRollups.AsNoTracking().Where(r => r.Level == level);
        if (request.TeamId is { } team)
        {
            rollups = rollups.Where(r => r.TeamId == team);
        }
        else if (!scope.SeesAllDepartments)
        {
            // The supervisor's departments from the rollups; his own conversations elsewhere from the facts, through
            // (AssigneeId, CreatedAt) and the closing-time index.
            var teams = scope.TeamIds.ToList();
            var unteamed = scope.UnteamedVisible;
            var me = scope.UserId;
            rollups = rollups.Where(r => teams.Contains(r.TeamId) || (unteamed && r.TeamId == Guid.Empty));
            var own = db.ConversationFacts.AsNoTracking()
                .Where(f => f.AssigneeId == me && ((f.TeamId == null && !unteamed) || (f.TeamId != null && !teams.Contains(f.TeamId.Value))));
            if (request.SiteId is { } ownSite)
            {
                own = own.Where(f => f.SiteId == ownSite);
            }

            rows.AddRange(await Project(own.Where(f => f.CreatedAt >= fromUtc && f.CreatedAt < toUtc)).ToListAsync(cancellationToken));
            rows.AddRange(await Project(own.Where(f => f.ClosedAt >= fromUtc && f.ClosedAt < toUtc)).ToListAsync(cancellationToken));
        }

        if (request.SiteId is { } site)
        {
            rollups = rollups.Where(r => r.SiteId == site);
        }

        var filtered = rollups;
        // Each part its own index range (the hours before the whole days, after them, and the days with a marked
        // hour): one range over the window filtered afterwards read every hourly row of the month, 10x more at the
        // agent level than the rows it kept.
        var (headEnd, tailStart) = (dayLo < toUtc ? dayLo : toUtc, dayHi > fromUtc ? dayHi : fromUtc);
        var (markedLo, markedHi) = (staleLo > fromUtc ? staleLo : fromUtc, staleHi < toUtc ? staleHi : toUtc);
        rollups = rollups.Where(r =>
            (r.Span == 24 && r.Hour >= dayLo && r.Hour < dayHi)
            || (r.Span == 1 && r.Hour >= fromUtc && r.Hour < headEnd)
            || (r.Span == 1 && r.Hour >= tailStart && r.Hour < toUtc)
            || (r.Span == 1 && r.Hour >= markedLo && r.Hour < markedHi));
        var counted = new List<ReportRollup>();
        foreach (var rollup in await rollups.ToListAsync(cancellationToken))
        {
            if (rollup.Span == 24 ? WholeDay(rollup.Hour) : !WholeDay(ReportRollupMaterialiser.DayOf(rollup.Hour)) && !staleHours.Contains(rollup.Hour))
            {
                counted.Add(rollup);
            }
        }

        var exact = new List<ExactRow>();
        var seen = new HashSet<Guid>();
        foreach (var row in rows)
        {
            if (!seen.Add(row.ConversationId))
            {
                continue;
            }

            // In the rollups' departments a row adds only what the rollups lack; elsewhere (his own) everything.
            var rolled = scope.SeesDepartment(row.TeamId);
            var created = window.Contains(row.CreatedAt) && (!rolled || row.ClosedAt is null || staleHours.Contains(ReportRollupMaterialiser.HourOf(row.CreatedAt)));
            var closed = window.Contains(row.ClosedAt) && (!rolled || staleHours.Contains(ReportRollupMaterialiser.HourOf(row.ClosedAt!.Value)));
            if (created || closed)
            {
                exact.Add(new ExactRow(row, created, closed));
            }
        }

        var range = new ReportRange(from.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture), to.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture), zone.Id, request.BusinessHours);
        return new RollupSlice(range, window, counted, exact) { Filtered = filtered, StaleHours = stale };
    }

    /// <summary>
    /// The time series from the hourly rollups: each hour's rows in the local day (or hour) that holds it, each exact
    /// row's created side in the bucket of its creation and its closing side in the bucket of its close.
    /// </summary>
    internal async Task<TimeSeriesDto?> RollupTimeSeriesAsync(Actor actor, ReportRequest request, bool hourly, CancellationToken cancellationToken)
    {
        if (await RollupSliceAsync(actor, request, hourly ? MaxHourlyDays : MaxDays, ReportRollup.DepartmentLevel, dayRows: false, cancellationToken) is not { } slice)
        {
            return null;
        }

        var zone = slice.Window.Zone;
        var buckets = new Dictionary<string, ReportRollupTotals>();
        ReportRollupTotals Bucket(DateTime utc) => buckets.GetOrAdd(BucketOf(utc, zone, hourly), () => new ReportRollupTotals());

        foreach (var rollup in slice.Rollups)
        {
            Bucket(rollup.Hour).Add(rollup);
        }

        foreach (var row in slice.Exact)
        {
            row.AddTo(Bucket(row.Row.CreatedAt), slice.Window, created: true, closed: false);
            if (row.Row.ClosedAt is { } closedAt)
            {
                row.AddTo(Bucket(closedAt), slice.Window, created: false, closed: true);
            }
        }

        var points = BucketKeys(slice.Range, hourly).ConvertAll(key =>
            new TimePointDto(key, (buckets.GetValueOrDefault(key) ?? new ReportRollupTotals()).ToMetrics()));
        return new TimeSeriesDto(slice.Range, hourly ? "hour" : "day", points);
    }

    /// <summary>
    /// A breakdown by department, site or agent from the rollups (their keys): each group's figures from the day rows
    /// (hourly at the window's edges) and its conversations created per local day, for the sparkline, from the hourly
    /// rows' counts. Labels and intents are not rollup keys: those read the facts.
    /// </summary>
    internal async Task<BreakdownDto?> RollupBreakdownAsync(Actor actor, ReportRequest request, string by, CancellationToken cancellationToken)
    {
        // The group's key: as a column (summed in the database) and on a row's key (in memory).
        (Expression<Func<ReportRollup, Guid>> Column, Func<RollupKey, Guid> Of)? key = by switch
        {
            "department" => (r => r.TeamId, k => k.TeamId),
            "site" => (r => r.SiteId, k => k.SiteId),
            "agent" => (r => r.AgentId, k => k.AgentId),
            _ => null,
        };
        var level = by == "agent" ? ReportRollup.AgentLevel : ReportRollup.DepartmentLevel;
        if (key is not { } groupKey || await RollupSliceAsync(actor, request, MaxDays, level, dayRows: true, cancellationToken) is not { } slice)
        {
            return null;
        }

        var keyOf = groupKey.Of;

        var zone = slice.Window.Zone;
        var days = BucketKeys(slice.Range, hourly: false);
        var dayIndex = days.Select((d, i) => (d, i)).ToDictionary(x => x.d, x => x.i);
        var groups = new Dictionary<Guid, (ReportRollupTotals Totals, int[] Daily)>();
        (ReportRollupTotals Totals, int[] Daily) Group(Guid id) => groups.GetOrAdd(id, () => (new ReportRollupTotals(), new int[days.Count]));

        foreach (var rollup in slice.Rollups)
        {
            Group(keyOf(RollupKey.Of(rollup))).Totals.Add(rollup);
        }

        foreach (var (localDay, id, created) in await CreatedPerLocalDayAsync(slice, groupKey.Column, cancellationToken))
        {
            if (dayIndex.TryGetValue(localDay.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture), out var day))
            {
                Group(id).Daily[day] += created;
            }
        }

        foreach (var row in slice.Exact)
        {
            var group = Group(keyOf(RollupKey.Of(row.Row, level)));
            row.AddTo(group.Totals, slice.Window, created: true, closed: true);
            if (row.Created && dayIndex.TryGetValue(BucketOf(row.Row.CreatedAt, zone, hourly: false), out var day))
            {
                group.Daily[day]++;
            }
        }

        var names = by switch
        {
            "department" => await db.Teams.AsNoTracking().ToDictionaryAsync(t => Key(t.Id)!, t => t.Name, cancellationToken),
            "site" => await db.Sites.AsNoTracking().ToDictionaryAsync(s => Key(s.Id)!, s => s.Name, cancellationToken),
            _ => await db.Users.AsNoTracking().ToDictionaryAsync(u => Key(u.Id)!, u => u.DisplayName, cancellationToken),
        };
        var result = groups
            .Where(g => !g.Value.Totals.IsEmpty)
            .Select(g =>
            {
                // No department or no agent is the empty id in a rollup and a null key in a breakdown.
                var rowKey = by != "site" && g.Key == Guid.Empty ? null : Key(g.Key);
                return new BreakdownRowDto(rowKey, rowKey is null ? null : names.GetValueOrDefault(rowKey), g.Value.Totals.ToMetrics(), g.Value.Daily);
            });
        return new BreakdownDto(slice.Range, by, Order(result));
    }

    /// <summary>
    /// Conversations created per local day and group key (department, site or agent), summed in the database from the
    /// hourly rows' counts, marked hours left out (their conversations are exact rows): one grouped range read per
    /// local day (its UTC hours found here, so DST days are right), a few thousand index entries each, instead of
    /// bringing back every hour's row (72,000 per agent breakdown at a million conversations; summing them by a date
    /// computed per row in SQL cost SQLite 0.3 s).
    /// </summary>
    private static async Task<List<(DateTime Day, Guid Key, int Created)>> CreatedPerLocalDayAsync(RollupSlice slice, Expression<Func<ReportRollup, Guid>> key, CancellationToken cancellationToken)
    {
        var zone = slice.Window.Zone;
        var stale = slice.StaleHours;
        var result = new List<(DateTime, Guid, int)>();
        var local = TimeZoneInfo.ConvertTimeFromUtc(slice.Window.FromUtc, zone).Date;
        for (var lo = slice.Window.FromUtc; lo < slice.Window.ToUtc; local = local.AddDays(1))
        {
            var hi = BusinessHours.LocalToUtc(local.AddDays(1), zone);
            var rows = slice.Filtered.Where(r => r.Span == 1 && r.Hour >= lo && r.Hour < hi && r.Created > 0);
            if (stale.Count > 0)
            {
                rows = rows.Where(r => !stale.Contains(r.Hour));
            }

            var sums = await rows.GroupBy(key).Select(g => new { g.Key, Created = g.Sum(r => r.Created) }).ToListAsync(cancellationToken);
            result.AddRange(sums.Select(x => (local, x.Key, x.Created)));
            lo = hi;
        }

        return result;
    }
}
