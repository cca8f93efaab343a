using Microsoft.Extensions.Time.Testing;
using Parley.Server.Features.Metrics;

namespace Parley.Tests.Operations;

/// <summary>
/// Admission control of visitors' sends on a fake clock: a bound on sends worked on at once, waiters let in in arrival
/// order, cancellation frees a place, and the bound shrinks when admitted sends are slow (or the thread pool is backed
/// up) and grows back when they are fast and the bound was what held senders back.
/// </summary>
public sealed class VisitorAdmissionTests
{
    private readonly FakeTimeProvider _clock = new();
    private long _threadPoolQueue;
    private TimeSpan _cpu;

    private VisitorAdmission Create(int initial = 4, int min = 2, int max = 64, double targetMs = 50) =>
        new(new GovernorOptions
        {
            AdmissionInitialLimit = initial,
            AdmissionMinLimit = min,
            AdmissionMaxLimit = max,
            AdmissionTargetMilliseconds = targetMs,
            AdmissionWindowMilliseconds = 100,
            AdmissionThreadPoolQueue = 200,
        }, _clock, () => _threadPoolQueue, () => _cpu);

    [Fact]
    public async Task BeyondTheLimit_SendsWait_AndAreLetInInArrivalOrder()
    {
        var gate = Create(initial: 2, min: 1);
        var first = gate.EnterAsync(CancellationToken.None);
        var second = gate.EnterAsync(CancellationToken.None);
        Assert.True(first.IsCompletedSuccessfully);
        Assert.True(second.IsCompletedSuccessfully);

        var waiting = Enumerable.Range(0, 5).Select(_ => gate.EnterAsync(CancellationToken.None)).ToList();
        Assert.All(waiting, w => Assert.False(w.IsCompleted));
        Assert.Equal(5, gate.Waiting);
        Assert.Equal(2, gate.InFlight);

        gate.Exit(await first);
        await waiting[0].WaitAsync(TimeSpan.FromSeconds(5));
        Assert.All(waiting.Skip(1), w => Assert.False(w.IsCompleted));

        gate.Exit(await second);
        await waiting[1].WaitAsync(TimeSpan.FromSeconds(5));
        Assert.All(waiting.Skip(2), w => Assert.False(w.IsCompleted));
        Assert.Equal(3, gate.Waiting);
        Assert.Equal(2, gate.InFlight);
    }

    [Fact]
    public async Task ACancelledWait_LeavesTheLine_AndTheNextOneGetsThePlace()
    {
        var gate = Create(initial: 1, min: 1);
        var admitted = await gate.EnterAsync(CancellationToken.None);
        using var gone = new CancellationTokenSource();
        var leaving = gate.EnterAsync(gone.Token);
        var staying = gate.EnterAsync(CancellationToken.None);
        Assert.Equal(2, gate.Waiting);

        await gone.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => leaving);
        Assert.Equal(1, gate.Waiting);

        gate.Exit(admitted);
        await staying.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(0, gate.Waiting);
        Assert.Equal(1, gate.InFlight);
    }

    [Fact]
    public async Task SlowAdmittedSends_ShrinkTheLimit_DownToTheMinimum()
    {
        var gate = Create(initial: 16, min: 4, targetMs: 50);
        for (var window = 0; window < 10; window++)
        {
            var admitted = await gate.EnterAsync(CancellationToken.None);
            _clock.Advance(TimeSpan.FromMilliseconds(200)); // 200 ms from admission to ack: over the 50 ms target
            gate.Exit(admitted);
        }

        Assert.Equal(4, gate.Limit);
    }

    [Fact]
    public async Task ABackedUpThreadPool_ShrinksTheLimit_EvenWhenSendsAreFast()
    {
        var gate = Create(initial: 16);
        _threadPoolQueue = 5_000;
        _clock.Advance(TimeSpan.FromMilliseconds(150)); // the window is over; the send itself takes no time
        gate.Exit(await gate.EnterAsync(CancellationToken.None));
        Assert.Equal(12, gate.Limit);
    }

    [Fact]
    public async Task ASaturatedCpu_ShrinksTheLimit_EvenWhenSendsAreFast()
    {
        var gate = Create(initial: 16);
        _clock.Advance(TimeSpan.FromMilliseconds(200));
        _cpu += TimeSpan.FromMilliseconds(195 * Environment.ProcessorCount); // 97.5 % of every core over the window
        gate.Exit(await gate.EnterAsync(CancellationToken.None));
        Assert.Equal(12, gate.Limit);
    }

    [Fact]
    public async Task FastSends_GrowTheLimit_OnlyWhenItHeldSendersBack()
    {
        var gate = Create(initial: 8, max: 64);

        // Fast and nobody waiting: the limit is not what holds senders back, it stays.
        _clock.Advance(TimeSpan.FromMilliseconds(150));
        gate.Exit(await gate.EnterAsync(CancellationToken.None));
        Assert.Equal(8, gate.Limit);

        // Fast, and a sender had to wait: it grows by an eighth.
        var admitted = new List<long>();
        for (var i = 0; i < 8; i++)
        {
            admitted.Add(await gate.EnterAsync(CancellationToken.None));
        }

        var queued = gate.EnterAsync(CancellationToken.None);
        Assert.False(queued.IsCompleted);
        _clock.Advance(TimeSpan.FromMilliseconds(20));
        foreach (var a in admitted)
        {
            gate.Exit(a);
        }

        var last = await queued.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(8, gate.Limit); // the window is not over yet
        _clock.Advance(TimeSpan.FromMilliseconds(100));
        gate.Exit(last);
        Assert.Equal(9, gate.Limit);
    }

    [Fact]
    public void WithTheGovernorOff_EverySendGoesAtOnce()
    {
        var gate = new VisitorAdmission(new GovernorOptions { Enabled = false, AdmissionInitialLimit = 1 }, _clock, () => 0, () => TimeSpan.Zero);
        var all = Enumerable.Range(0, 100).Select(_ => gate.EnterAsync(CancellationToken.None)).ToList();
        Assert.All(all, t => Assert.True(t.IsCompletedSuccessfully));
        Assert.False(gate.Enabled);
        Assert.Equal(0, gate.Waiting);
    }
}
