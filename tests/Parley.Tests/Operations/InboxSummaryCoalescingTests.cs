using System.Diagnostics;
using System.Diagnostics.Metrics;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Parley.Server.Features.Metrics;
using Parley.Server.Messaging;
using Parley.Tests.Api;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Operations;

/// <summary>Shedding step 3: under Pressure agents get at most one inbox summary per conversation per interval, the latest.</summary>
[Collection(nameof(MetricsTests))]
public sealed class InboxSummaryCoalescingTests : IDisposable
{
    private readonly FakeTimeProvider _clock = new();
    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
    private readonly GovernorOptions _options = new() { PressureCommitSeconds = 0.1, OverloadCommitSeconds = 0.5, RiseSamples = 1, CalmSeconds = 10, InboxSummaryMilliseconds = 1000, OverloadInboxSummaryMilliseconds = 5000 };
    private readonly LoadGovernor _governor;
    private readonly InboxSummaryCoalescer _coalescer;
    private readonly List<ConversationSummary> _pushed = [];
    private readonly List<int> _ticks = [];

    public InboxSummaryCoalescingTests()
    {
        _governor = new LoadGovernor(Options.Create(_options), _clock, new ParleyMetrics(_services.GetRequiredService<IMeterFactory>()), NullLogger<LoadGovernor>.Instance);
        _coalescer = new InboxSummaryCoalescer(_governor, Options.Create(_options), _clock);
    }

    public void Dispose()
    {
        _coalescer.Dispose();
        _services.Dispose();
    }

    private static ConversationSummary Summary(Guid id, string preview) => new() { Id = id, Status = "open", LastMessagePreview = preview };

    private bool Push(ConversationSummary summary) => _coalescer.Hold(summary, batch =>
    {
        _ticks.Add(batch.Count);
        _pushed.AddRange(batch);
    });

    [Fact]
    public void AtNormal_EverySummaryGoesOutAtOnce()
    {
        var id = Guid.NewGuid();
        Assert.False(Push(Summary(id, "a")));
        Assert.False(Push(Summary(id, "b")));
        Assert.Equal(0, _coalescer.Held);
    }

    [Fact]
    public void UnderPressure_TheLatestSummaryPerConversation_GoesOutOncePerInterval_AndAllOfItAtNormal()
    {
        Assert.Equal(LoadState.Pressure, _governor.Evaluate(new OperationsSnapshot { CommitSeconds = 0.2 }));
        var a = Guid.NewGuid();
        var b = Guid.NewGuid();
        for (var i = 1; i <= 50; i++)
        {
            Assert.True(Push(Summary(a, $"a{i}")));
        }

        Assert.True(Push(Summary(b, "b1")));
        Assert.Empty(_pushed);

        _clock.Advance(TimeSpan.FromMilliseconds(999));
        Assert.Empty(_pushed);
        _clock.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal(["a50", "b1"], _pushed.Select(s => s.LastMessagePreview).Order());
        Assert.Equal([2], _ticks); // one delivery per tick, however many conversations changed

        // A quiet interval pushes nothing; the next change waits for the next tick.
        _clock.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(2, _pushed.Count);
        Assert.True(Push(Summary(a, "a51")));
        Assert.True(Push(Summary(a, "a52")));
        Assert.Equal(2, _pushed.Count);

        // Back to Normal: what is held goes out at once (not at the next tick), and later changes go out directly.
        _options.CalmSeconds = 0;
        Assert.Equal(LoadState.Normal, _governor.Evaluate(new OperationsSnapshot()));
        Assert.Equal(["a50", "b1", "a52"], _pushed.Select(s => s.LastMessagePreview));
        Assert.False(Push(Summary(a, "a53")));
        Assert.Equal(0, _coalescer.Held);
    }

