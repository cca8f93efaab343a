using Microsoft.Playwright;
using Parley.Tests.E2E;
using Parley.Tests.Infrastructure;
using Parley.Tests.Reports;

namespace Parley.Tests.Console;

/// <summary>The Reports page in real Chromium over the hand-computed fixture of <see cref="ReportTests"/>.</summary>
public sealed class ReportsBrowserTests(BrowserFixture browser) : IClassFixture<BrowserFixture>
{
    private const int Timeout = 20_000;

    [Fact]
    public async Task ReportsPage_ShowsTheFixturesNumbers_ChartsAndAgentTable_InEnglishAndChinese()
    {
        browser.SkipIfUnavailable();
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage);
        await ReportTests.SeedAsync(server);

        await using var context = await browser.Browser.NewContextAsync(new() { Locale = "en-US", TimezoneId = "UTC", ViewportSize = new() { Width = 1440, Height = 1100 } });
        var page = await ConsolePage.SignInAsync(context, server);
        await page.GotoAsync(new Uri(server.BaseAddress, "/console/#/reports?from=2026-03-02&to=2026-03-02&tz=UTC").ToString());

        static ILocatorAssertions Kpi(IPage page, string id) => Assertions.Expect(page.GetByTestId($"kpi-{id}").GetByTestId("kpi-value"));
        await Kpi(page, "created").ToHaveTextAsync("6", new() { Timeout = Timeout });
        await Kpi(page, "closed").ToHaveTextAsync("5");
        await Kpi(page, "missed").ToHaveTextAsync("1");
        await Kpi(page, "abandoned").ToHaveTextAsync("1");
        await Kpi(page, "first-response").ToHaveTextAsync("2m"); // median 120 s
        await Kpi(page, "queue-wait").ToHaveTextAsync("1m");
        await Kpi(page, "resolution").ToHaveTextAsync("20m");
        await Kpi(page, "csat").ToHaveTextAsync("4.00");
        await Kpi(page, "hand-off").ToHaveTextAsync("50%");
        await Assertions.Expect(page.GetByTestId("agent-row-alice").GetByTestId("agent-created")).ToHaveTextAsync("2");
        await Assertions.Expect(page.GetByTestId("agent-row-alice").Locator("svg.spark polyline")).ToHaveCountAsync(1);
        // The visitor's formula comment is shown as text, not run or rendered.
        await Assertions.Expect(page.GetByTestId("csat-comments")).ToContainTextAsync("=HYPERLINK(\"http://evil\",\"x\")");
        // The charts came from the lazily loaded chunk and drew on canvases.
        foreach (var chart in new[] { "chart-volume", "chart-response-times", "chart-csat" })
        {
            await Assertions.Expect(page.GetByTestId(chart).Locator("canvas")).ToHaveCountAsync(1, new() { Timeout = Timeout });
        }

        // Business hours only: Sales' after-hours conversation drops out.
        await page.GetByTestId("report-business-hours").CheckAsync();
        await Kpi(page, "created").ToHaveTextAsync("5", new() { Timeout = Timeout });
        await Kpi(page, "resolution").ToHaveTextAsync("10m"); // median 600 s
        await page.ScreenshotAsync(new() { Path = Screenshots.PathOf("console-reports.png"), FullPage = true });

        // An inverted range is refused by the server and said so on the page.
        await page.GetByTestId("report-from").FillAsync("2026-03-05");
        await page.GetByTestId("report-refresh").ClickAsync();
        await Assertions.Expect(page.GetByTestId("report-error")).ToBeVisibleAsync(new() { Timeout = Timeout });

        await page.GetByLabel("Language").SelectOptionAsync("zh-CN");
        await Assertions.Expect(page.GetByTestId("reports").Locator("h2")).ToHaveTextAsync("报表");
        await Assertions.Expect(page.GetByTestId("kpi-created")).ToContainTextAsync("会话数");
    }
}
