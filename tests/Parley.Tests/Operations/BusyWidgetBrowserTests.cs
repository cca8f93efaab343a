using Microsoft.Playwright;
using Parley.Tests.Api;
using Parley.Tests.E2E;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Operations;

/// <summary>Under overload a new visitor's widget (real Chromium, the H5 chat page) says it is busy and takes a message instead.</summary>
[Collection(nameof(MetricsTests))]
public sealed class BusyWidgetBrowserTests(BrowserFixture browser) : IClassFixture<BrowserFixture>
{
    [Fact]
    public async Task Overloaded_NewVisitor_SeesBusy_AndLeavesAMessage()
    {
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        var settings = MetricsTests.GovernedByCommits(overload: true, calmSeconds: 600);
        await using var server = await ParleyServer.StartAsync(storage, settings);
        var governor = server.Services.GetService(typeof(Parley.Server.Features.Metrics.LoadGovernor)) as Parley.Server.Features.Metrics.LoadGovernor;
        await using (var visitor = await VisitorClient.ConnectAsync(server))
        {
            var conversation = await visitor.StartConversationAsync();
            await visitor.SendAsync(conversation.Id, "a commit: every commit is slow here");
        }

        await Eventually.ValueAsync(() => Task.FromResult(governor!.State), s => s == Parley.Server.Features.Metrics.LoadState.Overload);
        var before = await server.TotalMessagesAsync();

        await using var context = await browser.Browser.NewContextAsync(new() { Locale = "en-US", ViewportSize = new() { Width = 390, Height = 844 } });
        var page = await context.NewPageAsync();
        await page.GotoAsync($"{server.BaseAddress}chat/{ParleyServer.SiteKey}");
        var form = page.GetByTestId("busy-form");
        await Assertions.Expect(form).ToBeVisibleAsync(new() { Timeout = 20_000 });
        await Assertions.Expect(form).ToContainTextAsync("Busy right now", new() { Timeout = 20_000 });
        await page.ScreenshotAsync(new() { Path = Screenshots.PathOf("widget-busy.png") });

        await page.GetByTestId("field-email").FillAsync("ada@example.com");
        await page.GetByTestId("field-message").FillAsync("Please call me back about my order");
        await page.GetByTestId("busy-form-submit").ClickAsync();
        await Assertions.Expect(page.GetByTestId("offline-done")).ToBeVisibleAsync(new() { Timeout = 20_000 });
        await Eventually.ValueAsync(() => server.TotalMessagesAsync(), n => n > before);
    }
}
