using Parley.Server.Routing;

namespace Parley.Server.Features.Reports;

/// <summary>The columns of a <see cref="Data.ConversationFacts"/> row that report math reads.</summary>
public sealed class FactRow
{
    public Guid ConversationId { get; init; }

    public Guid SiteId { get; init; }

    public Guid? TeamId { get; init; }

    public Guid? AssigneeId { get; init; }

    public string? Intent { get; init; }

    public DateTime CreatedAt { get; init; }

    public DateTime? FirstQueuedAt { get; init; }

    public DateTime? FirstAssignedAt { get; init; }

    public DateTime? FirstResponseAt { get; init; }

    public DateTime? ClosedAt { get; init; }

    public int MessagesIn { get; init; }

    public int MessagesOut { get; init; }

    public bool BotStarted { get; init; }

    public bool HandedOff { get; init; }

    public bool Abandoned { get; init; }

    public int? CsatScore { get; init; }

    /// <summary>When a person was first needed: first queued, else first assigned (taken straight from the bot), else created.</summary>
    public DateTime RequestedAt => FirstQueuedAt ?? FirstAssignedAt ?? CreatedAt;

    /// <summary>Closed without ever being assigned after waiting for a person: it left the queue without an agent.</summary>
    public bool Missed => ClosedAt is not null && FirstQueuedAt is not null && FirstAssignedAt is null;

    /// <summary>The bot started it, never let a person in, and it was closed.</summary>
    public bool BotResolved => BotStarted && !HandedOff && FirstAssignedAt is null && ClosedAt is not null;
}

/// <summary>
/// Where a report's conversations count: the window in UTC and, for business-hours-only reports, each department's
/// open intervals. Durations are clipped to open time; a conversation created while its department was closed does
/// not count at all. Conversations without a department (or whose department has no hours) are always open.
/// </summary>
public sealed class ReportWindow
{
    // Durations that run past the window are still clipped for this long after it.
    private static readonly TimeSpan Tail = TimeSpan.FromDays(90);

    private readonly Dictionary<Guid, OpenCalendar> _calendars;

    public ReportWindow(DateTime fromUtc, DateTime toUtc, TimeZoneInfo zone, bool businessHoursOnly, IReadOnlyDictionary<Guid, BusinessHours>? hours = null)
    {
        FromUtc = fromUtc;
        ToUtc = toUtc;
        Zone = zone;
        BusinessHoursOnly = businessHoursOnly;
        _calendars = [];
        if (businessHoursOnly && hours is not null)
        {
            foreach (var (team, schedule) in hours)
            {
                _calendars[team] = new OpenCalendar(schedule.OpenIntervals(fromUtc - TimeSpan.FromDays(1), toUtc + Tail));
            }
        }
    }

    private ReportWindow(ReportWindow whole, DateTime fromUtc, DateTime toUtc)
    {
        FromUtc = fromUtc;
        ToUtc = toUtc;
        Zone = whole.Zone;
        BusinessHoursOnly = whole.BusinessHoursOnly;
        _calendars = whole._calendars;
    }

    /// <summary>A part of this window (a time-series bucket) with the same zone and business hours.</summary>
    public ReportWindow Narrow(DateTime fromUtc, DateTime toUtc) => new(this, fromUtc, toUtc);

    public DateTime FromUtc { get; }

    public DateTime ToUtc { get; }

    public TimeZoneInfo Zone { get; }

    public bool BusinessHoursOnly { get; }

    public bool Contains(DateTime? instant) => instant is { } t && t >= FromUtc && t < ToUtc;

    /// <summary>Whether the conversation counts at all (business hours: created while its department was open).</summary>
    public bool Counts(FactRow row) =>
        !BusinessHoursOnly || row.TeamId is not { } team || !_calendars.TryGetValue(team, out var calendar) || calendar.IsOpen(row.CreatedAt);

    /// <summary>Seconds from start to end; business hours only: the open seconds between them. Never negative.</summary>
    public double Seconds(FactRow row, DateTime start, DateTime end)
    {
        if (end <= start)
        {
            return 0;
        }

        return BusinessHoursOnly && row.TeamId is { } team && _calendars.TryGetValue(team, out var calendar)
            ? calendar.OpenSeconds(start, end)
            : (end - start).TotalSeconds;
    }

    /// <summary>Open intervals with prefix sums: open time between two instants in O(log n).</summary>
    private sealed class OpenCalendar
    {
        private readonly DateTime[] _starts;
        private readonly DateTime[] _ends;
        private readonly double[] _before; // open seconds before interval i

        public OpenCalendar(List<(DateTime Start, DateTime End)> intervals)
        {
            _starts = intervals.Select(i => i.Start).ToArray();
            _ends = intervals.Select(i => i.End).ToArray();
            _before = new double[intervals.Count + 1];
            for (var i = 0; i < intervals.Count; i++)
            {
                _before[i + 1] = _before[i] + (intervals[i].End - intervals[i].Start).TotalSeconds;
            }
        }

        public bool IsOpen(DateTime instant)
        {
            var i = LastStartingAtOrBefore(instant);
            return i >= 0 && instant < _ends[i];
        }

        public double OpenSeconds(DateTime start, DateTime end) => OpenBefore(end) - OpenBefore(start);

        private double OpenBefore(DateTime instant)
        {
            var i = LastStartingAtOrBefore(instant);
            if (i < 0)
            {
                return 0;
            }

            var inside = instant < _ends[i] ? (instant - _starts[i]).TotalSeconds : (_ends[i] - _starts[i]).TotalSeconds;
            return _before[i] + inside;
        }

