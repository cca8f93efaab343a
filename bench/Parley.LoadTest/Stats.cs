using System.Collections.Concurrent;
using System.Diagnostics;
using HdrHistogram;

namespace Parley.LoadTest;

/// <summary>A latency histogram in microseconds (HdrHistogram), safe to record from any thread.</summary>
internal sealed class Latency
{
    private readonly LongHistogram _histogram = new(120_000_000, 3);
    private readonly Lock _gate = new();

    /// <summary>Records now − <paramref name="fromTicks"/> (Stopwatch ticks).</summary>
    public void RecordSince(long fromTicks) => RecordTicks(Stopwatch.GetTimestamp() - fromTicks);

    public void RecordTicks(long ticks)
    {
        var micros = Math.Clamp((long)(ticks * 1_000_000.0 / Stopwatch.Frequency), 0, 119_999_999);
        lock (_gate)
        {
            _histogram.RecordValue(micros);
        }
    }

    public long Count
    {
        get
        {
            lock (_gate)
            {
                return _histogram.TotalCount;
            }
        }
    }

    public void Reset()
    {
        lock (_gate)
        {
            _histogram.Reset();
        }
    }

    public Dictionary<string, object?> Summary()
    {
        lock (_gate)
        {
            static double Ms(long micros) => Math.Round(micros / 1000.0, 3);
            if (_histogram.TotalCount == 0)
            {
                return new() { ["count"] = 0L };
            }

            return new()
            {
                ["count"] = _histogram.TotalCount,
                ["p50"] = Ms(_histogram.GetValueAtPercentile(50)),
                ["p90"] = Ms(_histogram.GetValueAtPercentile(90)),
                ["p99"] = Ms(_histogram.GetValueAtPercentile(99)),
                ["p999"] = Ms(_histogram.GetValueAtPercentile(99.9)),
                ["max"] = Ms(_histogram.GetMaxValue()),
            };
        }
    }
}

/// <summary>What one receiving connection saw of one conversation, checked against the seq rules.</summary>
internal sealed class SeqTrack(long startSeq)
{
    private long _last = startSeq;
    private long _received;
    private long _duplicates;
    private long _outOfOrder;
    private long _skipped;

    public long StartSeq { get; } = startSeq;

    public long Last => Volatile.Read(ref _last);

    public long Received => Volatile.Read(ref _received);

    public long Duplicates => Volatile.Read(ref _duplicates);

    public long OutOfOrder => Volatile.Read(ref _outOfOrder);

    /// <summary>Called from the connection's receive loop only (one thread per connection).</summary>
    public void Apply(long seq)
    {
        _received++;
        if (seq <= _last)
        {
            _duplicates++;
        }
        else if (seq == _last + 1)
        {
            Volatile.Write(ref _last, seq);
        }
        else
        {
            _outOfOrder++;
            _skipped += seq - _last - 1;
            Volatile.Write(ref _last, seq);
        }
    }

    /// <summary>Messages up to <paramref name="finalSeq"/> this receiver never got.</summary>
    public long Lost(long finalSeq) => Behind(finalSeq) + _skipped;

    /// <summary>Gaps: messages skipped over by a later one (delivery is in order per connection, so these never come).</summary>
    public long Skipped => Volatile.Read(ref _skipped);

    /// <summary>Messages up to <paramref name="finalSeq"/> after the last one received (still on their way, or never coming).</summary>
    public long Behind(long finalSeq) => Math.Max(0, finalSeq - Last);
}

/// <summary>Error counts by kind (first text kept as a sample).</summary>
internal sealed class Errors
{
    private readonly ConcurrentDictionary<string, long> _counts = new();

    public long Total => _counts.Values.Sum();

    public void Add(string kind, long n = 1) => _counts.AddOrUpdate(Trim(kind), n, (_, c) => c + n);

    private static string Trim(string s) => s.Length > 160 ? s[..160] : s;

    public Dictionary<string, long> Snapshot() => new(_counts);
}

/// <summary>
/// Sends a ping on connections that sent nothing for the ping interval, as the widget and the console do
/// (<c>--ping-seconds</c>, default <see cref="Options.ClientKeepAliveSeconds"/>: the browsers' keep-alive), so the
/// server keeps them and an idle connection costs the server what a real one does.
/// </summary>
internal sealed class KeepAlive : IAsyncDisposable
{
    private readonly Func<IEnumerable<HubClient>> _clients;
    private readonly CancellationTokenSource _cts = new();
    private readonly Task _loop;

    private readonly long _intervalMs;

    public KeepAlive(Func<IEnumerable<HubClient>> clients, TimeSpan interval)
    {
        _clients = clients;
        _intervalMs = (long)interval.TotalMilliseconds;
        _loop = RunAsync();
    }

    private async Task RunAsync()
    {
        try
        {
            while (!_cts.IsCancellationRequested)
            {
                await Task.Delay(1000, _cts.Token);
                foreach (var client in _clients())
                {
                    try
                    {
                        _ = client.PingIfIdleAsync(_intervalMs);
                    }
                    catch (InvalidOperationException)
                    {
                        // Closed meanwhile.
                    }
                }
            }
        }
        catch (OperationCanceledException)
        {
            // Stopped.
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _cts.CancelAsync();
        await _loop;
        _cts.Dispose();
    }
}
