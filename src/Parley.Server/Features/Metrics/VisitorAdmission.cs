using Microsoft.Extensions.Options;

namespace Parley.Server.Features.Metrics;

/// <summary>
/// Admission control for visitors' hub sends, part of the load governor (docs/operations.md, Overload). At most
/// <see cref="Limit"/> visitor sends are between admission and their acknowledgement at once; the others wait here,
/// in arrival order, before any work is done for them. A waiting send holds its connection's invocation slot, so once a
/// connection's slots are taken SignalR stops reading it and the visitor's further messages wait in the socket at no
/// cost to the server, while agents' sends, which never come here, find the thread pool and the writer nearly idle.
/// <para>
/// The limit adapts once per window (AIMD): it shrinks by a quarter when the sends admitted in the window took longer
/// than <see cref="GovernorOptions.AdmissionTargetMilliseconds"/> on average, the thread pool's queue was longer than
/// <see cref="GovernorOptions.AdmissionThreadPoolQueue"/>, or the process used more than
/// <see cref="GovernorOptions.AdmissionCpu"/> of the cores (a saturated core queues agents' work behind visitors');
/// it grows by an eighth when sends had to wait and none was true. Under normal load nobody waits and a send pays one uncontended lock.
/// </para>
/// Every <see cref="EnterAsync"/> that completes must be paired with one <see cref="Exit"/>.
/// </summary>
public sealed class VisitorAdmission
{
    private static readonly Task<long> Unlimited = Task.FromResult(0L);

    private readonly Lock _gate = new();
    private readonly Queue<Waiter> _queue = new();
    private readonly GovernorOptions _options;
    private readonly TimeProvider _time;
    private readonly Func<long> _threadPoolQueue;
    private readonly Func<TimeSpan> _cpuTime;
    private TimeSpan _windowCpu;
    private readonly long _windowTicks;
    private readonly double _targetTicks;
    private int _limit;
    private int _inFlight;
    private int _waiting;
    private long _windowStart;
    private int _windowCount;
    private long _windowLatencyTicks;
    private bool _windowHadWaiters;

    public VisitorAdmission(IOptions<GovernorOptions> options, TimeProvider time)
        : this(options.Value, time, static () => ThreadPool.PendingWorkItemCount, static () => Environment.CpuUsage.TotalTime)
    {
    }

    internal VisitorAdmission(GovernorOptions options, TimeProvider time, Func<long> threadPoolQueue, Func<TimeSpan> cpuTime)
    {
        _options = options;
        _time = time;
        _threadPoolQueue = threadPoolQueue;
        _cpuTime = cpuTime;
        _windowCpu = cpuTime();
        Enabled = options.Enabled && options.AdmissionControl;
        _limit = Math.Clamp(options.AdmissionInitialLimit, options.AdmissionMinLimit, options.AdmissionMaxLimit);
        _windowTicks = (long)(options.AdmissionWindowMilliseconds / 1000.0 * time.TimestampFrequency);
        _targetTicks = options.AdmissionTargetMilliseconds / 1000.0 * time.TimestampFrequency;
        _windowStart = time.GetTimestamp();
    }

    public bool Enabled { get; }

    /// <summary>Visitor sends admitted at most at once, now.</summary>
    public int Limit => Volatile.Read(ref _limit);

    public int InFlight => Volatile.Read(ref _inFlight);

    /// <summary>Visitor sends waiting for admission.</summary>
    public int Waiting => Volatile.Read(ref _waiting);

    /// <summary>
    /// Completes (with the admission time, for <see cref="Exit"/>) when the send may go ahead: at once while fewer than
    /// <see cref="Limit"/> are admitted and nobody waits, else in arrival order. Call it synchronously at the start of
    /// the invocation, so that one connection's sends are admitted in the order they came. Cancelled with
    /// <paramref name="cancellationToken"/> (the connection closing); a cancelled wait needs no <see cref="Exit"/>.
    /// </summary>
    public Task<long> EnterAsync(CancellationToken cancellationToken)
    {
        if (!Enabled)
        {
            return Unlimited;
        }

        Waiter waiter;
        lock (_gate)
        {
            if (_waiting == 0 && _inFlight < _limit)
            {
                _inFlight++;
                return Task.FromResult(_time.GetTimestamp());
            }

            waiter = new Waiter(this);
            _queue.Enqueue(waiter);
            _waiting++;
            _windowHadWaiters = true;
        }

        if (cancellationToken.CanBeCanceled)
        {
            waiter.Registration = cancellationToken.UnsafeRegister(static (state, token) => ((Waiter)state!).Owner.Cancel((Waiter)state!, token), waiter);
        }

        return waiter.Completion.Task;
    }

    /// <summary>Ends an admitted send (acknowledged or failed): frees its place and lets the next waiter in.</summary>
    public void Exit(long admittedAt)
    {
        if (!Enabled)
        {
            return;
        }

        var now = _time.GetTimestamp();
        lock (_gate)
        {
            _inFlight--;
            _windowCount++;
            _windowLatencyTicks += now - admittedAt;
            if (now - _windowStart >= _windowTicks)
            {
                Adapt(now);
            }

            Admit(now);
        }
    }

    private void Adapt(long now)
    {
        var average = _windowLatencyTicks / (double)Math.Max(1, _windowCount);
        var o = _options;
        var cpuNow = _cpuTime();
        var cpu = (cpuNow - _windowCpu).TotalSeconds / (_time.GetElapsedTime(_windowStart, now).TotalSeconds * Environment.ProcessorCount);
        _windowCpu = cpuNow;
        if (average > _targetTicks || _threadPoolQueue() > o.AdmissionThreadPoolQueue || cpu > o.AdmissionCpu)
        {
            _limit = Math.Max(o.AdmissionMinLimit, _limit - Math.Max(1, _limit / 4));
        }
        else if (_windowHadWaiters)
        {
            _limit = Math.Min(o.AdmissionMaxLimit, _limit + Math.Max(1, _limit / 8));
        }

        _windowStart = now;
        _windowCount = 0;
        _windowLatencyTicks = 0;
        _windowHadWaiters = _waiting > 0;
    }

    private void Admit(long now)
    {
        while (_inFlight < _limit && _queue.TryDequeue(out var next))
        {
            if (next.Completion.TrySetResult(now))
            {
                next.Registration.Unregister(); // not Dispose: a cancellation callback may be waiting for this lock
                _waiting--;
                _inFlight++;
            }
        }
    }

    private void Cancel(Waiter waiter, CancellationToken token)
    {
        lock (_gate)
        {
            if (waiter.Completion.TrySetCanceled(token))
            {
                _waiting--; // its queue entry is skipped when it comes up
            }
        }
    }

    private sealed class Waiter(VisitorAdmission owner)
    {
        public VisitorAdmission Owner { get; } = owner;

        public TaskCompletionSource<long> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public CancellationTokenRegistration Registration { get; set; }
    }
}
