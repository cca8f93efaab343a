using System.Diagnostics.Metrics;
using Microsoft.Extensions.Options;
using Parley.Server.Features.Metrics;

namespace Parley.Server.Features.Alerts;

/// <summary>
/// What this node measured over the last <see cref="AlertsOptions.WindowSeconds"/>: HTTP requests and how many were
/// answered 5xx, and group-commit durations (for a p99). Read from the same instruments /metrics exports (a
/// <see cref="MeterListener"/> on this application's meters only), kept in 10-second slots.
/// </summary>
public sealed class AlertSignals : IDisposable
{
    private const int SlotSeconds = 10;

    /// <summary>Commit-duration buckets: 0.5 ms growing by a quarter up to ~2 minutes (a p99 is off by at most 25 %).</summary>
    private static readonly double[] Bounds = [.. Enumerable.Range(0, 56).Select(i => 0.0005 * Math.Pow(1.25, i))];

    private readonly TimeProvider _time;
    private readonly IOptions<AlertsOptions> _options;
    private readonly MeterListener _listener = new();
    private readonly Lock _gate = new();
    private readonly Dictionary<long, Slot> _slots = [];

    public AlertSignals(TimeProvider time, IOptions<AlertsOptions> options, IMeterFactory meters)
    {
        _time = time;
        _options = options;
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            // Meters of this application only: several servers in one process (tests) each count their own.
            if (ReferenceEquals(instrument.Meter.Scope, meters)
                && ((instrument.Meter.Name == "Microsoft.AspNetCore.Hosting" && instrument.Name == "http.server.request.duration")
                    || (instrument.Meter.Name == ParleyMetrics.MeterName && instrument.Name == "parley.commit.duration")))
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<double>(OnMeasurement);
        _listener.Start();
    }

    private sealed class Slot
    {
        public long Requests;
        public long Errors;
        public readonly long[] Commits = new long[Bounds.Length + 1];
    }

    public void RecordRequest(int status)
    {
        lock (_gate)
        {
            var slot = Current();
            slot.Requests++;
            if (status >= 500)
            {
                slot.Errors++;
            }
        }
    }

    public void RecordCommit(double seconds)
    {
        var bucket = Array.BinarySearch(Bounds, seconds);
        bucket = bucket >= 0 ? bucket : ~bucket;
        lock (_gate)
        {
            Current().Commits[bucket]++;
        }
    }

    /// <summary>Requests and 5xx answers in the window.</summary>
    public (long Requests, long Errors) Requests()
    {
        long requests = 0, errors = 0;
        lock (_gate)
        {
            foreach (var slot in InWindow())
            {
                requests += slot.Requests;
                errors += slot.Errors;
            }
        }

        return (requests, errors);
    }

    /// <summary>The 99th percentile of commit durations in the window (its bucket's upper bound), or null without commits.</summary>
    public double? CommitP99()
    {
        var counts = new long[Bounds.Length + 1];
        lock (_gate)
        {
            foreach (var slot in InWindow())
            {
                for (var i = 0; i < counts.Length; i++)
                {
                    counts[i] += slot.Commits[i];
                }
            }
        }

        var total = counts.Sum();
        if (total == 0)
        {
            return null;
        }

        var rank = (long)Math.Ceiling(total * 0.99);
        long seen = 0;
        for (var i = 0; i < counts.Length; i++)
        {
            seen += counts[i];
            if (seen >= rank)
            {
                return i < Bounds.Length ? Bounds[i] : Bounds[^1] * 1.25;
            }
        }

        return Bounds[^1];
    }

    public void Dispose() => _listener.Dispose();

    private void OnMeasurement(Instrument instrument, double measurement, ReadOnlySpan<KeyValuePair<string, object?>> tags, object? state)
    {
        if (instrument.Name == "parley.commit.duration")
        {
            RecordCommit(measurement);
            return;
        }

        foreach (var tag in tags)
        {
            if (tag.Key == "http.response.status_code")
            {
                RecordRequest(tag.Value is int code ? code : int.TryParse(tag.Value?.ToString(), out var parsed) ? parsed : 0);
                return;
            }
        }
    }

    private static long SlotOf(DateTimeOffset at) => at.ToUnixTimeSeconds() / SlotSeconds;

    private Slot Current()
    {
        var index = SlotOf(_time.GetUtcNow());
        if (!_slots.TryGetValue(index, out var slot))
        {
            var oldest = index - WindowSlots();
            foreach (var old in _slots.Keys.Where(k => k <= oldest).ToList())
            {
                _slots.Remove(old);
            }

            _slots[index] = slot = new Slot();
        }

        return slot;
    }

    private IEnumerable<Slot> InWindow()
    {
        var index = SlotOf(_time.GetUtcNow());
        var oldest = index - WindowSlots();
        return _slots.Where(s => s.Key > oldest && s.Key <= index).Select(s => s.Value);
    }

    private long WindowSlots() => (long)Math.Ceiling(_options.Value.WindowSeconds / SlotSeconds);
}
