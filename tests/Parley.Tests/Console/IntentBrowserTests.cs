using System.Net.Http.Json;
using Microsoft.Playwright;
using Parley.Server.Features.Knowledge;
using Parley.Server.Infrastructure;
using Parley.Tests.E2E;
using Parley.Tests.Infrastructure;
using static Parley.Tests.Routing.RoutingHarness;

namespace Parley.Tests.Console;

/// <summary>
/// The conversation's intent in real Chromium: a badge on the inbox row, the inbox filter by intent, and the agent's
/// correction ("this was sales") from the conversation header, which stores a training example; a takeover
/// alert marks the row.
/// </summary>
public sealed class IntentBrowserTests(BrowserFixture browser) : IClassFixture<BrowserFixture>
{
    private const int Timeout = 20_000;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task InboxRow_ShowsTheIntent_FiltersByIt_AndTheAgentCorrectsIt()
    {
        browser.SkipIfUnavailable();
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage);
        await using var admin = await AgentClient.ConnectAsync(server);
        await using var visitor = await VisitorClient.ConnectAsync(server);
        var conversation = await visitor.StartConversationAsync();
        await visitor.SendAsync(conversation.Id, "The parcel arrived with a cracked screen, I need a replacement under warranty");
        var stored = await WaitForStoreAsync(server, rows => rows.Any(c => c.Id == conversation.Id && c.Intent != null));
        var read = stored.Single(c => c.Id == conversation.Id).Intent!;
        Assert.NotEqual("sales", read);

        await using var context = await browser.Browser.NewContextAsync(new() { Locale = "en-US", ViewportSize = new() { Width = 1440, Height = 860 } });
        var console = await ConsolePage.SignInAsync(context, server);
        var row = console.Locator($"[data-testid=inbox-item][data-conversation-id=\"{conversation.Id}\"]");
        var badge = row.GetByTestId("inbox-intent");
        await Assertions.Expect(badge).ToHaveAttributeAsync("data-intent", read, new() { Timeout = Timeout });

        // Filter: another intent hides the row, the conversation's own intent shows it.
        await console.GetByTestId("inbox-filters").ClickAsync();
        await console.GetByTestId("filter-intent").SelectOptionAsync("sales");
        await Assertions.Expect(row).ToHaveCountAsync(0, new() { Timeout = Timeout });
        await console.GetByTestId("filter-intent").SelectOptionAsync(read);
        await Assertions.Expect(row).ToHaveCountAsync(1, new() { Timeout = Timeout });
        await console.GetByTestId("filter-intent").SelectOptionAsync("");

        // "This was sales": the header's correction updates the badges and trains.
        await row.ClickAsync();
        await console.GetByTestId("intent-correct").SelectOptionAsync("sales");
        await Assertions.Expect(badge).ToHaveAttributeAsync("data-intent", "sales", new() { Timeout = Timeout });
        await Assertions.Expect(badge).ToHaveTextAsync("Sales");
        await Assertions.Expect(console.GetByTestId("intent-badge")).ToHaveAttributeAsync("data-intent", "sales", new() { Timeout = Timeout });
        await console.ScreenshotAsync(new() { Path = Screenshots.PathOf("console-intent.png") });

        // A takeover alert marks the row for everyone who sees it (the same question three times).
        await visitor.SendAsync(conversation.Id, "When will my replacement arrive?");
        await visitor.SendAsync(conversation.Id, "How long until my replacement arrives?");
        await visitor.SendAsync(conversation.Id, "When does my replacement arrive?");
        await Assertions.Expect(row).ToHaveAttributeAsync("data-takeover", "true", new() { Timeout = Timeout });
        await Assertions.Expect(row.GetByTestId("inbox-takeover")).ToHaveAttributeAsync("title", "Takeover alert: The visitor asked the same thing 3 times");

