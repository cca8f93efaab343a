using System.Net;
using System.Net.Http.Json;
using Microsoft.AspNetCore.SignalR.Client;
using Parley.Server.Features.Metrics;
using Parley.Tests.Api;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Operations;

/// <summary>A real server pushed into overload (thresholds set so that any commit counts as slow) sheds in order and recovers.</summary>
[Collection(nameof(MetricsTests))]
public sealed class LoadSheddingTests
{
    [Fact]
    public async Task Overload_RefusesNewWidgetSessions_KeepsSends_ShowsEverywhere_ThenRecovers()
    {
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        var settings = MetricsTests.GovernedByCommits(overload: true, calmSeconds: 1);
        settings["Parley:Governor:RetryAfterSeconds"] = "7";
        await using var server = await ParleyServer.StartAsync(storage, settings);
        await using var agent = await AgentClient.ConnectAsync(server);
        var banners = new Inbox<LoadStateEvent>();
        agent.Hub.On<LoadStateEvent>("loadState", banners.Add);
        await using var visitor = await VisitorClient.ConnectAsync(server);
        var conversation = await visitor.StartConversationAsync();
        await agent.JoinAsync(conversation.Id);

        // A commit (every commit is "slow" here) puts the node into overload at the next sample.
        await visitor.SendAsync(conversation.Id, "hello");
        var overload = (await banners.WaitUntilAsync(b => b.Any(e => e.State == "overload"))).First(e => e.State == "overload");
        Assert.Contains("new_widget_sessions", overload.Shedding);

        using var http = server.CreateHttpClient();
        var refused = await http.PostAsJsonAsync("/api/v1/widget/session", new { siteKey = ParleyServer.SiteKey }, TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
        Assert.Equal(TimeSpan.FromSeconds(7), refused.Headers.RetryAfter?.Delta);
        Assert.Contains("\"code\":\"overloaded\"", await refused.Content.ReadAsStringAsync(TestContext.Current.CancellationToken), StringComparison.Ordinal);

        // A returning visitor keeps their session; agents' and visitors' sends are never shed.
        var again = await http.PostAsJsonAsync("/api/v1/widget/session", new { siteKey = ParleyServer.SiteKey, visitorToken = visitor.Token }, TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.OK, again.StatusCode);
        var ack = await agent.SendAsync(conversation.Id, "we are busy but here");
        Assert.True(ack.Seq > 0);
        await visitor.Messages.WaitUntilAsync(m => m.Any(x => x.Body == "we are busy but here"));

        var ready = await http.GetAsync("/health/ready", TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        Assert.Equal("Degraded", await ready.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        var families = await MetricsTests.ScrapeAsync(server);
        Assert.Equal(2, families["parley_governor_state"].Samples.Single().Value);
        Assert.Contains(families["parley_governor_shed_total"].Samples, s => s.Label("feature") == "new_widget_sessions");
        var state = await agent.Http.GetFromJsonAsync<LoadStateEvent>("/api/v1/system/load", TestContext.Current.CancellationToken);
        Assert.Equal("overload", state!.State);

        // No more commits: calm for a second per level, then sessions are served again.
        await banners.WaitUntilAsync(b => b.Count > 0 && b[^1].State == "normal", TimeSpan.FromSeconds(30));
        var served = await http.PostAsJsonAsync("/api/v1/widget/session", new { siteKey = ParleyServer.SiteKey }, TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.OK, served.StatusCode);
        Assert.Equal("Healthy", await (await http.GetAsync("/health/ready", TestContext.Current.CancellationToken)).Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
    }
}
