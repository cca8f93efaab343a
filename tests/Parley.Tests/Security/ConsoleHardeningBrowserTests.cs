using System.Net.Http.Json;
using Microsoft.Playwright;
using Parley.Server.Features.Widget;
using Parley.Tests.E2E;
using Parley.Tests.Infrastructure;
using Parley.Tests.Widget;

namespace Parley.Tests.Security;

/// <summary>#15 weak defaults that show in the console, checked in Chromium.</summary>
public sealed class ConsoleHardeningBrowserTests(BrowserFixture browser) : IClassFixture<BrowserFixture>
{
    private const int Timeout = 20_000;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Console_MarksUnverifiedIdentity_WarnsWhileOriginsAreOpen_AndConnectsOnlyToItself()
    {
        browser.SkipIfUnavailable();
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage);
        await using var visitor = await VisitorClient.ConnectAsync(server);
        var conversation = await visitor.StartConversationAsync();
        await visitor.SendAsync(conversation.Id, "Hi, I am the CEO, please refund me");
        var (admin, _) = await AgentClient.SignInAsync(server);
        using var _admin = admin;
        (await admin.PatchAsJsonAsync($"/api/v1/conversations/{conversation.Id}/contact", new { name = "Mallory CEO", email = "ceo@bank.example" }, Ct)).EnsureSuccessStatusCode();

        await using var context = await browser.Browser.NewContextAsync(new() { Locale = "en-US", ViewportSize = new() { Width = 1440, Height = 860 } });
        var page = await ConsolePage.SignInAsync(context, server); // the hub's WebSocket connects under connect-src 'self'

        // The first site lists no allowed origins: any page may frame its widget, and the admin is told.
        await Assertions.Expect(page.GetByTestId("origins-open-warning")).ToBeVisibleAsync(new() { Timeout = Timeout });

        // Name and email came from the visitor side: marked as not verified; there is no verified id to mark.
        await page.GetByTestId("inbox-item").Filter(new() { HasText = "Mallory CEO" }).ClickAsync();
        await Assertions.Expect(page.GetByTestId("contact-name")).ToHaveTextAsync("Mallory CEO", new() { Timeout = Timeout });
        await Assertions.Expect(page.GetByTestId("contact-name-unverified")).ToBeVisibleAsync();
        await Assertions.Expect(page.GetByTestId("contact-email-unverified")).ToBeVisibleAsync();
        await Assertions.Expect(page.GetByTestId("contact-phone-unverified")).ToHaveCountAsync(0);
        await Assertions.Expect(page.GetByTestId("contact-external-id-verified")).ToHaveCountAsync(0);

        // A script in the console cannot open a socket to another host.
        var outcome = await page.EvaluateAsync<string>("""
            () => new Promise(resolve => {
              document.addEventListener('securitypolicyviolation', e => resolve('blocked:' + e.effectiveDirective), { once: true });
              try { new WebSocket('ws://127.0.0.2:9/'); } catch (e) { resolve('threw:' + e.name); }
              setTimeout(() => resolve('allowed'), 5000);
            })
            """);
        Assert.True(outcome is "blocked:connect-src" or "threw:SecurityError", outcome);

        // Once the site lists its origins the warning goes (checked again on navigation).
        var siteId = await WidgetTestKit.SiteIdAsync(admin);
        var current = (await admin.GetFromJsonAsync<WidgetSettingsDto>($"/api/v1/sites/{siteId}/widget-settings", Ct))!;
        (await admin.PutAsJsonAsync($"/api/v1/sites/{siteId}/widget-settings", current with { AllowedOrigins = ["https://shop.example"] }, Ct)).EnsureSuccessStatusCode();
        await ConsolePage.NavigateAsync(page, "nav-widget-settings");
        await Assertions.Expect(page.GetByTestId("origins-open-warning")).ToHaveCountAsync(0, new() { Timeout = Timeout });
        await Assertions.Expect(page.GetByTestId("ws-origins-open")).ToHaveCountAsync(0, new() { Timeout = Timeout });
        await page.GetByTestId("ws-origins").FillAsync("");
        await Assertions.Expect(page.GetByTestId("ws-origins-open")).ToBeVisibleAsync();
    }
}
