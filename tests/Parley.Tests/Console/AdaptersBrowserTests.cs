using System.Net.Http.Json;
using Microsoft.Playwright;
using Parley.Tests.E2E;
using Parley.Tests.Infrastructure;
using Parley.Tests.Integration;

namespace Parley.Tests.Console;

/// <summary>#21: the context adapters' status page (#/admin/adapters) in real Chromium, against a loopback order system.</summary>
public sealed class AdaptersBrowserTests(BrowserFixture browser) : IClassFixture<BrowserFixture>
{
    private const int Timeout = 20_000;
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Admin_SeesEachAdaptersLastSuccessAndLastFailure()
    {
        browser.SkipIfUnavailable();
        await using var orders = await FakeOrderSystem.StartAsync();
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage, orders.AdapterSettings("00:00:00.500"));
        await using var visitor = await VisitorClient.ConnectAsync(server);
        var conversation = await visitor.StartConversationAsync();
        await using var admin = await AgentClient.ConnectAsync(server);
        (await admin.Http.PatchAsJsonAsync($"/api/v1/contacts/{visitor.Session.ContactId}", new { externalId = "c-42" }, Ct)).EnsureSuccessStatusCode();

        await using var context = await browser.Browser.NewContextAsync(new() { Locale = "en-US", ViewportSize = new() { Width = 1440, Height = 900 } });
        var page = await ConsolePage.SignInAsync(context, server);
        await page.GotoAsync(new Uri(server.BaseAddress, "/console/#/admin/adapters").ToString());
        var row = page.Locator("[data-testid=adapter-row][data-name=orders]");
        await Assertions.Expect(row).ToHaveAttributeAsync("data-state", "unknown", new() { Timeout = Timeout });
        await Assertions.Expect(row.GetByTestId("adapter-state")).ToHaveTextAsync("Not used yet");
        await Assertions.Expect(row).ToContainTextAsync(orders.BaseAddress.GetLeftPart(UriPartial.Authority));

        // A success, then the system stops answering: the page shows both, with the failure's summary.
        (await admin.Http.GetAsync($"/api/v1/conversations/{conversation.Id}/context", Ct)).EnsureSuccessStatusCode();
        orders.Hang = true;
        (await admin.Http.GetAsync($"/api/v1/conversations/{conversation.Id}/context", Ct)).EnsureSuccessStatusCode();
        await page.GetByTestId("adapters-refresh").ClickAsync();
        await Assertions.Expect(row).ToHaveAttributeAsync("data-state", "failing", new() { Timeout = Timeout });
        await Assertions.Expect(row.GetByTestId("adapter-state")).ToHaveTextAsync("Failing");
        await Assertions.Expect(row.GetByTestId("adapter-last-error")).ToHaveTextAsync("Timeout: No answer within 0.5 s.");
        await Assertions.Expect(row.GetByTestId("adapter-last-success")).Not.ToHaveTextAsync("Never");
        await page.ScreenshotAsync(new() { Path = Screenshots.PathOf("console-adapters.png"), FullPage = true });

        // It answers again; in Chinese the state reads 正常 and the last failure stays on record.
        orders.Release();
        (await admin.Http.GetAsync($"/api/v1/conversations/{conversation.Id}/context", Ct)).EnsureSuccessStatusCode();
        await page.GetByLabel("Language").SelectOptionAsync("zh-CN");
        await page.GetByTestId("adapters-refresh").FocusAsync();
        await page.Keyboard.PressAsync("Enter");
        await Assertions.Expect(row).ToHaveAttributeAsync("data-state", "ok", new() { Timeout = Timeout });
        await Assertions.Expect(row.GetByTestId("adapter-state")).ToHaveTextAsync("正常");
        await Assertions.Expect(row.GetByTestId("adapter-last-error")).ToContainTextAsync("超时");
    }
}
