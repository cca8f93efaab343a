using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using Parley.Server.Features.Access;
using Parley.Tests.E2E;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Console;

/// <summary>The audit log page (#/admin/audit) in real Chromium: filters, paging state, CSV export.</summary>
public sealed class AuditLogBrowserTests(BrowserFixture browser) : IClassFixture<BrowserFixture>
{
    private const int Timeout = 20_000;

    [Fact]
    public async Task Admin_FiltersTheAuditLogByActorActionAndTarget_AndExportsWhatTheFilterSelects()
    {
        browser.SkipIfUnavailable();
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage);
        var ann = await server.CreateUserAsync("ann@test.local", "Ann Agent");
        (await AgentClient.SignInAsync(server, "ann@test.local", UserSeeding.Password)).Http.Dispose(); // auth.sign_in by Ann
        using (var scope = server.Services.CreateScope())
        {
            var audit = scope.ServiceProvider.GetRequiredService<AuditLog>();
            await audit.RecordAsync("webhook.created", ann.Id, "Ann Agent", "webhook", "w-1", new { url = "https://example.com/hook" }, TestContext.Current.CancellationToken);
            await audit.RecordAsync("contact.updated", null, "=cmd|' /C calc'!A0", "contact", "c-1", cancellationToken: TestContext.Current.CancellationToken);
        }

        await using var context = await browser.Browser.NewContextAsync(new() { Locale = "en-US", ViewportSize = new() { Width = 1440, Height = 900 }, AcceptDownloads = true });
        var page = await ConsolePage.SignInAsync(context, server);
        await ConsolePage.NavigateAsync(page, "nav-audit");
        var rows = page.GetByTestId("audit-row");
        await Assertions.Expect(page.Locator("[data-testid=audit-row][data-action='webhook.created']")).ToHaveCountAsync(1, new() { Timeout = Timeout });
        await Assertions.Expect(page.Locator("[data-testid=audit-row][data-action='auth.sign_in']")).ToHaveCountAsync(2); // Ann, then the admin
        await page.Locator("[data-testid=audit-row][data-action='webhook.created'] summary").ClickAsync();
        await page.ScreenshotAsync(new() { Path = Screenshots.PathOf("console-audit.png"), FullPage = true });

        // Actor: only Ann's entries.
        await page.GetByTestId("audit-actor").SelectOptionAsync(ann.Id.ToString());
        await page.GetByTestId("audit-apply").ClickAsync();
        await Assertions.Expect(rows).ToHaveCountAsync(2, new() { Timeout = Timeout });
        await Assertions.Expect(rows.Filter(new() { HasNotText = "Ann Agent" })).ToHaveCountAsync(0);

        // Action prefix and target: one entry; its details unfold.
        await page.GetByTestId("audit-action").FillAsync("webhook.*");
        await page.GetByTestId("audit-target-type").FillAsync("webhook");
        await page.GetByTestId("audit-target-id").PressAsync("Enter");
        await Assertions.Expect(rows).ToHaveCountAsync(1, new() { Timeout = Timeout });
        await rows.Locator("summary").ClickAsync();
        await Assertions.Expect(rows.Locator("pre")).ToContainTextAsync("\"url\": \"https://example.com/hook\"");

        // Nothing matches: the empty state says so.
        await page.GetByTestId("audit-action").FillAsync("team.*");
        await page.GetByTestId("audit-apply").ClickAsync();
        await Assertions.Expect(page.GetByTestId("audit-empty")).ToBeVisibleAsync(new() { Timeout = Timeout });

        // Time: a window that ended before anything happened, then reset.
        await page.GetByTestId("audit-reset").ClickAsync();
        await Assertions.Expect(rows).Not.ToHaveCountAsync(0, new() { Timeout = Timeout });
        await page.GetByTestId("audit-to").FillAsync("2020-01-01T00:00");
        await page.GetByTestId("audit-apply").ClickAsync();
        await Assertions.Expect(page.GetByTestId("audit-empty")).ToBeVisibleAsync(new() { Timeout = Timeout });
        await page.GetByTestId("audit-reset").ClickAsync();

        // Export what the filter selects: UTF-8 with BOM, the formula in a name defused.
        await page.GetByTestId("audit-action").FillAsync("contact.*");
        await page.GetByTestId("audit-apply").ClickAsync();
        await Assertions.Expect(rows).ToHaveCountAsync(1, new() { Timeout = Timeout });
        var download = await page.RunAndWaitForDownloadAsync(() => page.GetByTestId("audit-export").ClickAsync());
        Assert.StartsWith("parley-audit-", download.SuggestedFilename);
        var path = await download.PathAsync();
        var bytes = await File.ReadAllBytesAsync(path, TestContext.Current.CancellationToken);
        Assert.Equal(Encoding.UTF8.Preamble.ToArray(), bytes[..3]);
        var lines = Encoding.UTF8.GetString(bytes[3..]).Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, lines.Length);
        Assert.Contains(",'=cmd|' /C calc'!A0,contact.updated,contact,c-1,", lines[1], StringComparison.Ordinal);

        // The export is in the log too.
        await page.GetByTestId("audit-action").FillAsync("audit.exported");
        await page.GetByTestId("audit-apply").ClickAsync();
        await Assertions.Expect(rows).ToHaveCountAsync(1, new() { Timeout = Timeout });
        await Assertions.Expect(rows).ToContainTextAsync("Admin");
    }
}
