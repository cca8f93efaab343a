using System.Globalization;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Parley.Data;
using Parley.Server.Features.Access;
using Parley.Server.Infrastructure;
using Parley.Server.Messaging;
using Parley.Server.Routing;

namespace Parley.Server.Features.Reports;

/// <summary>What a report is asked for, as the query string carries it (validated by <see cref="ReportService"/>).</summary>
public sealed record ReportRequest(
    string? From,
    string? To,
    string? Tz,
    bool BusinessHours = false,
    Guid? TeamId = null,
    Guid? AgentId = null,
    Guid? SiteId = null,
    Guid? LabelId = null);

/// <summary>
/// Every report: validates the request, narrows the facts to the caller's sandbox (<see cref="AccessPolicy"/>) and the
/// filters, reads them once and runs <see cref="ReportMath"/> over them. Reads <see cref="ConversationFacts"/>
/// only, never messages. REST and CSV export call the same methods.
/// </summary>
public sealed partial class ReportService(ParleyDbContext db, AccessPolicy access, IOptions<ReportsOptions> options)
{
    public const int MaxDays = 366;
    public const int MaxHourlyDays = 31;
    public const int CommentLimit = 200;

    /// <summary>First-response / queue-wait histogram bucket bounds, seconds.</summary>
    public static readonly double[] BucketBounds = [0, 30, 60, 120, 300, 600, 1800, 3600];

    public async Task<ReportSummaryDto> SummaryAsync(Actor actor, ReportRequest request, CancellationToken cancellationToken)
    {
        if (await RollupSummaryAsync(actor, request, cancellationToken) is { } fromRollups)
        {
            return fromRollups;
        }

        var (range, window, rows) = await LoadAsync(actor, request, MaxDays, cancellationToken);
        return new ReportSummaryDto(range, ReportMath.Compute(rows, window));
    }

    public async Task<TimeSeriesDto> TimeSeriesAsync(Actor actor, ReportRequest request, string? interval, CancellationToken cancellationToken)
    {
        var hourly = interval switch
        {
            null or "" or "day" => false,
            "hour" => true,
            _ => throw new ParleyException(ErrorCatalogue.InvalidReportOption, "interval must be day or hour."),
        };
        if (await RollupTimeSeriesAsync(actor, request, hourly, cancellationToken) is { } fromRollups)
        {
            return fromRollups;
        }

        var (range, window, rows) = await LoadAsync(actor, request, hourly ? MaxHourlyDays : MaxDays, cancellationToken);
        var keys = BucketKeys(range, hourly);
        var byCreated = rows.ToLookup(r => BucketOf(r.CreatedAt, window.Zone, hourly));
        var byClosed = rows.Where(r => r.ClosedAt is not null).ToLookup(r => BucketOf(r.ClosedAt!.Value, window.Zone, hourly));
        var points = keys.ConvertAll(key =>
        {
            // A bucket's metrics: created-based ones from the rows created in it, closing ones from the rows closed in it.
            var bucketWindow = BucketWindow(key, hourly, window);
            return new TimePointDto(key, ReportMath.Compute(byCreated[key].Concat(byClosed[key]).Distinct(), bucketWindow));
        });
        return new TimeSeriesDto(range, hourly ? "hour" : "day", points);
    }

