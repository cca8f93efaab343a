using System.Net.Http.Json;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Playwright;
using Parley.Server.Features.Attachments;
using Parley.Server.Features.Widget;
using Parley.Tests.E2E;
using Parley.Tests.Infrastructure;
using Parley.Tests.Widget;

namespace Parley.Tests.Security;

/// <summary>
/// Stored XSS (LHC #731, Chatwoot CVE-2021-3741) checked where it would fire: in real Chromium, in the agent console
/// and in the widget. Each payload would set <c>window.__xss</c> or open a dialog if it ran; the tests assert that
/// nothing ran, that no element was made from it (so they fail on an <c>innerHTML</c> bug even where the CSP would
/// have blocked the script) and that the text is shown literally. Also: the widget in Chromium obeys the site's
/// allowed origins (<c>frame-ancestors</c>).
/// </summary>
public sealed class BrowserSecurityTests(BrowserFixture browser) : IClassFixture<BrowserFixture>
{
    private const string NamePayload = "<img src=x onerror=\"window.__xss='name';alert('name')\">Mallory";
    private const string MessagePayload = "<script>window.__xss='message'</script><img src=x onerror=\"window.__xss='message';alert('message')\"> & &lt;b&gt;not bold&lt;/b&gt;";

    // The server replaces < > " / in file names; what survives (entities, quotes, &) must still stay text.
    private const string FilePayload = "<img src=x onerror=alert('file')>it's &lt;b&gt;bold&lt;/b&gt; & more.png";

    private static readonly LocatorAssertionsToHaveTextOptions Text = new() { Timeout = 20_000 };
    private static readonly LocatorAssertionsToHaveAttributeOptions Attr = new() { Timeout = 20_000 };

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Console_ShowsVisitorNameMessageAndFileNameAsText_NoScriptRuns()
    {
        browser.SkipIfUnavailable();
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage);

        // The attacker is a visitor: a name from the pre-chat form, a message, a file.
        await using var visitor = await VisitorClient.ConnectAsync(server);
        using var visitorHttp = WidgetTestKit.VisitorHttp(server, visitor.Token);
        (await visitorHttp.PostAsJsonAsync("/api/v1/widget/profile", new ProfileRequest(NamePayload, null, null, null), Ct)).EnsureSuccessStatusCode();
        var conversation = await visitor.StartConversationAsync();
        await visitor.SendAsync(conversation.Id, MessagePayload);
        (await WidgetTestKit.UploadAsync(visitorHttp, $"/api/v1/widget/conversations/{conversation.Id}/attachments", WidgetTestKit.Png, FilePayload)).EnsureSuccessStatusCode();
        var storedName = FileTypes.SafeName(FilePayload, FileTypes.Detect(WidgetTestKit.Png)!);

        await using var context = await browser.Browser.NewContextAsync(new() { Locale = "en-US" });
        var page = await context.NewPageAsync();
        var dialogs = WatchDialogs(page);
        await page.GotoAsync(new Uri(server.BaseAddress, "/console/").ToString());
        await page.GetByTestId("login-email").FillAsync(ParleyServer.AdminEmail);
        await page.GetByTestId("login-password").FillAsync(ParleyServer.AdminPassword);
        await page.GetByTestId("login-submit").ClickAsync();
        await Assertions.Expect(page.GetByTestId("connection-state")).ToHaveAttributeAsync("data-state", "connected", Attr);

        var item = page.GetByTestId("inbox-item").First;
        await Assertions.Expect(item.Locator(".name")).ToHaveTextAsync(NamePayload, Text);
        await Assertions.Expect(item.Locator(".preview")).ToHaveTextAsync("📎 " + storedName, Text);
        await item.ClickAsync();
        var text = page.Locator("[data-testid=message][data-sender-kind=visitor][data-kind=text]").GetByTestId("message-body");
        await Assertions.Expect(text).ToHaveTextAsync(MessagePayload, Text);
        await Assertions.Expect(page.Locator("[data-testid=message][data-sender-kind=visitor][data-kind=attachment]")).ToHaveCountAsync(1, new() { Timeout = 20_000 });

