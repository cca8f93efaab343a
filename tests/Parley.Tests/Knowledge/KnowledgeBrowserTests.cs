using Microsoft.Playwright;
using Parley.Tests.E2E;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Knowledge;

/// <summary>The knowledge-base page of the console in real Chromium.</summary>
public sealed class KnowledgeBrowserTests(BrowserFixture browser) : IClassFixture<BrowserFixture>
{
    private const int Timeout = 20_000;

    [Fact]
    public async Task Admin_CreatesAnEntry_SeesItInTheList_FindsItBySearch_AndDeletesItAfterConfirming()
    {
        browser.SkipIfUnavailable();
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage);
        await using var context = await browser.Browser.NewContextAsync(new() { Locale = "en-US", ViewportSize = new() { Width = 1440, Height = 1000 } });
        var page = await ConsolePage.SignInAsync(context, server);

        await ConsolePage.NavigateAsync(page, "nav-knowledge");
        await page.GetByTestId("knowledge-new").ClickAsync();
        await Assertions.Expect(page.GetByTestId("knowledge-question")).ToBeFocusedAsync();
        await page.Keyboard.TypeAsync("保修期多久？");
        await page.GetByTestId("knowledge-add-variant").ClickAsync();
        await Assertions.Expect(page.GetByTestId("knowledge-variant")).ToBeFocusedAsync();
        await page.Keyboard.TypeAsync("How long is the warranty?");
        await page.GetByTestId("knowledge-answer").FillAsync("整机保修一年，详见 https://example.com/warranty");
        await page.GetByTestId("knowledge-language").FillAsync("zh-CN");
        await page.GetByTestId("knowledge-tags").FillAsync("售后, warranty");
        await page.GetByTestId("knowledge-save").ClickAsync();

        await Assertions.Expect(page.GetByTestId("knowledge-status")).ToHaveTextAsync("Saved.", new() { Timeout = Timeout });
        var row = page.GetByTestId("knowledge-row");
        await Assertions.Expect(row).ToHaveCountAsync(1);
        await Assertions.Expect(row.GetByTestId("knowledge-row-question")).ToHaveTextAsync("保修期多久？");
        await Assertions.Expect(row).ToContainTextAsync("warranty");

        // The search box finds it by its variant and not by an unrelated word (Enter submits the filter).
        await page.GetByTestId("knowledge-search").FillAsync("nothing like it");
        await page.GetByTestId("knowledge-search").PressAsync("Enter");
        await Assertions.Expect(row).ToHaveCountAsync(0, new() { Timeout = Timeout });
        await page.GetByTestId("knowledge-search").FillAsync("WARRANTY");
        await page.GetByTestId("knowledge-search").PressAsync("Enter");
        await Assertions.Expect(row).ToHaveCountAsync(1, new() { Timeout = Timeout });

        await row.GetByTestId("knowledge-delete").ClickAsync();
        await Assertions.Expect(page.GetByTestId("knowledge-delete-confirm")).ToBeFocusedAsync();
        await page.Keyboard.PressAsync("Enter");
        await Assertions.Expect(page.GetByTestId("knowledge-status")).ToHaveTextAsync("Deleted.", new() { Timeout = Timeout });
        await Assertions.Expect(row).ToHaveCountAsync(0);
    }
}