    public async Task<BreakdownDto> BreakdownAsync(Actor actor, ReportRequest request, string? by, CancellationToken cancellationToken)
    {
        if (by is not ("agent" or "department" or "site" or "label" or "intent"))
        {
            throw new ParleyException(ErrorCatalogue.InvalidReportOption, "by must be agent, department, site, label or intent.");
        }

        if (await RollupBreakdownAsync(actor, request, by, cancellationToken) is { } fromRollups)
        {
            return fromRollups;
        }

        var (range, window, rows) = await LoadAsync(actor, request, MaxDays, cancellationToken);
        IEnumerable<(string? Key, FactRow Row)> keyed;
        Dictionary<string, string> names;
        switch (by)
        {
            case "agent":
                keyed = rows.Select(r => (Key(r.AssigneeId), r));
                names = await db.Users.AsNoTracking().ToDictionaryAsync(u => Key(u.Id)!, u => u.DisplayName, cancellationToken);
                break;
            case "department":
                keyed = rows.Select(r => (Key(r.TeamId), r));
                names = await db.Teams.AsNoTracking().ToDictionaryAsync(t => Key(t.Id)!, t => t.Name, cancellationToken);
                break;
            case "site":
                keyed = rows.Select(r => ((string?)Key(r.SiteId), r));
                names = await db.Sites.AsNoTracking().ToDictionaryAsync(s => Key(s.Id)!, s => s.Name, cancellationToken);
                break;
            case "label":
                var facts = await FilteredAsync(actor, request, cancellationToken);
                var pairs = await (from l in db.ConversationLabels.AsNoTracking()
                                   join f in facts on l.ConversationId equals f.ConversationId
                                   select new { l.ConversationId, l.LabelId }).ToListAsync(cancellationToken);
                var byId = rows.ToDictionary(r => r.ConversationId);
                keyed = pairs.Where(p => byId.ContainsKey(p.ConversationId)).Select(p => (Key(p.LabelId), byId[p.ConversationId]));
                names = await db.Labels.AsNoTracking().ToDictionaryAsync(l => Key(l.Id)!, l => l.Name, cancellationToken);
                break;
            default:
                keyed = rows.Select(r => (r.Intent, r));
                names = [];
                break;
        }

        var days = BucketKeys(range, hourly: false);
        var result = keyed.GroupBy(k => k.Key)
            .Select(g =>
            {
                var group = g.Select(x => x.Row).ToList();
                var daily = group.Where(r => window.Contains(r.CreatedAt) && window.Counts(r))
                    .GroupBy(r => BucketOf(r.CreatedAt, window.Zone, hourly: false)).ToDictionary(d => d.Key, d => d.Count());
                var name = g.Key is null ? null : by == "intent" ? g.Key : names.GetValueOrDefault(g.Key);
                return new BreakdownRowDto(g.Key, name, ReportMath.Compute(group, window), days.ConvertAll(d => daily.GetValueOrDefault(d)));
            })
            .Where(r => r.Metrics.Created > 0 || r.Metrics.Closed > 0);
        return new BreakdownDto(range, by, Order(result));
    }

    /// <summary>A breakdown's rows, busiest first, then by name and key (the same order from facts and rollups).</summary>
    private static List<BreakdownRowDto> Order(IEnumerable<BreakdownRowDto> rows) =>
        rows.OrderByDescending(r => r.Metrics.Created).ThenBy(r => r.Name, StringComparer.Ordinal).ThenBy(r => r.Key, StringComparer.Ordinal).ToList();

    public async Task<CsatReportDto> CsatAsync(Actor actor, ReportRequest request, CancellationToken cancellationToken)
    {
        if (await RollupSliceAsync(actor, request, MaxDays, ReportRollup.DepartmentLevel, dayRows: true, cancellationToken) is { } slice)
        {
            var csat = slice.Total().ToMetrics().Csat;
            return new CsatReportDto(slice.Range, csat, await CsatCommentsAsync(actor, request, slice.Window, cancellationToken));
        }

        var (range, window, rows) = await LoadAsync(actor, request, MaxDays, cancellationToken);
        return new CsatReportDto(range, ReportMath.Compute(rows, window).Csat, await CsatCommentsAsync(actor, request, window, cancellationToken));
    }

    /// <summary>Ratings with a comment read per step of <see cref="CsatCommentsAsync"/>, newest first.</summary>
    private const int CommentPage = 500;

