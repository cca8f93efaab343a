using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Parley.Server.Features.Metrics;

namespace Parley.Tests.Operations;

/// <summary>The governor's state machine on a fake clock: up at once, down one level at a time after a calm period, with hysteresis.</summary>
public sealed class LoadGovernorTests : IDisposable
{
    private readonly FakeTimeProvider _clock = new();
    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
    private readonly GovernorOptions _options = new() { PressureCommitSeconds = 0.1, OverloadCommitSeconds = 0.5, PressureWriterQueue = 100, OverloadWriterQueue = 1000, RecoverFraction = 0.5, CalmSeconds = 10, RiseSamples = 1 };
    private readonly List<(LoadState From, LoadState To)> _changes = [];
    private readonly LoadGovernor _governor;

    public LoadGovernorTests()
    {
        _governor = new LoadGovernor(Options.Create(_options), _clock, new ParleyMetrics(_services.GetRequiredService<IMeterFactory>()), NullLogger<LoadGovernor>.Instance);
        _governor.Changed += (from, to) => _changes.Add((from, to));
    }

    public void Dispose() => _services.Dispose();

    private static OperationsSnapshot Sample(double commit = 0, int queue = 0) => new() { CommitSeconds = commit, WriterQueueDepth = queue };

    [Fact]
    public void CrossingAThreshold_RaisesTheStateAtOnce()
    {
        Assert.Equal(LoadState.Normal, _governor.Evaluate(Sample(commit: 0.05)));
        Assert.Equal(LoadState.Pressure, _governor.Evaluate(Sample(commit: 0.2)));
        Assert.Equal(LoadState.Overload, _governor.Evaluate(Sample(queue: 1500)));
        Assert.Equal([(LoadState.Normal, LoadState.Pressure), (LoadState.Pressure, LoadState.Overload)], _changes);
    }

    [Fact]
    public void OneSlowSample_IsNotEnough_WhenRiseSamplesAsksForMore()
    {
        _options.RiseSamples = 3;
        Assert.Equal(LoadState.Normal, _governor.Evaluate(Sample(commit: 0.6)));
        Assert.Equal(LoadState.Normal, _governor.Evaluate(Sample(commit: 0.6)));
        Assert.Equal(LoadState.Normal, _governor.Evaluate(Sample()));
        Assert.Equal(LoadState.Normal, _governor.Evaluate(Sample(commit: 0.6)));
        Assert.Equal(LoadState.Normal, _governor.Evaluate(Sample(commit: 0.2)));
        Assert.Equal(LoadState.Pressure, _governor.Evaluate(Sample(commit: 0.2)));
    }

    [Fact]
    public void Normal_JumpsStraightToOverload()
    {
        Assert.Equal(LoadState.Overload, _governor.Evaluate(Sample(commit: 0.6)));
        Assert.Equal([(LoadState.Normal, LoadState.Overload)], _changes);
    }

    [Fact]
    public void Recovery_NeedsTheCalmPeriod_AndStepsDownOneLevelAtATime()
    {
        _governor.Evaluate(Sample(commit: 0.6));
        _governor.Evaluate(Sample());
        _clock.Advance(TimeSpan.FromSeconds(9));
        Assert.Equal(LoadState.Overload, _governor.Evaluate(Sample()));
        _clock.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(LoadState.Pressure, _governor.Evaluate(Sample()));
        _clock.Advance(TimeSpan.FromSeconds(5));
        Assert.Equal(LoadState.Pressure, _governor.Evaluate(Sample()));
        _clock.Advance(TimeSpan.FromSeconds(5));
        Assert.Equal(LoadState.Normal, _governor.Evaluate(Sample()));
        Assert.Equal([(LoadState.Normal, LoadState.Overload), (LoadState.Overload, LoadState.Pressure), (LoadState.Pressure, LoadState.Normal)], _changes);
    }

    [Fact]
    public void Hysteresis_BelowTheThresholdButAboveTheRecoveryLevel_KeepsTheState()
    {
        _governor.Evaluate(Sample(commit: 0.2)); // pressure at 0.1 s; recovery below 0.05 s
        for (var i = 0; i < 10; i++)
        {
            _clock.Advance(TimeSpan.FromSeconds(5));
            Assert.Equal(LoadState.Pressure, _governor.Evaluate(Sample(commit: 0.08)));
        }

        _governor.Evaluate(Sample(commit: 0.01));
        _clock.Advance(TimeSpan.FromSeconds(10));
        Assert.Equal(LoadState.Normal, _governor.Evaluate(Sample(commit: 0.01)));
    }

    [Fact]
    public void ASpikeDuringTheCalmPeriod_StartsItAgain()
    {
        _governor.Evaluate(Sample(commit: 0.2));
        _governor.Evaluate(Sample());
        _clock.Advance(TimeSpan.FromSeconds(8));
        _governor.Evaluate(Sample(commit: 0.07)); // not a new level, but not calm either
        _clock.Advance(TimeSpan.FromSeconds(8));
        Assert.Equal(LoadState.Pressure, _governor.Evaluate(Sample()));
        _clock.Advance(TimeSpan.FromSeconds(10));
        Assert.Equal(LoadState.Normal, _governor.Evaluate(Sample()));
    }

    [Fact]
    public void Shedding_FollowsTheDocumentedOrder()
    {
        Assert.DoesNotContain(Enum.GetValues<Sheddable>(), _governor.ShouldShed);
        _governor.Evaluate(Sample(commit: 0.2));
        Assert.Equal([Sheddable.TypingAndReceipts, Sheddable.PageTracking, Sheddable.InboxSummaries, Sheddable.BackgroundCatchUp], Enum.GetValues<Sheddable>().Where(_governor.ShouldShed));
        _governor.Evaluate(Sample(commit: 0.6));
        Assert.Equal(Enum.GetValues<Sheddable>(), Enum.GetValues<Sheddable>().Where(_governor.ShouldShed));
        Assert.Equal(["typing_receipts", "page_tracking", "inbox_summaries", "background_catch_up", "bot_replies", "new_widget_sessions"], LoadStateEvent.Of(LoadState.Overload).Shedding);
    }

    [Fact]
    public async Task Health_IsDegradedWhileShedding()
    {
        Assert.Equal(HealthStatus.Healthy, (await _governor.CheckHealthAsync(new HealthCheckContext(), TestContext.Current.CancellationToken)).Status);
        _governor.Evaluate(Sample(commit: 0.2));
        Assert.Equal(HealthStatus.Degraded, (await _governor.CheckHealthAsync(new HealthCheckContext(), TestContext.Current.CancellationToken)).Status);
    }

    [Fact]
    public void Disabled_StaysNormal()
    {
        _options.Enabled = false;
        Assert.Equal(LoadState.Normal, _governor.Evaluate(Sample(commit: 5, queue: 100_000)));
        Assert.Empty(_changes);
    }
}
