using Microsoft.Playwright;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.E2E;

/// <summary>The agent sees where the visitor is browsing (#4: device, current page, page trail), live, in Chromium.</summary>
public sealed class VisitorContextEndToEndTests(BrowserFixture browser) : IClassFixture<BrowserFixture>
{
    private const int Timeout = 20_000;

    [Fact]
    public async Task ContactPanel_ShowsBrowserCurrentPageAndTrail_AndFollowsInPageNavigationLive()
    {
        browser.SkipIfUnavailable();
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage);

        await using var visitorContext = await browser.Browser.NewContextAsync(new() { Locale = "en-US" });
        var page = await visitorContext.NewPageAsync();
        await page.GotoAsync(new Uri(server.BaseAddress, $"/demo?site={ParleyServer.SiteKey}").ToString());
        await page.GetByTestId("parley-launcher").ClickAsync();
        var widget = page.FrameLocator("iframe[data-testid=parley-frame]");
        await Assertions.Expect(widget.GetByTestId("connection-state")).ToHaveAttributeAsync("data-state", "connected", new() { Timeout = Timeout });
        await widget.GetByTestId("composer-input").FillAsync("Where is my parcel?");
        await widget.GetByTestId("composer-send").ClickAsync();
        await Assertions.Expect(widget.Locator("[data-testid=message][data-sender-kind=visitor][data-state=sent]")).ToHaveCountAsync(1, new() { Timeout = Timeout });

        await using var agentContext = await browser.Browser.NewContextAsync(new() { Locale = "en-US" });
        var console = await ConsolePage.SignInAsync(agentContext, server);
        await console.GetByTestId("inbox-item").First.ClickAsync(new() { Timeout = Timeout });

        var current = console.GetByTestId("contact-current-page");
        await Assertions.Expect(current).ToHaveTextAsync("Parley demo page", new() { Timeout = Timeout });
        await Assertions.Expect(current.Locator("a")).ToHaveAttributeAsync("href", new System.Text.RegularExpressions.Regex("/demo\\?site="));
        await Assertions.Expect(console.GetByTestId("contact-device")).ToHaveTextAsync(new System.Text.RegularExpressions.Regex("^Chrome \\d+ · Linux$"));
        await Assertions.Expect(console.GetByTestId("contact-trail")).ToHaveCountAsync(0); // one page is no trail yet

        // A single-page shop moves to its checkout: the panel follows without a reload.
        await page.EvaluateAsync("() => { history.pushState({}, '', location.pathname + location.search + '&step=checkout'); document.title = 'Checkout <b>now</b>'; window.Parley.trackPage(); }");
        await Assertions.Expect(current).ToHaveTextAsync("Checkout <b>now</b>", new() { Timeout = Timeout }); // a title is text, never markup
        await Assertions.Expect(console.GetByTestId("contact-trail-item")).ToHaveCountAsync(2, new() { Timeout = Timeout });
        await Assertions.Expect(console.GetByTestId("contact-trail-item").First).ToContainTextAsync("Checkout <b>now</b>");
        await Assertions.Expect(console.GetByTestId("contact-trail-item").Nth(1)).ToContainTextAsync("Parley demo page");
    }
}
