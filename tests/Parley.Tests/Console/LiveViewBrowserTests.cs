using Microsoft.Playwright;
using Parley.Tests.E2E;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Console;

/// <summary>
/// The Queue page as the supervisors' live view in real Chromium: a visitor who starts waiting appears, and then
/// breaches the first-response target, without a reload and without polling (the page only listens to the hub).
/// </summary>
public sealed class LiveViewBrowserTests(BrowserFixture browser) : IClassFixture<BrowserFixture>
{
    private const int Timeout = 20_000;

    [Fact]
    public async Task QueuePage_ShowsANewWaitingVisitor_ThenItsSlaBreach_Live()
    {
        browser.SkipIfUnavailable();
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage, new Dictionary<string, string?>
        {
            // Nobody is assigned automatically (the admin's console is online), and the target passes quickly.
            ["Parley:Routing:DefaultStrategy"] = "Manual",
            ["Parley:Routing:FirstResponseTargetSeconds"] = "3",
            ["Parley:LiveView:MinIntervalMs"] = "200",
        });

        await using var context = await browser.Browser.NewContextAsync(new() { Locale = "zh-CN", ViewportSize = new() { Width = 1440, Height = 860 } });
        var console = await ConsolePage.SignInAsync(context, server);
        await console.GetByTestId("nav-queue").ClickAsync();
        await Assertions.Expect(console.GetByTestId("live-badge")).ToHaveTextAsync("● 实时", new() { Timeout = Timeout });
        var requests = new System.Collections.Concurrent.ConcurrentQueue<string>();
        console.Request += (_, r) => requests.Enqueue(r.Url);
        var general = console.Locator("[data-testid=live-dept][data-team=\"\"]");
        await Assertions.Expect(general.GetByTestId("dept-waiting")).ToHaveTextAsync("0");
        await Assertions.Expect(console.GetByTestId("sla-breaches-empty")).ToBeVisibleAsync();

        // A visitor starts waiting while the page is open.
        await using var visitor = await VisitorClient.ConnectAsync(server);
        var conversation = await visitor.StartConversationAsync();
        await visitor.SendAsync(conversation.Id, "你好，有人在吗？");
        await Assertions.Expect(console.Locator($"[data-testid=queue-row][data-conversation=\"{conversation.Id}\"]")).ToHaveCountAsync(1, new() { Timeout = Timeout });
        await Assertions.Expect(general.GetByTestId("dept-waiting")).ToHaveTextAsync("1");

        // Three seconds without a first reply: the breach appears (pushed when the target passes).
        await Assertions.Expect(console.Locator($"[data-testid=sla-breach][data-conversation=\"{conversation.Id}\"]")).ToHaveCountAsync(1, new() { Timeout = Timeout });
        await Assertions.Expect(general.GetByTestId("dept-breaches")).ToContainTextAsync("1");
        await Assertions.Expect(console.GetByTestId("sla-breach")).ToContainTextAsync("等待首次回复");
        await console.ScreenshotAsync(new() { Path = Screenshots.PathOf("console-queue-live.png") });

        // Once open, the page asked the REST API for nothing: everything above came over the hub.
        Assert.DoesNotContain(requests, u => u.Contains("/api/v1/routing/", StringComparison.Ordinal));
    }
}
