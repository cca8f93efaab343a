using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace Parley.Server.Features.Metrics;

public enum LoadState
{
    Normal = 0,
    Pressure = 1,
    Overload = 2,
}

/// <summary>Optional work the governor may skip, in the order it is given up (docs/operations.md, Overload).</summary>
public enum Sheddable
{
    /// <summary>Typing indicators and read receipts (Pressure).</summary>
    TypingAndReceipts,

    /// <summary>Visitor page tracking (Pressure).</summary>
    PageTracking,

    /// <summary>Inbox summaries pushed to agents for every change: coalesced instead (Pressure).</summary>
    InboxSummaries,

    /// <summary>
    /// Background catch-ups (history search's index, report rollups): one pass per interval instead of a catch-up
    /// loop, so they stop competing with sends for the core and SQLite's write lock (Pressure).
    /// </summary>
    BackgroundCatchUp,

    /// <summary>Bot (knowledge-base) replies (Overload).</summary>
    BotReplies,

    /// <summary>New anonymous widget sessions: 503 + Retry-After, the widget offers the offline form (Overload).</summary>
    NewWidgetSessions,
}

/// <summary>Thresholds of the load governor (Parley:Governor). Each signal has a Pressure and an Overload level.</summary>
public sealed class GovernorOptions
{
    public const string Section = "Parley:Governor";

    /// <summary>Off: the state stays Normal and nothing is shed.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Slowest group commit in the last sample, seconds (any positive value).</summary>
    [Range(0d, 60, MinimumIsExclusive = true)]
    public double PressureCommitSeconds { get; set; } = 0.1;

    [Range(0d, 60, MinimumIsExclusive = true)]
    public double OverloadCommitSeconds { get; set; } = 0.5;

    [Range(1, 10_000_000)]
    public int PressureWriterQueue { get; set; } = 1_000;

    [Range(1, 10_000_000)]
    public int OverloadWriterQueue { get; set; } = 5_000;

    [Range(1, 100_000_000)]
    public int PressureFanoutBacklog { get; set; } = 20_000;

    [Range(1, 100_000_000)]
    public int OverloadFanoutBacklog { get; set; } = 100_000;

    [Range(1, 10_000_000)]
    public int PressureThreadPoolQueue { get; set; } = 500;

    [Range(1, 10_000_000)]
    public int OverloadThreadPoolQueue { get; set; } = 5_000;

    /// <summary>Process CPU as a fraction of all cores.</summary>
    [Range(0.01, 1.01)]
    public double PressureCpu { get; set; } = 0.9;

    [Range(0.01, 1.01)]
    public double OverloadCpu { get; set; } = 1.01; // off by default: CPU alone is not overload

    /// <summary>Samples in a row above a level before the state rises to it (one slow fsync is not overload).</summary>
    [Range(1, 100)]
    public int RiseSamples { get; set; } = 3;

    /// <summary>Hysteresis: a state is left only when every signal is below this fraction of the state's thresholds...</summary>
    [Range(0.1, 1)]
    public double RecoverFraction { get; set; } = 0.7;

    /// <summary>...for this long (one level at a time).</summary>
    [Range(0, 3600)]
    public double CalmSeconds { get; set; } = 10;

    /// <summary>Under Pressure an agent gets at most one inbox summary per conversation per this many milliseconds (latest wins).</summary>
    [Range(50, 60_000)]
    public int InboxSummaryMilliseconds { get; set; } = 1000;

    /// <summary>
    /// The same at Overload (at least <see cref="InboxSummaryMilliseconds"/>): with many busy conversations every agent
    /// gets a summary of each per interval, which on a saturated core competes with the sends themselves.
    /// </summary>
    [Range(50, 60_000)]
    public int OverloadInboxSummaryMilliseconds { get; set; } = 5000;

    /// <summary>
    /// Visitor sends waiting for the group commit beyond which a new one is refused at once (<c>overloaded</c>; the
    /// widget keeps the message and retries after a pause); 0 (the default) lets visitors wait for room instead.
    /// Off by default because refusing costs the server more than waiting when clients do not back off: measured in
    /// docs/benchmarks.md (overload scenario, 2026-12-05 night). Agents' sends have their own lane either way.
    /// </summary>
    [Range(0, 1_000_000)]
    public int MaxVisitorWriteQueue { get; set; }

