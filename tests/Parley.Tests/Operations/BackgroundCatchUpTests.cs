using System.Collections.Concurrent;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Parley.Data;
using Parley.Server.Features.Metrics;
using Parley.Server.Infrastructure;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Operations;

/// <summary>
/// The governor's "background catch-up" shedding (docs/operations.md, Overload): a <see cref="LeasedPassWorker"/>
/// (history search's indexer, the report rollups) catches up pass after pass at Normal, but runs one pass per interval
/// while the node is under pressure. The worker's clock is fake: passes of one catch-up share its time, passes after a
/// sleep do not.
/// </summary>
public sealed class BackgroundCatchUpTests
{
    [Fact]
    public async Task AtNormal_ACatchUpRunsItsPassesAtOnce_UnderPressure_OnePassPerInterval()
    {
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage);
        var scopes = server.Services.GetRequiredService<IServiceScopeFactory>();
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 12, 6, 8, 0, 0, TimeSpan.Zero));

        // A governor of the test's own (the server's samples this busy machine): it changes only when told.
        var governor = new LoadGovernor(
            Options.Create(new GovernorOptions { RiseSamples = 1, CalmSeconds = 3600 }),
            clock,
            server.Services.GetRequiredService<ParleyMetrics>(),
            NullLogger<LoadGovernor>.Instance);

        Assert.False(governor.ShouldShed(Sheddable.BackgroundCatchUp));
        var normal = new CountingWorker(scopes, clock, governor, work: 5);
        await normal.StartAsync(TestContext.Current.CancellationToken);
        var atNormal = await Eventually.ValueAsync(() => Task.FromResult(normal.Passes.ToArray()), p => p.Length == 5);
        await normal.StopAsync(TestContext.Current.CancellationToken);
        Assert.Single(atNormal.Distinct()); // five passes, no sleep between them

        Assert.Equal(LoadState.Overload, governor.Evaluate(new OperationsSnapshot { CommitSeconds = 1_000 }));
        Assert.True(governor.ShouldShed(Sheddable.BackgroundCatchUp));
        var pressed = new CountingWorker(scopes, clock, governor, work: 5);
        await pressed.StartAsync(TestContext.Current.CancellationToken);
        var underPressure = await Eventually.ValueAsync(
            () =>
            {
                clock.Advance(CountingWorker.Every); // wakes the worker from its interval's sleep, if it sleeps
                return Task.FromResult(pressed.Passes.ToArray());
            },
            p => p.Length == 5);
        await pressed.StopAsync(TestContext.Current.CancellationToken);
        Assert.Equal(5, underPressure.Distinct().Count()); // each pass after a sleep
        Assert.True(underPressure.Zip(underPressure.Skip(1)).All(p => p.Second - p.First >= CountingWorker.Every));
        Assert.Empty(normal.Failures.Concat(pressed.Failures));
    }

    [Fact]
    public async Task APassRenewsItsLease_OnlyInTheSecondHalfOfItsTerm()
    {
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage);
        var scopes = server.Services.GetRequiredService<IServiceScopeFactory>();
        var start = new DateTimeOffset(2026, 12, 6, 8, 0, 0, TimeSpan.Zero);
        var clock = new FakeTimeProvider(start);
        var governor = new LoadGovernor(Options.Create(new GovernorOptions()), clock, server.Services.GetRequiredService<ParleyMetrics>(), NullLogger<LoadGovernor>.Instance);
        var worker = new CountingWorker(scopes, clock, governor, work: 100);
        async Task<DateTime> ExpiresAtAsync()
        {
            await using var scope = scopes.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<ParleyDbContext>();
            return await db.NodeLeases.Where(l => l.Name == worker.LeaseName).Select(l => l.ExpiresAt).SingleAsync(TestContext.Current.CancellationToken);
        }

        await worker.PassAsync(); // takes the lease: an hour from now
        Assert.Equal(start.UtcDateTime.AddHours(1), await ExpiresAtAsync());

        clock.Advance(TimeSpan.FromMinutes(20));
        await worker.PassAsync(); // first half of the term: no write
        Assert.Equal(start.UtcDateTime.AddHours(1), await ExpiresAtAsync());

        clock.Advance(TimeSpan.FromMinutes(15));
        await worker.PassAsync(); // second half: renewed for another hour
        Assert.Equal(start.UtcDateTime.AddMinutes(35).AddHours(1), await ExpiresAtAsync());
        Assert.Equal(3, worker.Passes.Count);
        Assert.Empty(worker.Failures);
    }

    /// <summary>A job with <c>work</c> passes to do, each recording the fake time it ran at.</summary>
    private sealed class CountingWorker : LeasedPassWorker
    {
        public static readonly TimeSpan Every = TimeSpan.FromMinutes(1);
        private readonly TimeProvider _clock;
        private readonly int _work;

        public CountingWorker(IServiceScopeFactory scopes, TimeProvider clock, LoadGovernor governor, int work)
            : base(scopes, clock, governor)
        {
            _clock = clock;
            _work = work;
        }

        public ConcurrentQueue<DateTimeOffset> Passes { get; } = new();

        public ConcurrentQueue<Exception> Failures { get; } = new();

        public string LeaseName { get; } = $"test-catch-up-{Guid.NewGuid():N}";

        protected override string Lease => LeaseName;

        public Task<(long Done, bool More)> PassAsync() => RunPassAsync(TestContext.Current.CancellationToken);

        protected override TimeSpan LeaseDuration => TimeSpan.FromHours(1);

        protected override TimeSpan Interval => Every;

        protected override Task<(long Done, bool More)> WorkAsync(ParleyDbContext db, CancellationToken cancellationToken)
        {
            if (Passes.Count >= _work)
            {
                return Task.FromResult((0L, false));
            }

            Passes.Enqueue(_clock.GetUtcNow());
            return Task.FromResult((1L, Passes.Count < _work));
        }

        protected override void PassFailed(Exception exception) => Failures.Enqueue(exception);
    }
}