    /// <summary>
    /// The newest CSAT comments (up to <see cref="CommentLimit"/>) of the conversations closed in the window that the
    /// caller may see. Driven by the ratings with a comment, newest first (index on their time, comments only), a page
    /// at a time, each page matched against the facts by id: the work follows the comments returned, not the
    /// conversations closed in the window (a third of a million facts for 30 days at a million conversations, 1 s
    /// when the facts drove it). A rating is made after its conversation closed, so ratings older than the window are
    /// not read (a conversation rated, reopened and closed again in the window keeps its older comment out of it).
    /// </summary>
    private async Task<List<CsatCommentDto>> CsatCommentsAsync(Actor actor, ReportRequest request, ReportWindow window, CancellationToken cancellationToken)
    {
        var facts = await FilteredAsync(actor, request, cancellationToken);
        var from = window.FromUtc;
        var to = window.ToUtc;
        var comments = new List<CsatCommentDto>();
        var withComment = db.ConversationRatings.AsNoTracking().Where(r => r.Comment != null && r.CreatedAt >= from);
        DateTime? before = null;
        while (comments.Count < CommentLimit)
        {
            var ratings = before is { } cursor ? withComment.Where(r => r.CreatedAt < cursor) : withComment;
            var page = await ratings.OrderByDescending(r => r.CreatedAt).Select(r => new { r.ConversationId, r.CreatedAt }).Take(CommentPage).ToListAsync(cancellationToken);
            if (page.Count == 0)
            {
                break;
            }

            // A full page may stop inside a run of equal times: take that whole run, and continue below it.
            var oldest = page[^1].CreatedAt;
            var ids = page.Count < CommentPage
                ? page.Select(p => p.ConversationId).ToList()
                : page.Where(p => p.CreatedAt > oldest).Select(p => p.ConversationId)
                    .Concat(await withComment.Where(r => r.CreatedAt == oldest).Select(r => r.ConversationId).ToListAsync(cancellationToken)).ToList();
            var matched = await (from f in facts
                                 where ids.Contains(f.ConversationId) && f.ClosedAt >= @from && f.ClosedAt < to && f.CsatScore != null
                                 join r in db.ConversationRatings.AsNoTracking() on f.ConversationId equals r.ConversationId
                                 join u in db.Users.AsNoTracking() on f.AssigneeId equals u.Id into agents
                                 from u in agents.DefaultIfEmpty()
                                 select new { f.ConversationId, f.TeamId, f.CreatedAt, r.Score, r.Comment, RatedAt = r.CreatedAt, f.AssigneeId, AgentName = u == null ? null : u.DisplayName })
                .ToListAsync(cancellationToken);
            comments.AddRange(matched
                .Where(c => window.Counts(new FactRow { TeamId = c.TeamId, CreatedAt = c.CreatedAt }))
                .OrderByDescending(c => c.RatedAt).ThenBy(c => c.ConversationId)
                .Select(c => new CsatCommentDto(c.ConversationId, c.Score, c.Comment!, c.RatedAt, c.AssigneeId, c.AgentName)));
            if (page.Count < CommentPage)
            {
                break;
            }

            before = oldest;
        }

        return comments.Count > CommentLimit ? comments[..CommentLimit] : comments;
    }

    public async Task<ResponseTimesDto> ResponseTimesAsync(Actor actor, ReportRequest request, CancellationToken cancellationToken)
    {
        if (await RollupSliceAsync(actor, request, MaxDays, ReportRollup.DepartmentLevel, dayRows: true, cancellationToken) is { } slice)
        {
            var totals = slice.Total();
            var (firstResponses, queueWaits) = totals.CountsWithin(BucketBounds);
            var summed = totals.ToMetrics();
            return new ResponseTimesDto(slice.Range, summed.FirstResponse, summed.QueueWait, DurationBuckets(firstResponses, queueWaits));
        }

        var (range, window, rows) = await LoadAsync(actor, request, MaxDays, cancellationToken);
        var firstResponse = new int[BucketBounds.Length];
        var queueWait = new int[BucketBounds.Length];
        foreach (var row in rows.Where(r => window.Contains(r.CreatedAt) && window.Counts(r)))
        {
            if (ReportMath.FirstResponseSeconds(row, window) is { } response)
            {
                firstResponse[BucketIndex(response)]++;
            }

            if (ReportMath.QueueWaitSeconds(row, window) is { } wait)
            {
                queueWait[BucketIndex(wait)]++;
            }
        }

        var metrics = ReportMath.Compute(rows, window);
        return new ResponseTimesDto(range, metrics.FirstResponse, metrics.QueueWait, DurationBuckets(firstResponse, queueWait));
    }

    private static List<DurationBucketDto> DurationBuckets(int[] firstResponse, int[] queueWait) =>
        BucketBounds.Select((from, i) => new DurationBucketDto(from, i + 1 < BucketBounds.Length ? BucketBounds[i + 1] : null, firstResponse[i], queueWait[i])).ToList();