    /// <summary>
    /// Admission control of visitors' sends (<see cref="VisitorAdmission"/>): while the governor is on, at most an
    /// adaptive number of visitor sends are worked on at once and the rest wait, unread, in their sockets.
    /// </summary>
    public bool AdmissionControl { get; set; } = true;

    /// <summary>The admitted sends' average time from admission to acknowledgement above which the limit shrinks.</summary>
    [Range(1, 10_000)]
    public double AdmissionTargetMilliseconds { get; set; } = 50;

    /// <summary>Thread-pool work items waiting above which the limit shrinks (agents' work waits in the same queue).</summary>
    [Range(1, 1_000_000)]
    public int AdmissionThreadPoolQueue { get; set; } = 200;

    /// <summary>
    /// Process CPU (fraction of all cores, over one window) above which the limit shrinks: headroom, so that an
    /// agent's work finds a short queue. 1.01 turns the CPU signal off.
    /// </summary>
    [Range(0.1, 1.01)]
    public double AdmissionCpu { get; set; } = 0.85;

    [Range(1, 1_000_000)]
    public int AdmissionInitialLimit { get; set; } = 256;

    [Range(1, 1_000_000)]
    public int AdmissionMinLimit { get; set; } = 8;

    [Range(1, 1_000_000)]
    public int AdmissionMaxLimit { get; set; } = 4_096;

    /// <summary>How often the limit adapts.</summary>
    [Range(10, 10_000)]
    public int AdmissionWindowMilliseconds { get; set; } = 100;

    /// <summary>Visitor sends waiting for admission: a signal like the others.</summary>
    [Range(1, 10_000_000)]
    public int PressureAdmissionWaiting { get; set; } = 100;

    [Range(1, 10_000_000)]
    public int OverloadAdmissionWaiting { get; set; } = 2_000;

    /// <summary>Retry-After of refused new widget sessions.</summary>
    [Range(1, 3600)]
    public int RetryAfterSeconds { get; set; } = 30;
}

/// <summary>
/// Watches commit latency, the write queue, the fan-out backlog, the thread-pool queue and CPU (one
/// <see cref="OperationsSnapshot"/> per tick) and moves between Normal, Pressure and Overload: up when a signal
/// stays above a threshold for <see cref="GovernorOptions.RiseSamples"/> samples, down one level at a time after every signal stayed below
/// <see cref="GovernorOptions.RecoverFraction"/> of the current level's thresholds for
/// <see cref="GovernorOptions.CalmSeconds"/>. Acknowledged messages and sends are never shed; only the
/// <see cref="Sheddable"/> extras are.
/// </summary>
public sealed partial class LoadGovernor(IOptions<GovernorOptions> options, TimeProvider time, ParleyMetrics metrics, ILogger<LoadGovernor> logger) : IHealthCheck
{
    private readonly Lock _gate = new();
    private long? _calmSince;
    private int _risingFor;
    private volatile LoadState _state;

    public LoadState State => _state;

    public int RetryAfterSeconds => options.Value.RetryAfterSeconds;

    /// <summary>Raised on every change, outside the governor's lock.</summary>
    public event Action<LoadState, LoadState>? Changed;

    /// <summary>True when <paramref name="feature"/> should be skipped now (and counts it).</summary>
    public bool ShouldShed(Sheddable feature)
    {
        var shed = _state >= LevelOf(feature);
        if (shed)
        {
            metrics.Shed(Name(feature));
        }

        return shed;
    }

    /// <summary>
    /// True when a visitor's write must be refused now: the governor is on, a bound is set and the visitors' write lane
    /// already holds <see cref="GovernorOptions.MaxVisitorWriteQueue"/> sends (counted as shed <c>visitor_sends</c>).
    /// Independent of the state: the bound itself is what keeps a spike from turning into minutes of queue.
    /// </summary>
    public bool ShouldRefuseVisitorWrite(int visitorQueueDepth)
    {
        var o = options.Value;
        if (!o.Enabled || o.MaxVisitorWriteQueue == 0 || visitorQueueDepth < o.MaxVisitorWriteQueue)
        {
            return false;
        }

        metrics.Shed("visitor_sends");
        return true;
    }

