using System.Security.Claims;
using Microsoft.AspNetCore.Http.HttpResults;
using Parley.Server.Events;
using Parley.Server.Features.Csat;
using Parley.Server.Infrastructure;
using Parley.Server.Messaging;
using Parley.Server.Realtime;

namespace Parley.Server.Features.Reports;

/// <summary>The query string every report takes.</summary>
public sealed record ReportParameters
{
    /// <summary>First local date, yyyy-MM-dd.</summary>
    public string? From { get; init; }

    /// <summary>Last local date (inclusive), yyyy-MM-dd.</summary>
    public string? To { get; init; }

    /// <summary>IANA time zone of the dates and buckets; default UTC.</summary>
    public string? Tz { get; init; }

    /// <summary>Count only conversations created in their department's business hours, and only open time in durations.</summary>
    public bool? BusinessHours { get; init; }

    public Guid? TeamId { get; init; }

    public Guid? AgentId { get; init; }

    public Guid? SiteId { get; init; }

    public Guid? LabelId { get; init; }

    public ReportRequest ToRequest() => new(From, To, Tz, BusinessHours ?? false, TeamId, AgentId, SiteId, LabelId);
}

/// <summary>Reports (#18): REST under /api/v1/reports and CSV export of each table. docs/reports.md.</summary>
public static class ReportsApi
{
    private const string Common = "from/to: local dates (yyyy-MM-dd, inclusive) in tz (IANA, default UTC), at most 366 days. businessHours=true counts only conversations "
        + "created in their department's business hours and only open time in durations. Filters: teamId, agentId, siteId, labelId. Sandboxed: a supervisor reports on "
        + "his departments, an agent on himself. 400 invalid_report_range, invalid_time_zone, report_filter_unknown.";

    public static IEndpointRouteBuilder MapReportsApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/v1/reports")
            .WithTags("Reports")
            .RequireAuthorization(ParleyClaims.AgentPolicy)
            .WithParleyErrors();

        api.MapGet("/summary", SummaryAsync).WithName("ReportSummary")
            .WithSummary("Every metric over the range: volume, missed/abandoned, response and handle times, CSAT, bot rates")
            .WithDescription(Common);
        api.MapGet("/timeseries", TimeSeriesAsync).WithName("ReportTimeSeries")
            .WithSummary("The metrics per local day or hour")
            .WithDescription("interval: day (default) or hour (at most 31 days). " + Common);
        api.MapGet("/breakdown", BreakdownAsync).WithName("ReportBreakdown")
            .WithSummary("The metrics per agent, department, site, label or intent, with created-per-day for sparklines")
            .WithDescription("by: agent, department, site, label or intent. " + Common);
        api.MapGet("/csat", CsatAsync).WithName("ReportCsat")
            .WithSummary("CSAT distribution and response rate with the newest comments (at most 200)")
            .WithDescription(Common);
        api.MapGet("/response-times", ResponseTimesAsync).WithName("ReportResponseTimes")
            .WithSummary("Distribution of first response and queue wait times")
            .WithDescription("Buckets [fromSeconds, toSeconds). " + Common);
        api.MapGet("/export/{table}", ExportAsync).WithName("ReportExport")
            .WithSummary("CSV of one report table (UTF-8 with BOM; cells starting with = + - @ are escaped)")
            .WithDescription("table: summary, timeseries (with interval), breakdown (with by), csat (the comments), response-times. " + Common)
            .Produces(StatusCodes.Status200OK, contentType: "text/csv");
        return app;
    }

    internal static async Task<Ok<ReportSummaryDto>> SummaryAsync([AsParameters] ReportParameters query, ReportService reports, ClaimsPrincipal user, CancellationToken cancellationToken) =>
        TypedResults.Ok(await reports.SummaryAsync(Actor.Agent(user), query.ToRequest(), cancellationToken));

    internal static async Task<Ok<TimeSeriesDto>> TimeSeriesAsync(
        [AsParameters] ReportParameters query, ReportService reports, ClaimsPrincipal user, CancellationToken cancellationToken, string? interval = null) =>
        TypedResults.Ok(await reports.TimeSeriesAsync(Actor.Agent(user), query.ToRequest(), interval, cancellationToken));

    internal static async Task<Ok<BreakdownDto>> BreakdownAsync(
        [AsParameters] ReportParameters query, ReportService reports, ClaimsPrincipal user, CancellationToken cancellationToken, string? by = null) =>
        TypedResults.Ok(await reports.BreakdownAsync(Actor.Agent(user), query.ToRequest(), by, cancellationToken));

    internal static async Task<Ok<CsatReportDto>> CsatAsync([AsParameters] ReportParameters query, ReportService reports, ClaimsPrincipal user, CancellationToken cancellationToken) =>
        TypedResults.Ok(await reports.CsatAsync(Actor.Agent(user), query.ToRequest(), cancellationToken));

    internal static async Task<Ok<ResponseTimesDto>> ResponseTimesAsync([AsParameters] ReportParameters query, ReportService reports, ClaimsPrincipal user, CancellationToken cancellationToken) =>
        TypedResults.Ok(await reports.ResponseTimesAsync(Actor.Agent(user), query.ToRequest(), cancellationToken));

    internal static async Task<FileContentHttpResult> ExportAsync(
        string table, [AsParameters] ReportParameters query, ReportService reports, ClaimsPrincipal user, CancellationToken cancellationToken,
        string? interval = null, string? by = null)
    {
        var actor = Actor.Agent(user);
        var request = query.ToRequest();
        var csv = table switch
        {
            "summary" => ReportCsv.Summary(await reports.SummaryAsync(actor, request, cancellationToken)),
            "timeseries" => ReportCsv.TimeSeries(await reports.TimeSeriesAsync(actor, request, interval, cancellationToken)),
            "breakdown" => ReportCsv.Breakdown(await reports.BreakdownAsync(actor, request, by, cancellationToken)),
            "csat" => ReportCsv.Csat(await reports.CsatAsync(actor, request, cancellationToken)),
            "response-times" => ReportCsv.ResponseTimes(await reports.ResponseTimesAsync(actor, request, cancellationToken)),
            _ => throw new ParleyException(ErrorCatalogue.InvalidReportOption, "table must be summary, timeseries, breakdown, csat or response-times."),
        };
        var name = table == "breakdown" && by is not null ? $"parley-{table}-{by}" : $"parley-{table}";
        return TypedResults.File(csv, "text/csv; charset=utf-8", $"{name}-{request.From}-{request.To}.csv");
    }
}
