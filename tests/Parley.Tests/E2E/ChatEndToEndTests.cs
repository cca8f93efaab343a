using Microsoft.Playwright;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.E2E;

/// <summary>A person's view: the widget on a web page and the agent console, in real Chromium against a real server.</summary>
public sealed class ChatEndToEndTests(BrowserFixture browser) : IClassFixture<BrowserFixture>
{
    private static readonly LocatorAssertionsToBeVisibleOptions Visible = new() { Timeout = 20_000 };

    [Fact]
    public async Task VisitorOnAPage_ChatsWithAgentInConsole_BothWays()
    {
        browser.SkipIfUnavailable();
        Assert.True(
            File.Exists(Path.Combine(ParleyServer.RepositoryRoot, "src", "Parley.Server", "wwwroot", "console", "index.html")),
            "web assets are not built: run `npm ci && npm run build` in web/ (the server build does it when they are missing)");
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage);

        // The visitor: a page that embeds the snippet.
        await using var visitorContext = await browser.Browser.NewContextAsync(new() { Locale = "en-US" });
        var page = await visitorContext.NewPageAsync();
        await page.GotoAsync(new Uri(server.BaseAddress, $"/demo?site={ParleyServer.SiteKey}").ToString());
        await page.GetByTestId("parley-launcher").ClickAsync();
        var widget = page.FrameLocator("iframe[data-testid=parley-frame]");
        await Assertions.Expect(widget.GetByTestId("connection-state")).ToHaveAttributeAsync("data-state", "connected", new() { Timeout = 20_000 });
        var question = "Where is my order <b>#1042</b>?";
        await widget.GetByTestId("composer-input").FillAsync(question);
        await widget.GetByTestId("composer-send").ClickAsync();
        var sent = widget.Locator("[data-testid=message][data-sender-kind=visitor][data-state=sent]");
        await Assertions.Expect(sent.GetByTestId("message-body")).ToHaveTextAsync(question, new() { Timeout = 20_000 });

        // The agent: signs in to the console, sees the conversation arrive, opens it, replies.
        await using var agentContext = await browser.Browser.NewContextAsync(new() { Locale = "en-US" });
        var console = await ConsolePage.SignInAsync(agentContext, server);
        var item = console.GetByTestId("inbox-item").First;
        await Assertions.Expect(item).ToContainTextAsync("#1042", new() { Timeout = 20_000 });
        await item.ClickAsync();
        var received = console.Locator("[data-testid=message][data-sender-kind=visitor]").GetByTestId("message-body");
        await Assertions.Expect(received).ToHaveTextAsync(question, new() { Timeout = 20_000 });

        // Markup typed by a visitor is shown as text, never interpreted.
        Assert.Equal(0, await console.Locator("[data-testid=message-body] b").CountAsync());

        var answer = "It ships today — 今天发货.";
        await console.GetByTestId("composer-input").FillAsync(answer);
        await console.GetByTestId("composer-send").ClickAsync();
        await Assertions.Expect(console.Locator("[data-testid=message][data-sender-kind=agent][data-state=sent]").GetByTestId("message-body"))
            .ToHaveTextAsync(answer, new() { Timeout = 20_000 });

        // Back on the visitor's page the reply arrives live.
        var reply = widget.Locator("[data-testid=message][data-sender-kind=agent]").GetByTestId("message-body");
        await Assertions.Expect(reply).ToHaveTextAsync(answer, new() { Timeout = 20_000 });

        // And after a reload the history is still there (visitor token + replay).
        await page.ReloadAsync();
        await page.GetByTestId("parley-launcher").ClickAsync();
        await Assertions.Expect(widget.Locator("[data-testid=message][data-sender-kind=agent]").GetByTestId("message-body")).ToHaveTextAsync(answer, new() { Timeout = 20_000 });
    }
}