    private static int BucketIndex(double seconds)
    {
        var i = Array.BinarySearch(BucketBounds, seconds);
        return i >= 0 ? i : ~i - 1;
    }

    private static string? Key(Guid? id) => id?.ToString();

    /// <summary>Validates the request and reads the rows of every conversation created or closed in the window.</summary>
    private async Task<(ReportRange Range, ReportWindow Window, List<FactRow> Rows)> LoadAsync(Actor actor, ReportRequest request, int maxDays, CancellationToken cancellationToken)
    {
        var (from, to, zone) = ParseRange(request, maxDays);
        await ValidateFiltersAsync(actor, request, cancellationToken);
        var fromUtc = LocalMidnightUtc(from, zone);
        var toUtc = LocalMidnightUtc(to.AddDays(1), zone);
        Dictionary<Guid, BusinessHours>? hours = null;
        if (request.BusinessHours)
        {
            hours = (await db.Teams.AsNoTracking().Select(t => new { t.Id, t.TimeZone, t.HoursJson }).ToListAsync(cancellationToken))
                .ToDictionary(t => t.Id, t => BusinessHours.FromStored(t.TimeZone, t.HoursJson));
        }

        var window = new ReportWindow(fromUtc, toUtc, zone, request.BusinessHours, hours);
        var facts = await FilteredAsync(actor, request, cancellationToken);
        var rows = await Project(facts.Where(f => (f.CreatedAt >= fromUtc && f.CreatedAt < toUtc) || (f.ClosedAt >= fromUtc && f.ClosedAt < toUtc)))
            .ToListAsync(cancellationToken);
        var range = new ReportRange(from.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture), to.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture), zone.Id, request.BusinessHours);
        return (range, window, rows);
    }

    /// <summary>The columns report math reads, as a projection EF Core translates (a narrow SELECT).</summary>
    public static IQueryable<FactRow> Project(IQueryable<ConversationFacts> facts) =>
        facts.Select(f => new FactRow
        {
            ConversationId = f.ConversationId,
            SiteId = f.SiteId,
            TeamId = f.TeamId,
            AssigneeId = f.AssigneeId,
            Intent = f.Intent,
            CreatedAt = f.CreatedAt,
            FirstQueuedAt = f.FirstQueuedAt,
            FirstAssignedAt = f.FirstAssignedAt,
            FirstResponseAt = f.FirstResponseAt,
            ClosedAt = f.ClosedAt,
            MessagesIn = f.MessagesIn,
            MessagesOut = f.MessagesOut,
            BotStarted = f.BotStarted,
            HandedOff = f.HandedOff,
            Abandoned = f.Abandoned,
            CsatScore = f.CsatScore,
        });

    /// <summary>The caller's sandbox narrowed by the request's filters (the window is applied by the caller).</summary>
    private async Task<IQueryable<ConversationFacts>> FilteredAsync(Actor actor, ReportRequest request, CancellationToken cancellationToken)
    {
        var facts = await access.ReportFactsAsync(actor, cancellationToken);
        if (request.TeamId is { } team)
        {
            facts = facts.Where(f => f.TeamId == team);
        }

        if (request.AgentId is { } agent)
        {
            facts = facts.Where(f => f.AssigneeId == agent);
        }

        if (request.SiteId is { } site)
        {
            facts = facts.Where(f => f.SiteId == site);
        }

        if (request.LabelId is { } label)
        {
            facts = facts.Where(f => db.ConversationLabels.Any(l => l.ConversationId == f.ConversationId && l.LabelId == label));
        }

        return facts;
    }

    /// <summary>Unknown ids, and ids outside the caller's sandbox, are refused alike (400 report_filter_unknown).</summary>
    private async Task ValidateFiltersAsync(Actor actor, ReportRequest request, CancellationToken cancellationToken)
    {
        var scope = await access.ScopeAsync(actor, cancellationToken);
        if (request.TeamId is { } team
            && (!await db.Teams.AnyAsync(t => t.Id == team, cancellationToken) || !((scope.IsSupervisor && scope.SeesAllDepartments) || scope.TeamIds.Contains(team))))
        {
            throw UnknownFilter("team");
        }

        if (request.AgentId is { } agent)
        {
            var teams = scope.TeamIds.ToList();
            var visible = agent == scope.UserId
                || (scope.IsSupervisor && (scope.SeesAllDepartments
                    ? await db.Users.AnyAsync(u => u.Id == agent, cancellationToken)
                    : await db.TeamMembers.AnyAsync(m => m.UserId == agent && teams.Contains(m.TeamId), cancellationToken)));
            if (!visible)
            {
                throw UnknownFilter("agent");
            }
        }

        if (request.SiteId is { } site && !await db.Sites.AnyAsync(s => s.Id == site, cancellationToken))
        {
            throw UnknownFilter("site");
        }

        if (request.LabelId is { } label && !await db.Labels.AnyAsync(l => l.Id == label, cancellationToken))
        {
            throw UnknownFilter("label");
        }
    }

    private static ParleyException UnknownFilter(string what) =>
        new(ErrorCatalogue.ReportFilterUnknown, $"No such {what}, or not one you may report on.");

    public static (DateOnly From, DateOnly To, TimeZoneInfo Zone) ParseRange(ReportRequest request, int maxDays)
    {
        var zone = BusinessHours.ParseTimeZone(string.IsNullOrWhiteSpace(request.Tz) ? "UTC" : request.Tz);
        if (!DateOnly.TryParseExact(request.From, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var from)
            || !DateOnly.TryParseExact(request.To, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var to))
        {
            throw new ParleyException(ErrorCatalogue.InvalidReportRange, "from and to are local dates (yyyy-MM-dd).");
        }

        if (to < from)
        {
            throw new ParleyException(ErrorCatalogue.InvalidReportRange, "to is before from.");
        }

        if (to.DayNumber - from.DayNumber + 1 > maxDays)
        {
            throw new ParleyException(ErrorCatalogue.InvalidReportRange, $"The range is longer than {maxDays} days.");
        }

        return (from, to, zone);
    }

    /// <summary>Local midnight as UTC (the first local instant of the day where a DST change skips midnight).</summary>
    public static DateTime LocalMidnightUtc(DateOnly date, TimeZoneInfo zone) => BusinessHours.LocalToUtc(date.ToDateTime(TimeOnly.MinValue, DateTimeKind.Unspecified), zone);

    private static List<string> BucketKeys(ReportRange range, bool hourly)
    {
        var from = DateOnly.ParseExact(range.From, "yyyy-MM-dd", CultureInfo.InvariantCulture);
        var to = DateOnly.ParseExact(range.To, "yyyy-MM-dd", CultureInfo.InvariantCulture);
        var keys = new List<string>();
        for (var d = from; d <= to; d = d.AddDays(1))
        {
            if (!hourly)
            {
                keys.Add(d.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture));
                continue;
            }

            for (var h = 0; h < 24; h++)
            {
                keys.Add(string.Create(CultureInfo.InvariantCulture, $"{d:yyyy-MM-dd}T{h:00}:00"));
            }
        }

        return keys;
    }

    private static string BucketOf(DateTime utc, TimeZoneInfo zone, bool hourly)
    {
        var local = TimeZoneInfo.ConvertTimeFromUtc(utc, zone);
        return hourly
            ? local.ToString("yyyy-MM-dd'T'HH':00'", CultureInfo.InvariantCulture)
            : local.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
    }

    /// <summary>A bucket as a window of its own (same zone and business hours), so its rows count by the same rules.</summary>
    private static ReportWindow BucketWindow(string key, bool hourly, ReportWindow whole)
    {
        var day = DateOnly.ParseExact(key[..10], "yyyy-MM-dd", CultureInfo.InvariantCulture);
        var local = hourly
            ? day.ToDateTime(new TimeOnly(int.Parse(key.AsSpan(11, 2), CultureInfo.InvariantCulture), 0), DateTimeKind.Unspecified)
            : day.ToDateTime(TimeOnly.MinValue, DateTimeKind.Unspecified);
        var start = BusinessHours.LocalToUtc(local, whole.Zone);
        var end = BusinessHours.LocalToUtc(hourly ? local.AddHours(1) : local.AddDays(1), whole.Zone);
        return whole.Narrow(start, end);
    }
}
