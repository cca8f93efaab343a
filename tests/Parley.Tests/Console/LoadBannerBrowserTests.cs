using Microsoft.Playwright;
using Parley.Tests.Api;
using Parley.Tests.E2E;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Console;

/// <summary>
/// The load governor's banner in real Chromium (docs/operations.md, Overload): it appears when the node sheds, says
/// what agents should know, and goes when the node is calm again; a read of the state that crosses a push does not
/// hide it. Runs with the metrics tests: the governor here is driven by commits, and must not be by other servers'.
/// </summary>
[Collection(nameof(MetricsTests))]
public sealed class LoadBannerBrowserTests(BrowserFixture browser) : IClassFixture<BrowserFixture>
{
    private const int Timeout = 20_000;

    [Fact]
    public async Task Banner_ShowsOverloadWhenPushed_EvenIfAReadFromBeforeArrivesLater_AndGoesWhenCalm()
    {
        browser.SkipIfUnavailable();
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage, MetricsTests.GovernedByCommits(overload: true, calmSeconds: 1));

        // The console's reads of the state are answered with what the server said when they were made (normal, no
        // commit yet), but only once the test lets them go: after the overload was pushed.
        await using var context = await browser.Browser.NewContextAsync(new() { Locale = "en-US", ViewportSize = new() { Width = 1280, Height = 800 } });
        var routed = 0;
        var readWhileNormal = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await context.RouteAsync("**/api/v1/system/load", async route =>
        {
            Interlocked.Increment(ref routed);
            var stale = await route.FetchAsync();
            readWhileNormal.TrySetResult();
            await release.Task;
            await route.FulfillAsync(new() { Response = stale });
        });
        var console = await ConsolePage.SignInAsync(context, server);
        await readWhileNormal.Task.WaitAsync(TimeSpan.FromMilliseconds(Timeout), TestContext.Current.CancellationToken);
        var banner = console.GetByTestId("load-banner");
        await Assertions.Expect(banner).ToBeHiddenAsync();

        // A visitor's message is committed; every commit counts as slow here, so the node goes into overload.
        await using var visitor = await VisitorClient.ConnectAsync(server);
        var conversation = await visitor.StartConversationAsync();
        await visitor.SendAsync(conversation.Id, "hello");
        await Assertions.Expect(banner).ToHaveAttributeAsync("data-state", "overload", new() { Timeout = Timeout });
        await Assertions.Expect(banner).ToBeVisibleAsync();
        await Assertions.Expect(banner).ToHaveAttributeAsync("role", "status");
        await Assertions.Expect(banner).ToContainTextAsync("Your messages are still delivered first");

        // The reads made before it arrive now; they are older than the push and change nothing.
        release.SetResult();
        await Assertions.Expect(banner).ToHaveAttributeAsync("data-reads", Volatile.Read(ref routed).ToString(System.Globalization.CultureInfo.InvariantCulture), new() { Timeout = Timeout });
        await Assertions.Expect(banner).ToHaveAttributeAsync("data-state", "overload");
        await Assertions.Expect(banner).ToBeVisibleAsync();

        // No more commits: a calm second per level, and the banner goes.
        await Assertions.Expect(banner).ToHaveAttributeAsync("data-state", "normal", new() { Timeout = 30_000 });
        await Assertions.Expect(banner).ToBeHiddenAsync();
    }
}
