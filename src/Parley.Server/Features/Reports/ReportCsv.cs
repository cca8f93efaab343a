using System.Globalization;
using System.Text;

namespace Parley.Server.Features.Reports;

/// <summary>
/// CSV export of the report tables: RFC 4180 quoting, UTF-8 with a byte order mark (so Excel reads Chinese names
/// correctly), and text cells that a spreadsheet would run as a formula (leading = + - @, tab or carriage return)
/// prefixed with an apostrophe. Numbers are written invariant and never altered.
/// </summary>
public static class ReportCsv
{
    private static readonly string[] MetricHeaders =
    [
        "created", "closed", "missed", "abandoned", "messages_in", "messages_out",
        "first_response_count", "first_response_median_s", "first_response_p90_s", "first_response_avg_s",
        "resolution_count", "resolution_median_s", "resolution_p90_s", "resolution_avg_s",
        "queue_wait_count", "queue_wait_median_s", "queue_wait_p90_s", "queue_wait_avg_s",
        "handle_count", "handle_median_s", "handle_p90_s", "handle_avg_s",
        "csat_responses", "csat_average", "csat_response_rate", "csat_1", "csat_2", "csat_3", "csat_4", "csat_5",
        "bot_conversations", "handed_off", "bot_resolved", "hand_off_rate", "bot_resolved_rate",
    ];

    public static byte[] Summary(ReportSummaryDto summary) =>
        Write(["from", "to", "time_zone", "business_hours", .. MetricHeaders],
            [[summary.Range.From, summary.Range.To, summary.Range.TimeZone, summary.Range.BusinessHours, .. Metrics(summary.Metrics)]]);

    public static byte[] TimeSeries(TimeSeriesDto series) =>
        Write(["start", .. MetricHeaders], series.Points.Select(p => (object?[])[p.Start, .. Metrics(p.Metrics)]));

    public static byte[] Breakdown(BreakdownDto breakdown) =>
        Write([breakdown.By, "name", .. MetricHeaders], breakdown.Rows.Select(r => (object?[])[r.Key, r.Name, .. Metrics(r.Metrics)]));

    public static byte[] Csat(CsatReportDto csat) =>
        Write(["conversation_id", "score", "comment", "rated_at", "agent"],
            csat.Comments.Select(c => (object?[])[c.ConversationId.ToString(), c.Score, c.Comment, c.RatedAt.ToString("O", CultureInfo.InvariantCulture), c.AgentName]));

    public static byte[] ResponseTimes(ResponseTimesDto times) =>
        Write(["from_s", "to_s", "first_response", "queue_wait"], times.Buckets.Select(b => (object?[])[b.FromSeconds, b.ToSeconds, b.FirstResponse, b.QueueWait]));

    private static object?[] Metrics(ReportMetrics m) =>
    [
        m.Created, m.Closed, m.Missed, m.Abandoned, m.MessagesIn, m.MessagesOut,
        .. Duration(m.FirstResponse), .. Duration(m.Resolution), .. Duration(m.QueueWait), .. Duration(m.HandleTime),
        m.Csat.Responses, m.Csat.Average, m.Csat.ResponseRate, .. m.Csat.Distribution.Cast<object?>(),
        m.BotConversations, m.HandedOff, m.BotResolved, m.HandOffRate, m.BotResolvedRate,
    ];

    private static object?[] Duration(DurationStats d) => [d.Count, d.Median, d.P90, d.Average];

    public static byte[] Write(IReadOnlyList<string> headers, IEnumerable<object?[]> rows)
    {
        var sb = new StringBuilder();
        sb.AppendJoin(',', headers.Select(Cell)).Append("\r\n");
        foreach (var row in rows)
        {
            sb.AppendJoin(',', row.Select(Cell)).Append("\r\n");
        }

        return [.. Encoding.UTF8.GetPreamble(), .. Encoding.UTF8.GetBytes(sb.ToString())];
    }

    /// <summary>One cell: numbers invariant; text escaped against formula injection, then quoted when it needs to be.</summary>
    public static string Cell(object? value)
    {
        var text = value switch
        {
            null => "",
            bool b => b ? "true" : "false",
            IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
            _ => Defuse(value.ToString() ?? ""),
        };
        return text.IndexOfAny([',', '"', '\r', '\n']) >= 0 ? "\"" + text.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"" : text;
    }

    /// <summary>A spreadsheet runs a cell starting with = + - @ (or tab/CR before one) as a formula; an apostrophe makes it text.</summary>
    public static string Defuse(string text) =>
        text.Length > 0 && text[0] is '=' or '+' or '-' or '@' or '\t' or '\r' ? "'" + text : text;
}
