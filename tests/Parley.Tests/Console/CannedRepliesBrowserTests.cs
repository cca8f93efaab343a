using System.Net.Http.Json;
using Microsoft.Playwright;
using Parley.Server.Features.Console;
using Parley.Tests.E2E;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Console;

/// <summary>The canned replies page (#/canned) in real Chromium: personal and shared replies, the variables preview.</summary>
public sealed class CannedRepliesBrowserTests(BrowserFixture browser) : IClassFixture<BrowserFixture>
{
    private const int Timeout = 20_000;
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Admin_CreatesASharedReplyWithAVariable_EditsAndDeletesIt_AndAnAgentCannotChangeIt()
    {
        browser.SkipIfUnavailable();
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage);
        await server.CreateUserAsync("ann@test.local", "Ann Agent");
        using var http = (await AgentClient.SignInAsync(server)).Http;

        await using var context = await browser.Browser.NewContextAsync(new() { Locale = "en-US", ViewportSize = new() { Width = 1440, Height = 900 } });
        var page = await ConsolePage.SignInAsync(context, server);
        await page.GetByTestId("nav-canned").ClickAsync();
        await page.GetByTestId("canned-new").ClickAsync();

        // The server's rules, checked first in the page with the same code and text.
        var error = page.GetByTestId("canned-error");
        await page.GetByTestId("canned-shortcut").FillAsync("hi there");
        await page.GetByTestId("canned-save").ClickAsync();
        await Assertions.Expect(error).ToHaveAttributeAsync("data-code", "invalid_shortcut");
        await Assertions.Expect(error).ToContainTextAsync("1-64 letters, digits");
        await page.GetByTestId("canned-shortcut").FillAsync("hello");
        await page.GetByTestId("canned-save").ClickAsync();
        await Assertions.Expect(error).ToHaveAttributeAsync("data-code", "invalid_body");

        // A variable inserted at the caret; the server expands it for the preview (a sample visitor and the admin).
        await page.GetByTestId("canned-body").FillAsync("Hi , this is ");
        await page.GetByTestId("canned-body").EvaluateAsync("el => el.setSelectionRange(3, 3)");
        await page.Locator("[data-testid=canned-variable][data-variable='visitor.name']").ClickAsync();
        await page.GetByTestId("canned-body").PressAsync("End");
        await page.Locator("[data-testid=canned-variable][data-variable='agent.name']").ClickAsync();
        await Assertions.Expect(page.GetByTestId("canned-body")).ToHaveValueAsync("Hi {{visitor.name}}, this is {{agent.name}}");
        await Assertions.Expect(page.GetByTestId("canned-preview-text")).ToHaveTextAsync("Hi Alex Chen, this is Admin", new() { Timeout = Timeout });
        await page.GetByTestId("canned-shared").CheckAsync();
        await page.ScreenshotAsync(new() { Path = Screenshots.PathOf("console-canned-replies.png"), FullPage = true });
        await page.GetByTestId("canned-save").ClickAsync();
        await Assertions.Expect(page.GetByTestId("canned-status")).ToHaveTextAsync("Reply created.", new() { Timeout = Timeout });
        var row = page.Locator("[data-testid=canned-row][data-shortcut=hello]");
        await Assertions.Expect(row).ToHaveAttributeAsync("data-shared", "true");

        // A second shared "/hello": only the server knows it exists, and says so with its code.
        await page.GetByTestId("canned-new").ClickAsync();
        await page.GetByTestId("canned-shortcut").FillAsync("hello");
        await page.GetByTestId("canned-body").FillAsync("Another greeting");
        await page.GetByTestId("canned-shared").CheckAsync();
        await page.GetByTestId("canned-save").ClickAsync();
        await Assertions.Expect(error).ToHaveAttributeAsync("data-code", "canned_reply_exists", new() { Timeout = Timeout });
        await Assertions.Expect(error).ToContainTextAsync("already exists");
        await page.GetByTestId("canned-body").PressAsync("Escape");
        await Assertions.Expect(page.GetByTestId("canned-form")).ToHaveCountAsync(0);

        // Edit.
        await row.GetByTestId("canned-edit").ClickAsync();
        await page.GetByTestId("canned-body").FillAsync("Hello {{visitor.name|there}}!");
        await page.GetByTestId("canned-save").ClickAsync();
        await Assertions.Expect(page.GetByTestId("canned-status")).ToHaveTextAsync("Saved.", new() { Timeout = Timeout });
        var stored = Assert.Single((await http.GetFromJsonAsync<List<CannedReplyDto>>("/api/v1/canned-replies", Ct))!);
        Assert.Equal("Hello {{visitor.name|there}}!", stored.Body);
        Assert.True(stored.Shared);

        // An agent sees the shared reply but cannot change it, and keeps personal ones of their own.
        await using (var agentContext = await browser.Browser.NewContextAsync(new() { Locale = "en-US", ViewportSize = new() { Width = 1280, Height = 800 } }))
        {
            var ann = await ConsolePage.SignInAsync(agentContext, server, "ann@test.local", UserSeeding.Password);
            await ann.GetByTestId("nav-canned").ClickAsync();
            var shared = ann.Locator("[data-testid=canned-row][data-shortcut=hello]");
            await Assertions.Expect(shared).ToBeVisibleAsync(new() { Timeout = Timeout });
            await Assertions.Expect(shared.GetByTestId("canned-edit")).ToHaveCountAsync(0);
            await ann.GetByTestId("canned-new").ClickAsync();
            await Assertions.Expect(ann.GetByTestId("canned-shared")).ToHaveCountAsync(0);
            await ann.GetByTestId("canned-shortcut").FillAsync("bye");
            await ann.GetByTestId("canned-body").FillAsync("Goodbye!");
            await ann.GetByTestId("canned-save").ClickAsync();
            await Assertions.Expect(ann.GetByTestId("canned-status")).ToHaveTextAsync("Reply created.", new() { Timeout = Timeout });
            await ann.GetByTestId("canned-tab-mine").ClickAsync();
            await Assertions.Expect(ann.GetByTestId("canned-row")).ToHaveCountAsync(1);
            await Assertions.Expect(ann.GetByTestId("canned-row")).ToHaveAttributeAsync("data-shortcut", "bye");
        }

        // Delete after confirming; the agent's personal reply is not the admin's to see.
        await row.GetByTestId("canned-delete").ClickAsync();
        await page.GetByTestId("confirm-ok").ClickAsync();
        await Assertions.Expect(page.GetByTestId("canned-status")).ToHaveTextAsync("Reply deleted.", new() { Timeout = Timeout });
        await Assertions.Expect(page.GetByTestId("canned-row")).ToHaveCountAsync(0);
        Assert.Empty((await http.GetFromJsonAsync<List<CannedReplyDto>>("/api/v1/canned-replies", Ct))!);
    }
}
