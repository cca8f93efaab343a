using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Playwright;
using Parley.Server.Features.Auth;
using Parley.Tests.E2E;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Security;

/// <summary>
/// #15 vulnerability 6: an admin created from a configured password (Parley:Bootstrap:AdminPassword, which sits in
/// compose files, environments and shell histories) must choose their own at first sign-in; until then every API but
/// the password change answers 403 password_change_required.
/// </summary>
public sealed class BootstrapPasswordTests(BrowserFixture browser) : IClassFixture<BrowserFixture>
{
    private const string NewPassword = "My-own-passphrase-77";

    private static readonly string[] ReadScope = ["read"];

    private static readonly Dictionary<string, string?> Required = new() { ["Parley:Bootstrap:RequirePasswordChange"] = "true" };

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public void RequirePasswordChange_IsOnByDefault() => Assert.True(new BootstrapOptions().RequirePasswordChange);

    [Theory]
    [BothStores]
    public async Task BootstrapAdmin_MustChangePassword_BeforeAnyOtherApi(Store store)
    {
        await using var storage = await TestStorage.CreateAsync(store);
        await using var server = await ParleyServer.StartAsync(storage, Required);

        var (http, cookies) = await AgentClient.SignInAsync(server);
        using var _ = http;
        var me = await http.GetFromJsonAsync<JsonElement>("/api/v1/auth/me", Ct);
        Assert.True(me.GetProperty("passwordChangeRequired").GetBoolean());

        foreach (var (method, path) in new[] { ("GET", "/api/v1/conversations"), ("GET", "/api/v1/users"), ("GET", "/api/v1/sites"), ("GET", "/api/v1/auth/sessions"), ("POST", "/api/v1/auth/tokens") })
        {
            using var request = new HttpRequestMessage(new HttpMethod(method), path) { Content = method == "POST" ? JsonContent.Create(new { name = "x", scopes = ReadScope }) : null };
            var response = await http.SendAsync(request, Ct);
            Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
            Assert.Equal("password_change_required", (await response.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("code").GetString());
        }

        await using (var hub = HubFactory.Build(server.BaseAddress, "/hubs/agent", false, o => o.Cookies = cookies))
        {
            var error = await Assert.ThrowsAnyAsync<Exception>(() => hub.StartAsync(Ct));
            Assert.Contains("403", error.Message, StringComparison.Ordinal);
        }

        // Keeping the configured password is not a change.
        var same = await http.PostAsJsonAsync("/api/v1/auth/password", new { currentPassword = ParleyServer.AdminPassword, newPassword = ParleyServer.AdminPassword }, Ct);
        Assert.Equal(HttpStatusCode.BadRequest, same.StatusCode);
        Assert.Equal("password_unchanged", (await same.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("code").GetString());

        var change = await http.PostAsJsonAsync("/api/v1/auth/password", new { currentPassword = ParleyServer.AdminPassword, newPassword = NewPassword }, Ct);
        Assert.Equal(HttpStatusCode.OK, change.StatusCode);
        Assert.False((await change.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("passwordChangeRequired").GetBoolean());
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/api/v1/conversations", Ct)).StatusCode);

        // A later sign-in is not asked again, and the hub opens.
        var (again, _) = await AgentClient.SignInAsync(server, ParleyServer.AdminEmail, NewPassword);
        using var __ = again;
        Assert.False((await again.GetFromJsonAsync<JsonElement>("/api/v1/auth/me", Ct)).GetProperty("passwordChangeRequired").GetBoolean());
        await using var agent = await AgentClient.ConnectAsAsync(server, ParleyServer.AdminEmail, NewPassword);
        Assert.Equal(Microsoft.AspNetCore.SignalR.Client.HubConnectionState.Connected, agent.Hub.State);
    }

    [Fact]
    public async Task SignIn_AnswersThatAChangeIsRequired_OnlyForTheBootstrapAdmin()
    {
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage, Required);
        using var anon = server.CreateHttpClient();
        anon.DefaultRequestHeaders.Add("X-Parley-Csrf", "1");
        var login = await anon.PostAsJsonAsync("/api/v1/auth/login", new { email = ParleyServer.AdminEmail, password = ParleyServer.AdminPassword }, Ct);
        Assert.Equal(HttpStatusCode.OK, login.StatusCode);
        Assert.True((await login.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("passwordChangeRequired").GetBoolean());

        // The admin (once changed) creates an agent: that password was chosen by a person, not configured.
        var (admin, _) = await AgentClient.SignInAsync(server);
        using (admin)
        {
            (await admin.PostAsJsonAsync("/api/v1/auth/password", new { currentPassword = ParleyServer.AdminPassword, newPassword = NewPassword }, Ct)).EnsureSuccessStatusCode();
            (await admin.PostAsJsonAsync("/api/v1/users", new { email = "sam@test.local", password = SecurityFixtures.Password, displayName = "Sam", role = "agent" }, Ct)).EnsureSuccessStatusCode();
        }

        var agent = await anon.PostAsJsonAsync("/api/v1/auth/login", new { email = "sam@test.local", password = SecurityFixtures.Password }, Ct);
        Assert.Equal(HttpStatusCode.OK, agent.StatusCode);
        Assert.False((await agent.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("passwordChangeRequired").GetBoolean());
    }

    [Fact]
    public async Task Console_ShowsTheChangePasswordStep_ThenTheInbox()
    {
        browser.SkipIfUnavailable();
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage, Required);
        await using var context = await browser.Browser.NewContextAsync(new() { Locale = "en-US" });
        var page = await context.NewPageAsync();
        await page.GotoAsync(new Uri(server.BaseAddress, "/console/").ToString());
        await page.GetByTestId("login-email").FillAsync(ParleyServer.AdminEmail);
        await page.GetByTestId("login-password").FillAsync(ParleyServer.AdminPassword);
        await page.GetByTestId("login-submit").ClickAsync();

        await Assertions.Expect(page.GetByTestId("change-password")).ToBeVisibleAsync(new() { Timeout = 20_000 });
        await Assertions.Expect(page.GetByTestId("connection-state")).ToHaveCountAsync(0);
        await page.GetByTestId("change-current").FillAsync(ParleyServer.AdminPassword);
        await page.GetByTestId("change-next").FillAsync(ParleyServer.AdminPassword);
        await page.GetByTestId("change-submit").ClickAsync();
        await Assertions.Expect(page.GetByTestId("change-error")).ToBeVisibleAsync(new() { Timeout = 20_000 });

        await page.GetByTestId("change-next").FillAsync(NewPassword);
        await page.GetByTestId("change-submit").ClickAsync();
        await Assertions.Expect(page.GetByTestId("connection-state")).ToHaveAttributeAsync("data-state", "connected", new() { Timeout = 20_000 });

        // Reloading keeps the console: the flag is gone on the server, not only in this page.
        await page.ReloadAsync();
        await Assertions.Expect(page.GetByTestId("connection-state")).ToHaveAttributeAsync("data-state", "connected", new() { Timeout = 20_000 });
        await Assertions.Expect(page.GetByTestId("change-password")).ToHaveCountAsync(0);
    }
}
