using Parley.Data;

namespace Parley.Server.Features.Reports;

/// <summary>
/// The fixed buckets of the rollups' duration histograms: one bucket per whole second below one hour, then buckets
/// 1 % wide (each edge 1.01 times the one before) up to about 870 days. A percentile read from a histogram is the
/// lower edge of the bucket holding the nearest-rank value: below one hour that is the value rounded down to the whole
/// second; above, at most 1 % below the value (docs/reports.md, "Hourly rollups").
/// </summary>
public static class ReportHistogram
{
    public const int LinearSeconds = 3600;
    public const int LogBuckets = 1000;
    public const int Count = LinearSeconds + LogBuckets;
    private const double Ratio = 1.01;
    private static readonly double LogRatio = Math.Log(Ratio);

    public static int BucketOf(double seconds)
    {
        if (seconds < LinearSeconds)
        {
            return Math.Max(0, (int)Math.Floor(seconds));
        }

        var k = (int)Math.Floor(Math.Log(seconds / LinearSeconds) / LogRatio);
        return LinearSeconds + Math.Clamp(k, 0, LogBuckets - 1);
    }

    public static double LowerEdge(int bucket) =>
        bucket < LinearSeconds ? bucket : LinearSeconds * Math.Pow(Ratio, bucket - LinearSeconds);
}

/// <summary>What one rollup row is for (<see cref="ReportRollup.Level"/>, department, site, agent).</summary>
public readonly record struct RollupKey(int Level, Guid TeamId, Guid SiteId, Guid AgentId)
{
    public static RollupKey Of(ReportRollup r) => new(r.Level, r.TeamId, r.SiteId, r.AgentId);

    /// <summary>A closed conversation's key at <paramref name="level"/>.</summary>
    public static RollupKey Of(FactRow row, int level) =>
        new(level, row.TeamId ?? Guid.Empty, row.SiteId, level == ReportRollup.AgentLevel ? row.AssigneeId ?? Guid.Empty : Guid.Empty);
}

/// <summary>
/// Sums of report metrics that can be added up: counters, duration sums and histograms. Built from fact rows (the
/// materialiser, and reports for the hours not rolled up yet) or from <see cref="ReportRollup"/> rows, and turned into
/// <see cref="ReportMetrics"/> with percentiles read from the histograms. The per-row rules are
/// <see cref="ReportMath"/>'s (created-side and closing-side metrics); only the percentiles differ, by the bucket
/// precision of <see cref="ReportHistogram"/>.
/// </summary>
public sealed class ReportRollupTotals
{
    private const int FirstResponse = 0, QueueWait = 1, Resolution = 2, Handle = 3, Durations = 4;

    private readonly int[]?[] _histograms = new int[Durations][];
    private readonly int[] _counts = new int[Durations];
    private readonly double[] _sums = new double[Durations];
    private readonly int[] _csat = new int[5];
    private int _created, _missed, _abandoned, _botConversations, _handedOff, _closed, _botClosed, _botResolved;
    private long _messagesIn, _messagesOut;

    public bool IsEmpty => _created == 0 && _closed == 0;

    /// <summary>Adds the row's created-side metrics (volume, waiting, messages, bot start and hand-off).</summary>
    public void AddCreated(FactRow row, ReportWindow window)
    {
        _created++;
        _missed += row.Missed ? 1 : 0;
        _abandoned += row.Abandoned ? 1 : 0;
        _messagesIn += row.MessagesIn;
        _messagesOut += row.MessagesOut;
        if (ReportMath.FirstResponseSeconds(row, window) is { } response)
        {
            Add(FirstResponse, response);
        }

        if (ReportMath.QueueWaitSeconds(row, window) is { } wait)
        {
            Add(QueueWait, wait);
        }

        if (row.BotStarted)
        {
            _botConversations++;
            _handedOff += row.HandedOff ? 1 : 0;
        }
    }

    /// <summary>Adds the row's closing metrics (closed, resolution, handle time, CSAT, bot-resolved).</summary>
    public void AddClosed(FactRow row, ReportWindow window)
    {
        _closed++;
        Add(Resolution, window.Seconds(row, row.CreatedAt, row.ClosedAt!.Value));
        if (row.FirstAssignedAt is { } assigned)
        {
            Add(Handle, window.Seconds(row, assigned, row.ClosedAt!.Value));
        }

        if (row.CsatScore is >= 1 and <= 5)
        {
            _csat[row.CsatScore.Value - 1]++;
        }

        if (row.BotStarted)
        {
            _botClosed++;
            _botResolved += row.BotResolved ? 1 : 0;
        }
    }

    public void Add(ReportRollup r)
    {
        _created += r.Created;
        _missed += r.Missed;
        _abandoned += r.Abandoned;
        _messagesIn += r.MessagesIn;
        _messagesOut += r.MessagesOut;
        _botConversations += r.BotConversations;
        _handedOff += r.HandedOff;
        _closed += r.Closed;
        _botClosed += r.BotClosed;
        _botResolved += r.BotResolved;
        _csat[0] += r.Csat1;
        _csat[1] += r.Csat2;
        _csat[2] += r.Csat3;
        _csat[3] += r.Csat4;
        _csat[4] += r.Csat5;
        (int Count, double Sum)[] durations = [(r.FirstResponseCount, r.FirstResponseSum), (r.QueueWaitCount, r.QueueWaitSum), (r.ResolutionCount, r.ResolutionSum), (r.HandleCount, r.HandleSum)];
        for (var d = 0; d < Durations; d++)
        {
            _counts[d] += durations[d].Count;
            _sums[d] += durations[d].Sum;
        }

        // Histograms: per duration, the number of non-empty buckets, then (bucket - previous bucket, count) pairs.
        var bytes = r.Histograms;
        var at = 0;
        for (var d = 0; d < Durations && at < bytes.Length; d++)
        {
            var pairs = ReadVarint(bytes, ref at);
            var bucket = 0;
            for (var i = 0; i < pairs; i++)
            {
                bucket += ReadVarint(bytes, ref at);
                Histogram(d)[bucket] += ReadVarint(bytes, ref at);
            }
        }
    }

