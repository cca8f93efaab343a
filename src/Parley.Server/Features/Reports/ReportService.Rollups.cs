using System.Globalization;
using Microsoft.EntityFrameworkCore;
using Parley.Data;

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

    /// <returns>Null where the rollups cannot give the exact figures (the caller reads the facts).</returns>
    internal async Task<ReportSummaryDto?> RollupSummaryAsync(Actor actor, ReportRequest request, CancellationToken cancellationToken)
    {
        if (!options.Value.UseRollups || request.BusinessHours || request.AgentId is not null || request.LabelId is not null)
        {
            return null;
        }

        var (from, to, zone) = ParseRange(request, MaxDays);
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

        // Whole UTC days inside the window with no stale hour read their day rows; every other hour its hourly rows.
        var dayLo = DayOf(fromUtc) == fromUtc ? fromUtc : DayOf(fromUtc).AddDays(1);
        var dayHi = DayOf(toUtc) < dayLo ? dayLo : DayOf(toUtc);
        var staleDays = staleHours.Select(DayOf).ToHashSet();
        var staleLo = stale.Count == 0 ? fromUtc : DayOf(stale.Min());
        var staleHi = stale.Count == 0 ? fromUtc : DayOf(stale.Max()).AddDays(1);
        bool WholeDay(DateTime day) => day >= dayLo && day < dayHi && !staleDays.Contains(day);
        var rollups = db.ReportRollups.AsNoTracking().Where(r =>
            (r.Span == 24 && r.Hour >= dayLo && r.Hour < dayHi)
            || (r.Span == 1 && r.Hour >= fromUtc && r.Hour < toUtc && (r.Hour < dayLo || r.Hour >= dayHi || (r.Hour >= staleLo && r.Hour < staleHi))));
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

        var totals = new ReportRollupTotals();
        foreach (var rollup in await rollups.ToListAsync(cancellationToken))
        {
            if (rollup.Span == 24 ? WholeDay(rollup.Hour) : !WholeDay(DayOf(rollup.Hour)) && !staleHours.Contains(rollup.Hour))
            {
                totals.Add(rollup);
            }
        }

        var seen = new HashSet<Guid>();
        foreach (var row in rows)
        {
            if (!seen.Add(row.ConversationId))
            {
                continue;
            }

            // In the rollups' departments a row adds only what the rollups lack; elsewhere (his own) everything.
            var rolled = scope.SeesDepartment(row.TeamId);
            if (window.Contains(row.CreatedAt) && (!rolled || row.ClosedAt is null || staleHours.Contains(ReportRollupMaterialiser.HourOf(row.CreatedAt))))
            {
                totals.AddCreated(row, window);
            }

            if (window.Contains(row.ClosedAt) && (!rolled || staleHours.Contains(ReportRollupMaterialiser.HourOf(row.ClosedAt!.Value))))
            {
                totals.AddClosed(row, window);
            }
        }

        var range = new ReportRange(from.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture), to.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture), zone.Id, request.BusinessHours);
        return new ReportSummaryDto(range, totals.ToMetrics());
    }

    private static DateTime DayOf(DateTime utc) => new(utc.Year, utc.Month, utc.Day, 0, 0, 0, DateTimeKind.Utc);
}