        await AssertNothingRanAsync(page, page.MainFrame, dialogs);
    }

    [Fact]
    public async Task Widget_ShowsAgentNameMessageAndFileNameAsText_RefusesSvg_NoScriptRuns()
    {
        browser.SkipIfUnavailable();
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage);

        // The attacker is a console user (or a compromised account) writing to visitors.
        var (admin, _) = await AgentClient.SignInAsync(server);
        using (admin)
        {
            var created = await admin.PostAsJsonAsync("/api/v1/users", new { email = "mallory@test.local", displayName = NamePayload, role = "agent", password = SecurityFixtures.Password }, Ct);
            created.EnsureSuccessStatusCode();
        }

        await using var agent = await AgentClient.ConnectAsAsync(server, "mallory@test.local", SecurityFixtures.Password);

        await using var context = await browser.Browser.NewContextAsync(new() { Locale = "en-US" });
        var page = await context.NewPageAsync();
        var dialogs = WatchDialogs(page);
        await page.GotoAsync(new Uri(server.BaseAddress, $"/chat/{ParleyServer.SiteKey}").ToString());
        await Assertions.Expect(page.GetByTestId("connection-state")).ToHaveAttributeAsync("data-state", "connected", Attr);
        await page.GetByTestId("composer-input").FillAsync("hello, is anyone there?");
        await page.GetByTestId("composer-input").PressAsync("Enter");
        var summary = (await agent.Conversations.WaitUntilAsync(c => c.Any(x => x.LastMessagePreview == "hello, is anyone there?")))[^1];
        await agent.JoinAsync(summary.Id);

        await agent.SendAsync(summary.Id, MessagePayload);
        var text = Encoding.UTF8.GetBytes("plain text attachment");
        (await WidgetTestKit.UploadAsync(agent.Http, $"/api/v1/conversations/{summary.Id}/attachments", text, FilePayload.Replace(".png", ".txt", StringComparison.Ordinal))).EnsureSuccessStatusCode();
        var storedName = FileTypes.SafeName(FilePayload.Replace(".png", ".txt", StringComparison.Ordinal), FileTypes.Detect(text)!);

        var fromAgent = page.Locator("[data-testid=message][data-sender-kind=agent]");
        await Assertions.Expect(fromAgent.First.Locator(".name")).ToHaveTextAsync(NamePayload, Text);
        await Assertions.Expect(fromAgent.GetByTestId("message-body").First).ToHaveTextAsync(MessagePayload, Text);
        await Assertions.Expect(fromAgent.GetByTestId("attachment")).ToContainTextAsync(storedName, new() { Timeout = 20_000 });

        // An SVG with a script is refused by its bytes; nothing of it is rendered.
        await page.GetByTestId("file-input").SetInputFilesAsync(new FilePayload
        {
            Name = "logo.svg",
            MimeType = "image/svg+xml",
            Buffer = "<svg xmlns=\"http://www.w3.org/2000/svg\" onload=\"parent.__xss='svg';alert('svg')\"><script>parent.__xss='svg'</script></svg>"u8.ToArray(),
        });
        var failed = page.Locator("[data-testid=message][data-state=failed]");
        await Assertions.Expect(failed.GetByTestId("message-meta")).ToContainTextAsync("This type of file cannot be sent", new() { Timeout = 20_000 });
        Assert.Equal(0, await page.Locator("svg[onload], svg script, object, embed, iframe").CountAsync());

        await AssertNothingRanAsync(page, page.MainFrame, dialogs);
    }

    [Fact]
    public async Task Widget_LoadsOnlyOnTheSitesOrigins()
    {
        browser.SkipIfUnavailable();
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage);
        await using var shop = await CustomerPage.StartAsync(server);

        // The customer's page origin is allowed: the widget loads and connects (its own calls are same-origin).
        await WidgetTestKit.PutSettingsAsync(server, WidgetSettings.Default, shop.Origin);
        await using var context = await browser.Browser.NewContextAsync(new() { Locale = "en-US" });
        var page = await context.NewPageAsync();
        await page.GotoAsync(shop.Url);
        var widget = page.FrameLocator("iframe[data-testid=parley-frame]");
        await Assertions.Expect(widget.GetByTestId("connection-state")).ToHaveAttributeAsync("data-state", "connected", Attr);

        // Another origin only: Chromium refuses to render the widget inside the customer page.
        await WidgetTestKit.PutSettingsAsync(server, WidgetSettings.Default, "https://other-shop.example");
        var refused = await page.RunAndWaitForConsoleMessageAsync(
            () => page.ReloadAsync(),
            new() { Predicate = m => m.Text.Contains("frame-ancestors", StringComparison.Ordinal), Timeout = 20_000 });
        Assert.Contains("https://other-shop.example", refused.Text, StringComparison.Ordinal);
    }

    private static List<string> WatchDialogs(IPage page)
    {
        var dialogs = new List<string>();
        page.Dialog += async (_, dialog) =>
        {
            lock (dialogs)
            {
                dialogs.Add(dialog.Message);
            }

            await dialog.DismissAsync();
        };
        return dialogs;
    }

    private static async Task AssertNothingRanAsync(IPage page, IFrame frame, List<string> dialogs)
    {
        Assert.Null(await frame.EvaluateAsync<string?>("() => window.__xss ?? null"));
        Assert.Equal(0, await frame.Locator("img[src=x], [onerror], [onload]").CountAsync());
        // Nothing but links and the interface's own (aria-hidden) icons is an element inside a message.
        Assert.Equal(0, await frame.Locator("[data-testid=message-body] *:not(a):not(svg[aria-hidden=true]):not(svg[aria-hidden=true] *)").CountAsync());
        Assert.Equal(0, await frame.Locator("[data-testid=message-body] b, .name *").CountAsync());
        lock (dialogs)
        {
            Assert.Empty(dialogs);
        }

        Assert.False(page.IsClosed);
    }

    /// <summary>A customer's page with the widget snippet, on a second loopback server (another origin).</summary>
    private sealed class CustomerPage : IAsyncDisposable
    {
        private readonly WebApplication _host;

        private CustomerPage(WebApplication host, string origin)
        {
            _host = host;
            Origin = origin;
        }

        public string Origin { get; }

        public string Url => Origin + "/shop";

        public static async Task<CustomerPage> StartAsync(ParleyServer server)
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.WebHost.UseUrls("http://127.0.0.1:0");
            builder.Logging.SetMinimumLevel(LogLevel.Warning);
            var host = builder.Build();
            var parley = server.BaseAddress.ToString().TrimEnd('/');
            var html = $"""
                <!doctype html><html lang="en"><head><meta charset="utf-8"><title>Shop</title></head>
                <body><h1>Shop</h1><script src="{parley}/widget.js" data-site="{ParleyServer.SiteKey}" async></script></body></html>
                """;
            host.MapGet("/shop", () => Results.Content(html, "text/html; charset=utf-8"));
            await host.StartAsync(Ct);
            var address = host.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            return new CustomerPage(host, address.TrimEnd('/'));
        }

        public async ValueTask DisposeAsync()
        {
            await _host.StopAsync(CancellationToken.None);
            await _host.DisposeAsync();
        }
    }
}