    public ReportRollup ToRollup(DateTime hour, int span, RollupKey key)
    {
        var bytes = new List<byte>();
        for (var d = 0; d < Durations; d++)
        {
            var histogram = _histograms[d];
            var pairs = histogram is null ? 0 : histogram.Count(n => n > 0);
            WriteVarint(bytes, pairs);
            var previous = 0;
            for (var b = 0; pairs > 0 && b < histogram!.Length; b++)
            {
                if (histogram[b] > 0)
                {
                    WriteVarint(bytes, b - previous);
                    WriteVarint(bytes, histogram[b]);
                    previous = b;
                }
            }
        }

        return new ReportRollup
        {
            Level = key.Level,
            Hour = hour,
            Span = span,
            TeamId = key.TeamId,
            SiteId = key.SiteId,
            AgentId = key.AgentId,
            Created = _created,
            Missed = _missed,
            Abandoned = _abandoned,
            MessagesIn = _messagesIn,
            MessagesOut = _messagesOut,
            BotConversations = _botConversations,
            HandedOff = _handedOff,
            FirstResponseCount = _counts[FirstResponse],
            FirstResponseSum = _sums[FirstResponse],
            QueueWaitCount = _counts[QueueWait],
            QueueWaitSum = _sums[QueueWait],
            Closed = _closed,
            ResolutionCount = _counts[Resolution],
            ResolutionSum = _sums[Resolution],
            HandleCount = _counts[Handle],
            HandleSum = _sums[Handle],
            Csat1 = _csat[0],
            Csat2 = _csat[1],
            Csat3 = _csat[2],
            Csat4 = _csat[3],
            Csat5 = _csat[4],
            BotClosed = _botClosed,
            BotResolved = _botResolved,
            Histograms = [.. bytes],
        };
    }

    /// <summary>
    /// The first-response and queue-wait counts in each range of <paramref name="bounds"/> (ascending whole seconds, the
    /// last at most one hour): exact, since below one hour a histogram bucket is one whole second and every bucket
    /// above lies past the last bound.
    /// </summary>
    public (int[] FirstResponse, int[] QueueWait) CountsWithin(double[] bounds)
    {
        if (bounds.Any(b => b != Math.Floor(b) || b > ReportHistogram.LinearSeconds))
        {
            throw new ArgumentException("Bounds must be whole seconds up to one hour.", nameof(bounds));
        }

        int[] Regroup(int d)
        {
            var counts = new int[bounds.Length];
            if (_histograms[d] is { } histogram)
            {
                for (var b = 0; b < histogram.Length; b++)
                {
                    if (histogram[b] > 0)
                    {
                        var i = Array.BinarySearch(bounds, ReportHistogram.LowerEdge(b));
                        counts[i >= 0 ? i : Math.Max(0, ~i - 1)] += histogram[b];
                    }
                }
            }

            return counts;
        }

        return (Regroup(FirstResponse), Regroup(QueueWait));
    }

    public ReportMetrics ToMetrics() =>
        ReportMath.Metrics(
            _created, _closed, _missed, _abandoned, (int)_messagesIn, (int)_messagesOut,
            Stats(FirstResponse), Stats(Resolution), Stats(QueueWait), Stats(Handle),
            [.. _csat], _botConversations, _handedOff, _botClosed, _botResolved);

    private DurationStats Stats(int d)
    {
        var count = _counts[d];
        if (count == 0 || _histograms[d] is not { } histogram)
        {
            return new DurationStats(0, null, null, null);
        }

        return new DurationStats(count, Round(Percentile(histogram, count, 0.5), 1), Round(Percentile(histogram, count, 0.9), 1), Round(_sums[d] / count, 1));
    }

    /// <summary>Nearest rank over the histogram: the lower edge of the bucket holding the ceil(p·n)-th value.</summary>
    private static double Percentile(int[] histogram, int count, double p)
    {
        var rank = Math.Clamp((int)Math.Ceiling(p * count), 1, count);
        var seen = 0;
        for (var b = 0; b < histogram.Length; b++)
        {
            seen += histogram[b];
            if (seen >= rank)
            {
                return ReportHistogram.LowerEdge(b);
            }
        }

        return ReportHistogram.LowerEdge(histogram.Length - 1);
    }

    private void Add(int d, double seconds)
    {
        _counts[d]++;
        _sums[d] += seconds;
        Histogram(d)[ReportHistogram.BucketOf(seconds)]++;
    }

    private int[] Histogram(int d) => _histograms[d] ??= new int[ReportHistogram.Count];

    private static void WriteVarint(List<byte> bytes, int value)
    {
        var v = (uint)value;
        while (v >= 0x80)
        {
            bytes.Add((byte)(v | 0x80));
            v >>= 7;
        }

        bytes.Add((byte)v);
    }

    private static int ReadVarint(byte[] bytes, ref int at)
    {
        uint value = 0;
        var shift = 0;
        byte b;
        do
        {
            b = bytes[at++];
            value |= (uint)(b & 0x7F) << shift;
            shift += 7;
        }
        while ((b & 0x80) != 0);
        return (int)value;
    }

    private static double Round(double value, int digits) => Math.Round(value, digits, MidpointRounding.AwayFromZero);
}
