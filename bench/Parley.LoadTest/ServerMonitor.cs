using System.Globalization;
using Microsoft.Diagnostics.NETCore.Client;
using Microsoft.Diagnostics.Tracing;
using Microsoft.Diagnostics.Tracing.Parsers;

namespace Parley.LoadTest;

/// <summary>/proc readings of a process and of the kernel.</summary>
internal static class Proc
{
    public static readonly double TicksPerSecond = 100.0; // USER_HZ on Linux

    /// <summary>utime + stime of the process, in clock ticks.</summary>
    public static long CpuTicks(int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        // fields[0] is state (field 3); utime is field 14, stime 15 => indexes 11, 12.
        return long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
    }

    public static long RssBytes(int pid) => StatusKb(pid, "VmRSS:") * 1024;

    public static long StatusKb(int pid, string field)
    {
        foreach (var line in File.ReadLines($"/proc/{pid}/status"))
        {
            if (line.StartsWith(field, StringComparison.Ordinal))
            {
                return long.Parse(line[field.Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
            }
        }

        return 0;
    }

    public static long MemInfoKb(string field)
    {
        foreach (var line in File.ReadLines("/proc/meminfo"))
        {
            if (line.StartsWith(field, StringComparison.Ordinal))
            {
                return long.Parse(line[field.Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
            }
        }

        return 0;
    }

    /// <summary>Kernel memory for sockets: Slab (SUnreclaim + SReclaimable) in bytes.</summary>
    public static long SlabBytes() => MemInfoKb("Slab:") * 1024;

    /// <summary>Pages the TCP stack holds for socket buffers (/proc/net/sockstat "TCP: ... mem N").</summary>
    public static long TcpMemBytes()
    {
        foreach (var line in File.ReadLines("/proc/net/sockstat"))
        {
            if (line.StartsWith("TCP:", StringComparison.Ordinal))
            {
                var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                var i = Array.IndexOf(parts, "mem");
                if (i > 0)
                {
                    return long.Parse(parts[i + 1], CultureInfo.InvariantCulture) * Environment.SystemPageSize;
                }
            }
        }

        return 0;
    }
}

/// <summary>
/// Watches the server during a measured phase: CPU and RSS from /proc, and over EventPipe the GC pauses
/// (GCSuspendEE start → GCRestartEE stop, every pause) and the bytes allocated (System.Runtime alloc-rate).
/// </summary>
internal sealed class ServerMonitor : IAsyncDisposable
{
    private readonly int? _pid;
    private readonly List<double> _pausesMs = [];
    private readonly Lock _gate = new();
    private EventPipeSession? _session;
    private Task? _processing;
    private long _cpuStart;
    private long _selfCpuStart;
    private long _start;
    private double _pauseStartMs = -1;
    private long _allocatedBytes;
    private long _allocTickBytes;
    private int _gcCount;
    private long _peakRss;
    private Timer? _rssTimer;
    private string? _eventPipeError;

    public ServerMonitor(int? pid) => _pid = pid;

    public bool Enabled => _pid is not null;

    public void Start(bool eventPipe = true)
    {
        _start = System.Diagnostics.Stopwatch.GetTimestamp();
        _selfCpuStart = Proc.CpuTicks(Environment.ProcessId);
        if (_pid is not { } pid)
        {
            return;
        }

        _cpuStart = Proc.CpuTicks(pid);
        _peakRss = Proc.RssBytes(pid);
        _rssTimer = new Timer(_ => SampleRss(), null, 250, 250);
        if (!eventPipe)
        {
            return;
        }

        try
        {
            var client = new DiagnosticsClient(pid);
            var providers = new List<EventPipeProvider>
            {
                // GC keyword at Verbose: GCSuspendEE/RestartEE pairs and AllocationTick (every ~100 KB allocated).
                new("Microsoft-Windows-DotNETRuntime", System.Diagnostics.Tracing.EventLevel.Verbose, (long)ClrTraceEventParser.Keywords.GC),
                new("System.Runtime", System.Diagnostics.Tracing.EventLevel.Informational, 0, new Dictionary<string, string> { ["EventCounterIntervalSec"] = "1" }),
            };
            _session = client.StartEventPipeSession(providers, requestRundown: false, circularBufferMB: 64);
            var source = new EventPipeEventSource(_session.EventStream);
            source.Clr.GCSuspendEEStart += e => _pauseStartMs = e.TimeStampRelativeMSec;
            source.Clr.GCRestartEEStop += e =>
            {
                if (_pauseStartMs >= 0)
                {
                    lock (_gate)
                    {
                        _pausesMs.Add(e.TimeStampRelativeMSec - _pauseStartMs);
                    }

                    _pauseStartMs = -1;
                }
            };
            source.Clr.GCStart += _ => Interlocked.Increment(ref _gcCount);
            source.Clr.GCAllocationTick += e => Interlocked.Add(ref _allocTickBytes, e.AllocationAmount64);
            source.Dynamic.All += e =>
            {
                if (e.EventName != "EventCounters" || e.PayloadValue(0) is not IDictionary<string, object> outer
                    || !outer.TryGetValue("Payload", out var inner) || inner is not IDictionary<string, object> payload)
                {
                    return;
                }

                if (payload.TryGetValue("Name", out var name) && name as string == "alloc-rate" && payload.TryGetValue("Increment", out var inc))
                {
                    Interlocked.Add(ref _allocatedBytes, (long)Convert.ToDouble(inc, CultureInfo.InvariantCulture));
                }
            };
            _processing = Task.Factory.StartNew(() => source.Process(), TaskCreationOptions.LongRunning);
        }
        catch (Exception ex) when (ex is ServerNotAvailableException or UnsupportedCommandException or IOException or TimeoutException or UnauthorizedAccessException)
        {
            _eventPipeError = ex.Message;
            _session = null;
        }
    }

    private void SampleRss()
    {
        try
        {
            var rss = Proc.RssBytes(_pid!.Value);
            if (rss > Interlocked.Read(ref _peakRss))
            {
                Interlocked.Exchange(ref _peakRss, rss);
            }
        }
        catch (IOException)
        {
            // Server gone.
        }
    }

    /// <summary>Ends the measured phase and returns what was seen; messages forwarded = deliveries written by the server.</summary>
    public async Task<Dictionary<string, object?>> StopAsync(long messagesForwarded)
    {
        var seconds = System.Diagnostics.Stopwatch.GetElapsedTime(_start).TotalSeconds;
        var result = new Dictionary<string, object?>
        {
            ["generatorCpuPercent"] = Math.Round((Proc.CpuTicks(Environment.ProcessId) - _selfCpuStart) / Proc.TicksPerSecond / seconds * 100, 1),
        };
        if (_pid is not { } pid)
        {
            return result;
        }

        if (_rssTimer is not null)
        {
            await _rssTimer.DisposeAsync();
        }

        result["serverCpuPercent"] = Math.Round((Proc.CpuTicks(pid) - _cpuStart) / Proc.TicksPerSecond / seconds * 100, 1);
        result["serverRssMB"] = Math.Round(Proc.RssBytes(pid) / 1048576.0, 1);
        result["serverPeakRssMB"] = Math.Round(Interlocked.Read(ref _peakRss) / 1048576.0, 1);
        if (_session is not null)
        {
            // Let the last counter interval arrive, then end the session and drain the stream.
            await Task.Delay(1200);
            try
            {
                await _session.StopAsync(CancellationToken.None);
            }
            catch (Exception ex) when (ex is ServerNotAvailableException or IOException or TimeoutException)
            {
                _eventPipeError = ex.Message;
            }

            if (_processing is not null)
            {
                await Task.WhenAny(_processing, Task.Delay(10_000));
            }

            _session.Dispose();
            double[] pauses;
            lock (_gate)
            {
                pauses = [.. _pausesMs];
            }

            Array.Sort(pauses);
            result["gcCount"] = _gcCount;
            result["gcPauses"] = pauses.Length;
            result["gcPauseP50Ms"] = Percentile(pauses, 50);
            result["gcPauseP99Ms"] = Percentile(pauses, 99);
            result["gcPauseMaxMs"] = pauses.Length == 0 ? 0 : Math.Round(pauses[^1], 3);
            result["gcPauseTotalMs"] = Math.Round(pauses.Sum(), 1);
            result["allocatedMB"] = Math.Round(_allocatedBytes / 1048576.0, 1);
            result["allocTickMB"] = Math.Round(_allocTickBytes / 1048576.0, 1);
            if (messagesForwarded > 0)
            {
                result["allocBytesPerDelivery"] = Math.Round((double)_allocatedBytes / messagesForwarded, 0);
            }
        }
        else
        {
            result["eventPipe"] = "unavailable: " + _eventPipeError;
        }

        return result;
    }

    private static double Percentile(double[] sorted, double p)
    {
        if (sorted.Length == 0)
        {
            return 0;
        }

        var rank = (int)Math.Ceiling(p / 100 * sorted.Length) - 1;
        return Math.Round(sorted[Math.Clamp(rank, 0, sorted.Length - 1)], 3);
    }

    public async ValueTask DisposeAsync()
    {
        if (_rssTimer is not null)
        {
            await _rssTimer.DisposeAsync();
        }
    }
}

/// <summary>
/// Makes the server run a full blocking GC from outside, the way dotnet-gcdump does: an EventPipe session that
/// asks for the GCHeapCollect keyword induces one. Returns false when the server cannot be reached.
/// </summary>
internal static class FullGc
{
    public static async Task<bool> InduceAsync(int? pid, CancellationToken ct)
    {
        if (pid is not { } p)
        {
            return false;
        }

        try
        {
            var client = new DiagnosticsClient(p);
            var providers = new[]
            {
                new EventPipeProvider("Microsoft-Windows-DotNETRuntime", System.Diagnostics.Tracing.EventLevel.Informational,
                    (long)(ClrTraceEventParser.Keywords.GC | ClrTraceEventParser.Keywords.GCHeapCollect)),
            };
            using var session = client.StartEventPipeSession(providers, requestRundown: false, circularBufferMB: 16);
            var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            using var source = new EventPipeEventSource(session.EventStream);
            source.Clr.GCStop += e =>
            {
                if (e.Depth == 2)
                {
                    done.TrySetResult();
                }
            };
            var processing = Task.Run(source.Process, ct);
            var finished = await Task.WhenAny(done.Task, Task.Delay(TimeSpan.FromSeconds(15), ct)) == done.Task;
            await session.StopAsync(ct);
            await processing.WaitAsync(TimeSpan.FromSeconds(5), ct);
            return finished;
        }
        catch (Exception ex) when (ex is ServerNotAvailableException or TimeoutException or EndOfStreamException or IOException)
        {
            return false;
        }
    }
}