    [Fact]
    public void AtOverload_TheTicksAreSpacedFurther_AndComeBackAtPressure()
    {
        Assert.Equal(LoadState.Pressure, _governor.Evaluate(new OperationsSnapshot { CommitSeconds = 0.2 }));
        var a = Guid.NewGuid();
        Assert.True(Push(Summary(a, "a1")));
        Assert.Equal(LoadState.Overload, _governor.Evaluate(new OperationsSnapshot { CommitSeconds = 0.6 }));
        Assert.True(Push(Summary(a, "a2")));

        _clock.Advance(TimeSpan.FromMilliseconds(4999));
        Assert.Empty(_pushed);
        _clock.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal(["a2"], _pushed.Select(s => s.LastMessagePreview));

        // Down to Pressure: the next tick is one Pressure interval away again.
        _options.CalmSeconds = 0;
        Assert.Equal(LoadState.Pressure, _governor.Evaluate(new OperationsSnapshot { CommitSeconds = 0.2 }));
        Assert.True(Push(Summary(a, "a3")));
        _clock.Advance(TimeSpan.FromMilliseconds(1000));
        Assert.Equal(["a2", "a3"], _pushed.Select(s => s.LastMessagePreview));
    }

    [Fact]
    public async Task AServerUnderPressure_HoldsConversationUpdated_AndSendsTheNewestTogether_ButDeliversEveryMessage()
    {
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        var settings = MetricsTests.GovernedByCommits(overload: false, calmSeconds: 3600); // every commit: Pressure, never Overload
        settings["Parley:Governor:InboxSummaryMilliseconds"] = "60000"; // no tick within the test: the test flushes
        await using var server = await ParleyServer.StartAsync(storage, settings);
        var coalescer = server.Services.GetRequiredService<InboxSummaryCoalescer>();
        await using var agent = await AgentClient.ConnectAsync(server);
        var banners = new Inbox<LoadStateEvent>();
        agent.Hub.On<LoadStateEvent>("loadState", banners.Add);
        await using var first = await VisitorClient.ConnectAsync(server);
        await using var second = await VisitorClient.ConnectAsync(server);
        var a = await first.StartConversationAsync();
        var b = await second.StartConversationAsync();
        await agent.JoinAsync(a.Id);
        await agent.JoinAsync(b.Id);
        await first.SendAsync(a.Id, "first");
        await banners.WaitUntilAsync(e => e.Any(x => x.State == "pressure" && x.Shedding.Contains("inbox_summaries")), TimeSpan.FromSeconds(30));
        coalescer.Flush(); // whatever was held before the burst
        await agent.Conversations.WaitUntilAsync(s => s.Any(x => x.Id == a.Id && x.LastMessagePreview == "first"));

        var before = agent.Conversations.Snapshot().Count;
        for (var i = 1; i <= 10; i++)
        {
            await first.SendAsync(a.Id, $"a burst {i}");
            await second.SendAsync(b.Id, $"b burst {i}");
        }

        await agent.Messages.WaitUntilAsync(m => m.Any(x => x.Body == "a burst 10") && m.Any(x => x.Body == "b burst 10"));
        Assert.Equal(20, agent.Messages.Snapshot().Count(m => m.Body.Contains(" burst ", StringComparison.Ordinal))); // messages are never held

        // Twenty changes, no summary yet: the newest of each conversation waits for its tick.
        await Eventually.ValueAsync(
            () => Task.FromResult((coalescer.HeldSummary(a.Id)?.LastMessagePreview, coalescer.HeldSummary(b.Id)?.LastMessagePreview)),
            held => held == ("a burst 10", "b burst 10"));
        Assert.DoesNotContain(agent.Conversations.Snapshot().Skip(before), s => s.Id == a.Id || s.Id == b.Id);

        // The tick: one conversationsUpdated with the newest summary of both.
        coalescer.Flush();
        var summaries = await agent.Conversations.WaitUntilAsync(s => s.Skip(before).Count(x => x.Id == a.Id || x.Id == b.Id) == 2);
        Assert.Equal(["a burst 10", "b burst 10"], summaries.Skip(before).Where(s => s.Id == a.Id || s.Id == b.Id).Select(s => s.LastMessagePreview).Order());
        Assert.Contains(agent.SummaryBatches.Snapshot(), batch => batch.Any(s => s.Id == a.Id) && batch.Any(s => s.Id == b.Id));
    }
}
