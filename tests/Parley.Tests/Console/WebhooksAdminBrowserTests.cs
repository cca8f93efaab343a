using System.Net.Http.Json;
using Microsoft.Playwright;
using Parley.Server.Features.Webhooks;
using Parley.Tests.E2E;
using Parley.Tests.Infrastructure;
using Parley.Tests.Integration;

namespace Parley.Tests.Console;

/// <summary>The webhooks admin page in real Chromium, against a real receiver on loopback.</summary>
public sealed class WebhooksAdminBrowserTests(BrowserFixture browser) : IClassFixture<BrowserFixture>
{
    private const int Timeout = 20_000;
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Admin_CreatesAWebhook_SeesItsDeliveries_Redelivers_Rotates_Disables_AndDeletesIt()
    {
        browser.SkipIfUnavailable();
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage, new Dictionary<string, string?>
        {
            ["Parley:Webhooks:AllowPrivateTargets"] = "true", // the receiver listens on loopback
            ["Parley:Webhooks:PollInterval"] = "00:00:00.200",
            ["Parley:Webhooks:Jitter"] = "0",
        });
        await using var receiver = await WebhookReceiver.StartAsync();
        using var http = (await AgentClient.SignInAsync(server)).Http;

        await using var context = await browser.Browser.NewContextAsync(new() { Locale = "en-US", ViewportSize = new() { Width = 1440, Height = 1000 } });
        var page = await ConsolePage.SignInAsync(context, server);
        await ConsolePage.NavigateAsync(page, "nav-webhooks");
        await page.GetByTestId("webhook-new").ClickAsync();

        // Rules the server enforces are checked before sending, with the server's code and text.
        var error = page.GetByTestId("webhook-error");
        await page.GetByTestId("webhook-url").FillAsync("ftp://example.com/hook");
        await page.GetByTestId("webhook-save").ClickAsync();
        await Assertions.Expect(error).ToHaveAttributeAsync("data-code", "webhook_url_invalid");
        await Assertions.Expect(error).ToContainTextAsync("absolute http or https URL");
        await page.GetByTestId("webhook-url").FillAsync(receiver.Url.ToString());
        await page.GetByTestId("webhook-save").ClickAsync();
        await Assertions.Expect(error).ToHaveAttributeAsync("data-code", "webhook_event_types_required");

        // One the server alone can refuse (the address): its problem code is shown the same way.
        await page.GetByTestId("webhook-url").FillAsync("http://169.254.169.254/latest");
        await page.Locator("[data-testid=webhook-event][data-type='conversation.created']").CheckAsync();
        await page.GetByTestId("webhook-save").ClickAsync();
        await Assertions.Expect(error).ToHaveAttributeAsync("data-code", "webhook_target_forbidden", new() { Timeout = Timeout });
        Assert.Empty((await http.GetFromJsonAsync<List<WebhookEndpointDto>>("/api/v1/webhooks", Ct))!);

        // Create.
        await page.GetByTestId("webhook-url").FillAsync(receiver.Url.ToString());
        await page.GetByTestId("webhook-description").FillAsync("Order system");
        await page.GetByTestId("webhook-save").ClickAsync();
        await Assertions.Expect(page.GetByTestId("webhook-status")).ToHaveTextAsync("Endpoint created.", new() { Timeout = Timeout });
        var row = page.GetByTestId("webhook-row");
        await Assertions.Expect(row).ToHaveCountAsync(1);
        var stored = Assert.Single((await http.GetFromJsonAsync<List<WebhookEndpointDto>>("/api/v1/webhooks", Ct))!);
        Assert.Equal<string>(["conversation.created"], stored.EventTypes);
        Assert.Equal("Order system", stored.Description);

        // The secret is hidden until revealed; rotating asks first (Esc cancels) and then shows the new one.
        await Assertions.Expect(row.GetByTestId("webhook-secret")).Not.ToContainTextAsync("whsec_");
        await row.GetByTestId("webhook-reveal").ClickAsync();
        await Assertions.Expect(row.GetByTestId("webhook-secret")).ToHaveTextAsync(stored.Secret);
        await row.GetByTestId("webhook-rotate").ClickAsync();
        await Assertions.Expect(page.GetByTestId("confirm-cancel")).ToBeFocusedAsync();
        await page.Keyboard.PressAsync("Escape");
        await Assertions.Expect(page.GetByTestId("confirm-dialog")).ToHaveCountAsync(0);
        await Assertions.Expect(row.GetByTestId("webhook-rotate")).ToBeFocusedAsync();
        await row.GetByTestId("webhook-rotate").ClickAsync();
        await page.GetByTestId("confirm-ok").ClickAsync();
        await Assertions.Expect(page.GetByTestId("webhook-status")).ToContainTextAsync("New secret issued", new() { Timeout = Timeout });
        var rotated = Assert.Single((await http.GetFromJsonAsync<List<WebhookEndpointDto>>("/api/v1/webhooks", Ct))!).Secret;
        Assert.NotEqual(stored.Secret, rotated);
        await Assertions.Expect(row.GetByTestId("webhook-secret")).ToHaveTextAsync(rotated);

