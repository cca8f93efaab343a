using Microsoft.Playwright;
using Parley.Tests.E2E;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Console;

/// <summary>
/// #21: the console header stays one line — the daily destinations in the bar, the admin ones in a keyboard-usable
/// "Admin" disclosure — at a 1440 px desktop and a 390 px phone, in English and Chinese.
/// </summary>
public sealed class NavigationBrowserTests(BrowserFixture browser) : IClassFixture<BrowserFixture>
{
    private const int Timeout = 20_000;

    [Theory]
    [InlineData(1440, 900, "en-US")]
    [InlineData(1440, 900, "zh-CN")]
    [InlineData(390, 844, "zh-CN")]
    [InlineData(390, 844, "en-US")]
    public async Task AdminNav_IsOneLine_AndTheAdminMenuWorksFromTheKeyboard(int width, int height, string locale)
    {
        browser.SkipIfUnavailable();
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage);
        await using var context = await browser.Browser.NewContextAsync(new() { Locale = locale, ViewportSize = new() { Width = width, Height = height } });
        var page = await ConsolePage.SignInAsync(context, server);

        // One line: every destination of the bar has the same top, and none is cut off by the viewport.
        var items = page.Locator("[data-testid=nav] > a, [data-testid=nav-admin]");
        Assert.Equal(5, await items.CountAsync()); // inbox, queue, replies, reports, Admin
        var boxes = new List<LocatorBoundingBoxResult>();
        for (var i = 0; i < await items.CountAsync(); i++)
        {
            boxes.Add((await items.Nth(i).BoundingBoxAsync())!);
        }

        Assert.True(boxes.Max(b => b.Y) - boxes.Min(b => b.Y) < 2, string.Join(", ", boxes.Select(b => $"{b.X}/{b.Y}")));
        Assert.True(boxes.Max(b => b.X + b.Width) <= width, $"nav ends at {boxes.Max(b => b.X + b.Width)} px");
        if (width >= 1440)
        {
            // The whole header too.
            var bar = (await page.Locator("header.bar").BoundingBoxAsync())!;
            Assert.True(bar.Height < 56, $"header is {bar.Height} px high");
        }

        // Keyboard: Enter opens, ArrowDown reaches the first link, Escape closes and gives focus back.
        var toggle = page.GetByTestId("nav-admin");
        var list = page.GetByTestId("nav-admin-list");
        await toggle.FocusAsync();
        await page.Keyboard.PressAsync("Enter");
        await Assertions.Expect(toggle).ToHaveAttributeAsync("aria-expanded", "true");
        await Assertions.Expect(list).ToBeVisibleAsync();
        await page.Keyboard.PressAsync("ArrowDown");
        await Assertions.Expect(page.GetByTestId("nav-users")).ToBeFocusedAsync();
        await page.Keyboard.PressAsync("End");
        await Assertions.Expect(page.GetByTestId("nav-audit")).ToBeFocusedAsync();
        var linkBox = (await page.GetByTestId("nav-audit").BoundingBoxAsync())!;
        Assert.True(linkBox.X >= 0 && linkBox.X + linkBox.Width <= width, $"menu link at {linkBox.X}..{linkBox.X + linkBox.Width}");
        await page.ScreenshotAsync(new() { Path = Screenshots.PathOf($"console-nav-{width}-{locale}.png") });
        await page.Keyboard.PressAsync("Escape");
        await Assertions.Expect(list).ToBeHiddenAsync();
        await Assertions.Expect(toggle).ToBeFocusedAsync();

        // Choosing a link goes there and closes the menu; the button shows that the page is one of its own.
        await page.Keyboard.PressAsync("ArrowDown");
        await page.Keyboard.PressAsync("ArrowDown");
        await Assertions.Expect(page.GetByTestId("nav-teams")).ToBeFocusedAsync();
        await page.Keyboard.PressAsync("Enter");
        await Assertions.Expect(page).ToHaveURLAsync(new System.Text.RegularExpressions.Regex("#/admin/teams$"), new() { Timeout = Timeout });
        await Assertions.Expect(list).ToBeHiddenAsync();
        await Assertions.Expect(toggle).ToHaveClassAsync(new System.Text.RegularExpressions.Regex("active"));
        await Assertions.Expect(toggle).ToHaveTextAsync(new System.Text.RegularExpressions.Regex(locale == "zh-CN" ? "管理" : "Admin"));

        // A click elsewhere closes it too.
        await toggle.ClickAsync();
        await Assertions.Expect(list).ToBeVisibleAsync();
        await page.Locator("body").ClickAsync(new() { Position = new() { X = 5, Y = height - 5 } });
        await Assertions.Expect(list).ToBeHiddenAsync();
    }

    [Fact]
    public async Task Agent_HasNoAdminMenu_AndItsLinksAreInTheBar()
    {
        browser.SkipIfUnavailable();
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage);
        await server.CreateUserAsync("ann@test.local", "Ann Agent");
        await using var context = await browser.Browser.NewContextAsync(new() { Locale = "en-US", ViewportSize = new() { Width = 390, Height = 844 } });
        var page = await ConsolePage.SignInAsync(context, server, "ann@test.local", UserSeeding.Password);
        await Assertions.Expect(page.GetByTestId("nav-admin")).ToHaveCountAsync(0);
        await Assertions.Expect(page.GetByTestId("nav-webhooks")).ToHaveCountAsync(0);
        await ConsolePage.NavigateAsync(page, "nav-install");
        await Assertions.Expect(page).ToHaveURLAsync(new System.Text.RegularExpressions.Regex("#/install$"), new() { Timeout = Timeout });
    }
}