    public static LoadState LevelOf(Sheddable feature) => feature switch
    {
        Sheddable.TypingAndReceipts or Sheddable.PageTracking or Sheddable.InboxSummaries or Sheddable.BackgroundCatchUp => LoadState.Pressure,
        _ => LoadState.Overload,
    };

    /// <summary>Feeds one sample; returns the state after it.</summary>
    public LoadState Evaluate(OperationsSnapshot sample)
    {
        var o = options.Value;
        if (!o.Enabled)
        {
            return LoadState.Normal;
        }

        LoadState previous, next;
        lock (_gate)
        {
            previous = _state;
            var level = Level(o, sample, 1.0);
            next = previous;
            if (level > previous)
            {
                _calmSince = null;
                if (++_risingFor >= o.RiseSamples)
                {
                    next = level;
                    _risingFor = 0;
                }
            }
            else
            {
                _risingFor = 0;
                if (previous > LoadState.Normal && Level(o, sample, o.RecoverFraction) < previous)
                {
                    var now = time.GetTimestamp();
                    _calmSince ??= now;
                    if (time.GetElapsedTime(_calmSince.Value, now) >= TimeSpan.FromSeconds(o.CalmSeconds))
                    {
                        next = previous - 1;
                        _calmSince = next > LoadState.Normal ? now : null;
                    }
                }
                else
                {
                    _calmSince = null;
                }
            }

            _state = next;
        }

        if (next != previous)
        {
            LogChanged(logger, previous, next, Describe(sample));
            Changed?.Invoke(previous, next);
        }

        return next;
    }

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(_state == LoadState.Normal
            ? HealthCheckResult.Healthy()
            : HealthCheckResult.Degraded($"Load governor: {_state}; optional work is being shed."));

    public static string Name(Sheddable feature) => feature switch
    {
        Sheddable.TypingAndReceipts => "typing_receipts",
        Sheddable.PageTracking => "page_tracking",
        Sheddable.InboxSummaries => "inbox_summaries",
        Sheddable.BackgroundCatchUp => "background_catch_up",
        Sheddable.BotReplies => "bot_replies",
        _ => "new_widget_sessions",
    };

    /// <summary>The highest level any signal reaches, with thresholds scaled by <paramref name="scale"/>.</summary>
    private static LoadState Level(GovernorOptions o, OperationsSnapshot s, double scale)
    {
        static bool Over(double value, double threshold, double scale) => value >= threshold * scale;
        if (Over(s.CommitSeconds, o.OverloadCommitSeconds, scale) || Over(s.WriterQueueDepth, o.OverloadWriterQueue, scale)
            || Over(s.FanoutBacklog, o.OverloadFanoutBacklog, scale) || Over(s.ThreadPoolQueue, o.OverloadThreadPoolQueue, scale)
            || Over(s.Cpu, o.OverloadCpu, scale) || Over(s.AdmissionWaiting, o.OverloadAdmissionWaiting, scale))
        {
            return LoadState.Overload;
        }

        return Over(s.CommitSeconds, o.PressureCommitSeconds, scale) || Over(s.WriterQueueDepth, o.PressureWriterQueue, scale)
            || Over(s.FanoutBacklog, o.PressureFanoutBacklog, scale) || Over(s.ThreadPoolQueue, o.PressureThreadPoolQueue, scale)
            || Over(s.Cpu, o.PressureCpu, scale) || Over(s.AdmissionWaiting, o.PressureAdmissionWaiting, scale)
            ? LoadState.Pressure
            : LoadState.Normal;
    }

    private static string Describe(OperationsSnapshot s) =>
        FormattableString.Invariant($"commit {s.CommitSeconds * 1000:0} ms, write queue {s.WriterQueueDepth}, fan-out backlog {s.FanoutBacklog}, thread-pool queue {s.ThreadPoolQueue}, CPU {s.Cpu:P0}, visitor sends waiting {s.AdmissionWaiting}");

    [LoggerMessage(Level = LogLevel.Warning, Message = "Load governor: {Previous} -> {Next} ({Signals})")]
    private static partial void LogChanged(ILogger logger, LoadState previous, LoadState next, string signals);
}