        private int LastStartingAtOrBefore(DateTime instant)
        {
            var index = Array.BinarySearch(_starts, instant);
            return index >= 0 ? index : ~index - 1;
        }
    }
}

/// <summary>
/// The report arithmetic, pure: counts, nearest-rank percentiles, CSAT, bot rates over a set of fact rows.
/// Volume and waiting metrics count conversations created in the window; closing metrics (closed, resolution,
/// handle time, CSAT, bot-resolved) count conversations closed in it. docs/reports.md defines each.
/// </summary>
public static class ReportMath
{
    public static ReportMetrics Compute(IEnumerable<FactRow> rows, ReportWindow window)
    {
        int created = 0, closed = 0, missed = 0, abandoned = 0, messagesIn = 0, messagesOut = 0;
        int botConversations = 0, handedOff = 0, botClosed = 0, botResolved = 0;
        var firstResponse = new List<double>();
        var queueWait = new List<double>();
        var resolution = new List<double>();
        var handle = new List<double>();
        var csat = new int[5];
        foreach (var row in rows)
        {
            if (!window.Counts(row))
            {
                continue;
            }

            if (window.Contains(row.CreatedAt))
            {
                created++;
                missed += row.Missed ? 1 : 0;
                abandoned += row.Abandoned ? 1 : 0;
                messagesIn += row.MessagesIn;
                messagesOut += row.MessagesOut;
                if (FirstResponseSeconds(row, window) is { } response)
                {
                    firstResponse.Add(response);
                }

                if (QueueWaitSeconds(row, window) is { } wait)
                {
                    queueWait.Add(wait);
                }

                if (row.BotStarted)
                {
                    botConversations++;
                    handedOff += row.HandedOff ? 1 : 0;
                }
            }

            if (window.Contains(row.ClosedAt))
            {
                closed++;
                resolution.Add(window.Seconds(row, row.CreatedAt, row.ClosedAt!.Value));
                if (row.FirstAssignedAt is { } assigned)
                {
                    handle.Add(window.Seconds(row, assigned, row.ClosedAt!.Value));
                }

                if (row.CsatScore is >= 1 and <= 5)
                {
                    csat[row.CsatScore.Value - 1]++;
                }

                if (row.BotStarted)
                {
                    botClosed++;
                    botResolved += row.BotResolved ? 1 : 0;
                }
            }
        }

        return Metrics(created, closed, missed, abandoned, messagesIn, messagesOut, Stats(firstResponse), Stats(resolution), Stats(queueWait), Stats(handle), csat, botConversations, handedOff, botClosed, botResolved);
    }

    /// <summary>The metrics from their counters and duration statistics: CSAT average and response rate, bot rates.</summary>
    public static ReportMetrics Metrics(
        int created, int closed, int missed, int abandoned, int messagesIn, int messagesOut,
        DurationStats firstResponse, DurationStats resolution, DurationStats queueWait, DurationStats handle,
        int[] csat, int botConversations, int handedOff, int botClosed, int botResolved)
    {
        var responses = csat.Sum();
        return new ReportMetrics
        {
            Created = created,
            Closed = closed,
            Missed = missed,
            Abandoned = abandoned,
            MessagesIn = messagesIn,
            MessagesOut = messagesOut,
            FirstResponse = firstResponse,
            Resolution = resolution,
            QueueWait = queueWait,
            HandleTime = handle,
            Csat = new CsatStats(
                responses,
                responses == 0 ? null : Round((double)csat.Select((n, i) => n * (i + 1)).Sum() / responses, 2),
                closed == 0 ? null : Round((double)responses / closed, 4),
                csat),
            BotConversations = botConversations,
            HandedOff = handedOff,
            BotResolved = botResolved,
            HandOffRate = botConversations == 0 ? null : Round((double)handedOff / botConversations, 4),
            BotResolvedRate = botClosed == 0 ? null : Round((double)botResolved / botClosed, 4),
        };
    }

    /// <summary>First response time: from when a person was first needed to the first visible message of a person.</summary>
    public static double? FirstResponseSeconds(FactRow row, ReportWindow window) =>
        row.FirstResponseAt is { } responded ? window.Seconds(row, row.RequestedAt, responded) : null;

    /// <summary>Queue wait: from first waiting for a person to first assigned to one.</summary>
    public static double? QueueWaitSeconds(FactRow row, ReportWindow window) =>
        row.FirstQueuedAt is { } queued && row.FirstAssignedAt is { } assigned ? window.Seconds(row, queued, assigned) : null;

    /// <summary>Count, nearest-rank median and p90, and mean, in seconds (one decimal).</summary>
    public static DurationStats Stats(List<double> values)
    {
        if (values.Count == 0)
        {
            return new DurationStats(0, null, null, null);
        }

        values.Sort();
        return new DurationStats(values.Count, Round(NearestRank(values, 0.5), 1), Round(NearestRank(values, 0.9), 1), Round(values.Average(), 1));
    }

    /// <summary>The smallest value with at least <paramref name="p"/> of the values at or below it (nearest rank).</summary>
    public static double NearestRank(List<double> sorted, double p) =>
        sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Count) - 1, 0, sorted.Count - 1)];

    private static double Round(double value, int digits) => Math.Round(value, digits, MidpointRounding.AwayFromZero);
}