        // A delivery: its log shows the request that went out and the receiver's answer; redeliver sends it again.
        await using (var visitor = await VisitorClient.ConnectAsync(server))
        {
            await visitor.StartConversationAsync();
        }

        await receiver.Requests.WaitForCountAsync(1);
        await Eventually.ValueAsync(
            async () => (await http.GetFromJsonAsync<Parley.Server.Infrastructure.Page<WebhookDeliveryDto>>($"/api/v1/webhooks/{stored.Id}/deliveries", Ct))!.Items,
            items => items.Any(d => d.Status == "succeeded"));
        await row.GetByTestId("webhook-deliveries").ClickAsync();
        var delivery = page.GetByTestId("delivery-row");
        await Assertions.Expect(delivery).ToHaveCountAsync(1, new() { Timeout = Timeout });
        await Assertions.Expect(delivery.GetByTestId("delivery-status")).ToHaveTextAsync("Delivered");
        await delivery.GetByTestId("delivery-open").ClickAsync();
        var attempt = page.GetByTestId("delivery-attempt");
        await Assertions.Expect(attempt.GetByTestId("attempt-request")).ToContainTextAsync("\"type\": \"conversation.created\"", new() { Timeout = Timeout });
        await Assertions.Expect(attempt.GetByTestId("attempt-request")).ToContainTextAsync("webhook-id: evt_");
        await Assertions.Expect(attempt.GetByTestId("attempt-status")).ToHaveTextAsync("200");
        await Assertions.Expect(attempt.GetByTestId("attempt-response")).ToContainTextAsync("not recorded"); // a private address's answer is never logged
        await page.ScreenshotAsync(new() { Path = Screenshots.PathOf("console-webhooks.png"), FullPage = true });

        await delivery.GetByTestId("delivery-redeliver").ClickAsync();
        await Assertions.Expect(page.GetByTestId("webhook-status")).ToHaveTextAsync("Queued for delivery again.", new() { Timeout = Timeout });
        await receiver.Requests.WaitForCountAsync(2);
        await Assertions.Expect(page.GetByTestId("delivery-row")).ToHaveCountAsync(2, new() { Timeout = Timeout });

        // Edit: all events instead of one.
        await row.GetByTestId("webhook-edit").ClickAsync();
        await Assertions.Expect(page.GetByTestId("webhook-url")).ToHaveValueAsync(receiver.Url.ToString());
        await page.GetByTestId("webhook-all-events").CheckAsync();
        await page.GetByTestId("webhook-save").ClickAsync();
        await Assertions.Expect(page.GetByTestId("webhook-status")).ToHaveTextAsync("Saved.", new() { Timeout = Timeout });
        Assert.Equal<string>(["*"], Assert.Single((await http.GetFromJsonAsync<List<WebhookEndpointDto>>("/api/v1/webhooks", Ct))!).EventTypes);

        // Disable: a redelivery is refused with the server's code; enable again.
        await row.GetByTestId("webhook-disable").ClickAsync();
        await Assertions.Expect(row.GetByTestId("webhook-health")).ToHaveTextAsync("Disabled", new() { Timeout = Timeout });
        await page.GetByTestId("delivery-redeliver").First.ClickAsync();
        await Assertions.Expect(error).ToHaveAttributeAsync("data-code", "webhook_disabled", new() { Timeout = Timeout });
        await row.GetByTestId("webhook-enable").ClickAsync();
        await Assertions.Expect(row.GetByTestId("webhook-health")).ToHaveTextAsync("Healthy", new() { Timeout = Timeout });
        Assert.True(Assert.Single((await http.GetFromJsonAsync<List<WebhookEndpointDto>>("/api/v1/webhooks", Ct))!).Enabled);

        // Delete after confirming.
        await row.GetByTestId("webhook-delete").ClickAsync();
        await page.GetByTestId("confirm-ok").ClickAsync();
        await Assertions.Expect(page.GetByTestId("webhook-status")).ToHaveTextAsync("Endpoint deleted.", new() { Timeout = Timeout });
        await Assertions.Expect(page.GetByTestId("webhook-row")).ToHaveCountAsync(0);
        Assert.Empty((await http.GetFromJsonAsync<List<WebhookEndpointDto>>("/api/v1/webhooks", Ct))!);
    }

    [Fact]
    public async Task WebhooksPage_SpeaksChinese()
    {
        browser.SkipIfUnavailable();
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage);
        await using var context = await browser.Browser.NewContextAsync(new() { Locale = "zh-CN", ViewportSize = new() { Width = 1280, Height = 800 } });
        var page = await ConsolePage.SignInAsync(context, server);
        await ConsolePage.NavigateAsync(page, "nav-webhooks");
        await page.GetByTestId("webhook-new").ClickAsync();
        await page.GetByTestId("webhook-url").FillAsync("not a url");
        await page.GetByTestId("webhook-save").ClickAsync();
        await Assertions.Expect(page.GetByTestId("webhook-error")).ToContainTextAsync("请输入不含用户名和密码的 http 或 https 绝对地址");
        await page.Keyboard.PressAsync("Escape");
        await Assertions.Expect(page.GetByTestId("webhook-form")).ToHaveCountAsync(0);
    }
}
