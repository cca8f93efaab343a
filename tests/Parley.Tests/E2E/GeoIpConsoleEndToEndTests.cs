using Microsoft.Playwright;
using Parley.Tests.Infrastructure;
using Parley.Tests.Widget;

namespace Parley.Tests.E2E;

/// <summary>The widget in Chromium behind a "proxy" that names the client IP; the agent sees where the visitor is.</summary>
public sealed class GeoIpConsoleEndToEndTests(BrowserFixture browser) : IClassFixture<BrowserFixture>
{
    private static readonly LocatorAssertionsToHaveTextOptions Patient = new() { Timeout = 20_000 };

    [Fact]
    public async Task ContactPanel_ShowsTheVisitorsCityWithFlag_AndTheirLocalTime_InEnglishAndChinese()
    {
        browser.SkipIfUnavailable();
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await GeoIpServerTests.StartWithGeoIpAsync(storage);

        // The visitor's browser is set to Tokyo time while their IP is in London (a traveller, or a VPN): the
        // local time follows the browser, the place follows the IP.
        await using var visitorContext = await browser.Browser.NewContextAsync(new()
        {
            Locale = "en-GB",
            TimezoneId = "Asia/Tokyo",
            ExtraHTTPHeaders = new Dictionary<string, string> { ["X-Forwarded-For"] = "81.2.69.142" },
        });
        var page = await visitorContext.NewPageAsync();
        await page.GotoAsync(new Uri(server.BaseAddress, $"/demo?site={ParleyServer.SiteKey}").ToString());
        await page.GetByTestId("parley-launcher").ClickAsync();
        var widget = page.FrameLocator("iframe[data-testid=parley-frame]");
        await Assertions.Expect(widget.GetByTestId("connection-state")).ToHaveAttributeAsync("data-state", "connected", new() { Timeout = 20_000 });
        await widget.GetByTestId("composer-input").FillAsync("Do you ship to London?");
        await widget.GetByTestId("composer-send").ClickAsync();
        await Assertions.Expect(widget.Locator("[data-testid=message][data-sender-kind=visitor][data-state=sent]")).ToHaveCountAsync(1, new() { Timeout = 20_000 });

        await using var agentContext = await browser.Browser.NewContextAsync(new() { Locale = "en-US" });
        var console = await ConsolePage.SignInAsync(agentContext, server);
        await console.GetByTestId("inbox-item").First.ClickAsync(new() { Timeout = 20_000 });

        await Assertions.Expect(console.GetByTestId("contact-location")).ToHaveTextAsync("🇬🇧London, England, United Kingdom", Patient);
        await Assertions.Expect(console.GetByTestId("contact-local-time")).ToContainTextAsync("Asia/Tokyo", new() { Timeout = 20_000 });

        // In the Chinese console the database's Chinese names are used, largest place first.
        await console.GotoAsync(new Uri(server.BaseAddress, "/console/?locale=zh-CN").ToString());
        await console.GetByTestId("inbox-item").First.ClickAsync(new() { Timeout = 20_000 });
        await Assertions.Expect(console.GetByTestId("contact-location")).ToHaveTextAsync("🇬🇧英国 England 伦敦", Patient);
    }
}
