using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using Microsoft.Playwright;
using Parley.Server.Features.Auth;
using Parley.Tests.E2E;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Console;

/// <summary>The account page (#/account) in real Chromium: personal API tokens.</summary>
public sealed class AccountBrowserTests(BrowserFixture browser) : IClassFixture<BrowserFixture>
{
    private const int Timeout = 20_000;
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Agent_CreatesATokenShownOnce_UsesIt_AndRevokesIt()
    {
        browser.SkipIfUnavailable();
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage);
        await server.CreateUserAsync("ann@test.local", "Ann Agent");

        await using var context = await browser.Browser.NewContextAsync(new() { Locale = "en-US", ViewportSize = new() { Width = 1440, Height = 900 } });
        var page = await ConsolePage.SignInAsync(context, server, "ann@test.local", UserSeeding.Password);
        await page.GetByTestId("current-user").ClickAsync();
        await page.GetByTestId("token-new").ClickAsync();

        // Client-side refusals carry the server's codes: no name, then no scope.
        var error = page.GetByTestId("token-error");
        await page.GetByTestId("token-create").ClickAsync();
        await Assertions.Expect(error).ToHaveAttributeAsync("data-code", "invalid_name");
        await page.GetByTestId("token-name").FillAsync("CRM sync");
        await page.GetByTestId("token-scope-read").UncheckAsync();
        await page.GetByTestId("token-create").ClickAsync();
        await Assertions.Expect(error).ToHaveAttributeAsync("data-code", "invalid_scope");
        await Assertions.Expect(error).ToContainTextAsync("Choose at least one scope");
        await page.GetByTestId("token-scope-areas").FillAsync("Conversations:READ");
        await page.GetByTestId("token-create").ClickAsync();
        await Assertions.Expect(error).ToHaveAttributeAsync("data-code", "invalid_scope");

        // Create: the token is shown once, then only its prefix.
        await page.GetByTestId("token-scope-areas").FillAsync("conversations:read");
        await page.GetByTestId("token-expiry").SelectOptionAsync("30");
        await page.GetByTestId("token-create").ClickAsync();
        await Assertions.Expect(page.GetByTestId("token-status")).ToContainTextAsync("shown only once", new() { Timeout = Timeout });
        var token = await page.GetByTestId("token-value").TextContentAsync();
        Assert.StartsWith("pat_", token);
        var row = page.Locator("[data-testid=token-row][data-name='CRM sync']");
        await Assertions.Expect(row.GetByTestId("token-state")).ToHaveTextAsync("Active");
        await Assertions.Expect(row).ToContainTextAsync("conversations:read");
        await page.ScreenshotAsync(new() { Path = Screenshots.PathOf("console-tokens.png"), FullPage = true });
        await page.GetByTestId("token-dismiss").ClickAsync();
        await Assertions.Expect(page.GetByTestId("token-once")).ToHaveCountAsync(0);
        await Assertions.Expect(page.Locator("body")).Not.ToContainTextAsync(token!);

        using var bearer = server.CreateHttpClient();
        bearer.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        Assert.Equal(HttpStatusCode.OK, (await bearer.GetAsync("/api/v1/conversations", Ct)).StatusCode);
        var (http, _) = await AgentClient.SignInAsync(server, "ann@test.local", UserSeeding.Password);
        using (http)
        {
            var stored = Assert.Single((await http.GetFromJsonAsync<List<ApiTokenDto>>("/api/v1/auth/tokens", Ct))!);
            Assert.Equal<string>(["conversations:read"], stored.Scopes);
            Assert.InRange((stored.ExpiresAt - stored.CreatedAt).TotalDays, 29.9, 30.1);
        }

        // Revoke after confirming: the token stops working at once.
        await row.GetByTestId("token-revoke").ClickAsync();
        await Assertions.Expect(page.GetByTestId("confirm-dialog")).ToContainTextAsync("CRM sync");
        await page.GetByTestId("confirm-ok").ClickAsync();
        await Assertions.Expect(page.GetByTestId("token-status")).ToHaveTextAsync("Token revoked.", new() { Timeout = Timeout });
        await Assertions.Expect(row.GetByTestId("token-state")).ToHaveTextAsync("Revoked");
        await Assertions.Expect(row.GetByTestId("token-revoke")).ToHaveCountAsync(0);
        Assert.Equal(HttpStatusCode.Unauthorized, (await bearer.GetAsync("/api/v1/conversations", Ct)).StatusCode);
    }
}
