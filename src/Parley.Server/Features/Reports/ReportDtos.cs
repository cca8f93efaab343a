namespace Parley.Server.Features.Reports;

/// <summary>A duration metric in seconds: how many conversations it covers, nearest-rank median and p90, mean.</summary>
public sealed record DurationStats(int Count, double? Median, double? P90, double? Average);

/// <summary>Ratings of the conversations closed in the window; <c>Distribution[0]</c> counts score 1 … [4] score 5.</summary>
public sealed record CsatStats(int Responses, double? Average, double? ResponseRate, IReadOnlyList<int> Distribution);

/// <summary>Every metric of a report, for the whole window, one time bucket or one breakdown row (docs/reports.md).</summary>
public sealed record ReportMetrics
{
    public int Created { get; init; }

    public int Closed { get; init; }

    public int Missed { get; init; }

    public int Abandoned { get; init; }

    public int MessagesIn { get; init; }

    public int MessagesOut { get; init; }

    public required DurationStats FirstResponse { get; init; }

    public required DurationStats Resolution { get; init; }

    public required DurationStats QueueWait { get; init; }

    public required DurationStats HandleTime { get; init; }

    public required CsatStats Csat { get; init; }

    public int BotConversations { get; init; }

    public int HandedOff { get; init; }

    public int BotResolved { get; init; }

    public double? HandOffRate { get; init; }

    public double? BotResolvedRate { get; init; }
}

/// <summary>The report's window as asked: local dates (inclusive) in an IANA time zone.</summary>
public sealed record ReportRange(string From, string To, string TimeZone, bool BusinessHours);

public sealed record ReportSummaryDto(ReportRange Range, ReportMetrics Metrics);

/// <summary>One bucket: a local day (<c>2026-03-01</c>) or hour (<c>2026-03-01T13:00</c>).</summary>
public sealed record TimePointDto(string Start, ReportMetrics Metrics);

public sealed record TimeSeriesDto(ReportRange Range, string Interval, IReadOnlyList<TimePointDto> Points);

/// <summary>One row of a breakdown; <c>Key</c> null is "none" (unassigned, no department, no intent). <c>Daily</c>: created per local day, for sparklines.</summary>
public sealed record BreakdownRowDto(string? Key, string? Name, ReportMetrics Metrics, IReadOnlyList<int> Daily);

public sealed record BreakdownDto(ReportRange Range, string By, IReadOnlyList<BreakdownRowDto> Rows);

public sealed record CsatCommentDto(Guid ConversationId, int Score, string Comment, DateTime RatedAt, Guid? AgentId, string? AgentName);

public sealed record CsatReportDto(ReportRange Range, CsatStats Csat, IReadOnlyList<CsatCommentDto> Comments);

/// <summary>A histogram bucket [From, To) in seconds (To null: and above).</summary>
public sealed record DurationBucketDto(double FromSeconds, double? ToSeconds, int FirstResponse, int QueueWait);

public sealed record ResponseTimesDto(ReportRange Range, DurationStats FirstResponse, DurationStats QueueWait, IReadOnlyList<DurationBucketDto> Buckets);