        var examples = await admin.Http.GetFromJsonAsync<Page<IntentExampleDto>>("/api/v1/knowledge/intent-examples?intent=sales", Ct);
        Assert.Contains(examples!.Items, e => e.Text.Contains("cracked screen", StringComparison.Ordinal));
        Assert.Equal("sales", (await ConversationsAsync(server)).Single(c => c.Id == conversation.Id).Intent);
    }

    [Fact]
    public async Task SupervisorsQueuePage_ListsTakeoverAlerts_AsTheyAreRaised()
    {
        browser.SkipIfUnavailable();
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage);
        await using var visitor = await VisitorClient.ConnectAsync(server);
        var conversation = await visitor.StartConversationAsync();
        await visitor.SendAsync(conversation.Id, "我的快递什么时候到？");

        await using var context = await browser.Browser.NewContextAsync(new() { Locale = "zh-CN", ViewportSize = new() { Width = 1440, Height = 860 } });
        var console = await ConsolePage.SignInAsync(context, server);
        await console.GetByTestId("nav-queue").ClickAsync();
        await Assertions.Expect(console.GetByTestId("takeover-alerts-empty")).ToBeVisibleAsync(new() { Timeout = Timeout });

        // The same question three times, while the page is open: the alert appears without a reload.
        await visitor.SendAsync(conversation.Id, "快递到底什么时候到？");
        await visitor.SendAsync(conversation.Id, "请问我的快递什么时候能到？");
        var alert = console.Locator($"[data-testid=takeover-alert][data-conversation=\"{conversation.Id}\"]");
        await Assertions.Expect(alert).ToHaveCountAsync(1, new() { Timeout = Timeout });
        await Assertions.Expect(alert).ToContainTextAsync("访客 ");
        await Assertions.Expect(console.GetByTestId("takeover-alert")).ToHaveCountAsync(1);
        await console.ScreenshotAsync(new() { Path = Screenshots.PathOf("console-queue-takeover.png") });

        // Closing the conversation ends the episode: the row leaves the list.
        await using var admin = await AgentClient.ConnectAsync(server);
        (await admin.Http.PostAsync($"/api/v1/conversations/{conversation.Id}/close", null, Ct)).EnsureSuccessStatusCode();
        await Assertions.Expect(alert).ToHaveCountAsync(0, new() { Timeout = Timeout });
    }

    [Fact]
    public async Task SupervisorsQueuePage_KeepsAPushedAlert_WhenTheListReadBeforeItArrivesAfterIt()
    {
        browser.SkipIfUnavailable();
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage);
        await using var visitor = await VisitorClient.ConnectAsync(server);
        var conversation = await visitor.StartConversationAsync();
        await visitor.SendAsync(conversation.Id, "我的快递什么时候到？");

        // The page's read of the alert list is answered with what the server said before the alert was raised, but
        // only once the alert's push has arrived: the two cross, as on a slow server or network.
        await using var context = await browser.Browser.NewContextAsync(new() { Locale = "zh-CN", ViewportSize = new() { Width = 1440, Height = 860 } });
        var readBeforeTheAlert = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await context.RouteAsync("**/api/v1/ai/takeover-alerts", async route =>
        {
            var stale = await route.FetchAsync();
            readBeforeTheAlert.TrySetResult();
            await release.Task;
            await route.FulfillAsync(new() { Response = stale });
        });
        var console = await ConsolePage.SignInAsync(context, server);
        await console.GetByTestId("nav-queue").ClickAsync();
        await readBeforeTheAlert.Task.WaitAsync(TimeSpan.FromMilliseconds(Timeout), Ct);
        var title = console.GetByTestId("takeover-alerts-title");
        await Assertions.Expect(title).ToHaveAttributeAsync("data-loaded", "false");
        await Assertions.Expect(console.GetByTestId("takeover-alerts-empty")).ToHaveCountAsync(0); // not "none" before it knows

        await visitor.SendAsync(conversation.Id, "快递到底什么时候到？");
        await visitor.SendAsync(conversation.Id, "请问我的快递什么时候能到？");
        var alert = console.Locator($"[data-testid=takeover-alert][data-conversation=\"{conversation.Id}\"]");
        await Assertions.Expect(alert).ToHaveCountAsync(1, new() { Timeout = Timeout });

        // The stale list (empty) arrives: the pushed alert stays.
        release.SetResult();
        await Assertions.Expect(title).ToHaveAttributeAsync("data-loaded", "true", new() { Timeout = Timeout });
        await Assertions.Expect(alert).ToHaveCountAsync(1);
        await Assertions.Expect(alert).ToContainTextAsync("访客 ");
    }
}
