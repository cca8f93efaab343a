using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Parley.Data;
using Parley.Server.Routing;
using Parley.Tests.Infrastructure;
using Parley.Tests.Security;

namespace Parley.Tests.Routing;

/// <summary>The visitor's estimated wait uses the measured handle time (#5), not only a configured guess.</summary>
public sealed class HandleTimesTests
{
    private static readonly DateTimeOffset At = new(2026, 12, 4, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public void Compute_TakesTheMedianPerTeam_AndFallsBackToEveryoneWhenATeamHasTooFewSamples()
    {
        var busy = Guid.NewGuid();
        var quiet = Guid.NewGuid();
        (Guid?, double)[] samples =
        [
            (busy, 60), (busy, 120), (busy, 180), (busy, 240), (busy, 36_000), // one chat left open for hours
            (quiet, 900), (quiet, 900),
            (null, 300), (null, 300), (null, -5), // a negative span (clock skew) is ignored
        ];
        var estimates = HandleTimes.Compute(samples, At);
        Assert.Equal(180, estimates.PerTeam[busy]); // the outlier does not move the median
        Assert.False(estimates.PerTeam.ContainsKey(quiet));
        Assert.Equal(300, estimates.Overall); // median of the nine valid samples (60 120 180 240 [300] 300 900 900 36000)

        Assert.Null(HandleTimes.Compute([(busy, 60), (null, 90)], At).Overall);
    }

    [Theory]
    [BothStores]
    public async Task SecondsFor_ReadsRecentlyClosedConversations_OncePerMinute(Store store)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var storage = await TestStorage.CreateAsync(store);
        await using var server = await ParleyServer.StartAsync(storage);
        var team = await server.CreateTeamAsync("Support");
        var clock = new ManualClock { Now = At };
        var handleTimes = new HandleTimes(Options.Create(new RoutingOptions { AverageHandleSeconds = 300 }), clock);
        await using var scope = server.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ParleyDbContext>();

        await handleTimes.RefreshAsync(db, ct);
        Assert.Equal(300, handleTimes.SecondsFor(team)); // nothing closed yet: the configured value

        await using var visitor = await VisitorClient.ConnectAsync(server);
        foreach (var minutes in new[] { 2, 4, 6, 8, 10 })
        {
            var id = (await visitor.StartConversationAsync()).Id;
            var closed = At.UtcDateTime;
            await db.Conversations.Where(c => c.Id == id).ExecuteUpdateAsync(
                s => s.SetProperty(c => c.Status, ConversationStatus.Closed).SetProperty(c => c.TeamId, team)
                    .SetProperty(c => c.AssignedAt, closed.AddMinutes(-minutes)).SetProperty(c => c.ClosedAt, closed).SetProperty(c => c.LastMessageAt, closed),
                ct);
        }

        await handleTimes.RefreshAsync(db, ct);
        Assert.Equal(300, handleTimes.SecondsFor(team)); // read less than a minute ago: not again yet

        clock.Now += TimeSpan.FromMinutes(1);
        await handleTimes.RefreshAsync(db, ct);
        Assert.Equal(360, handleTimes.SecondsFor(team)); // median of 2..10 minutes
        Assert.Equal(360, handleTimes.SecondsFor(null)); // everyone's median
        Assert.Equal(360, handleTimes.SecondsFor(Guid.NewGuid())); // a team without samples: everyone's
    }

    private sealed class ManualClock : TimeProvider
    {
        public DateTimeOffset Now { get; set; }

        public override DateTimeOffset GetUtcNow() => Now;
    }
}
