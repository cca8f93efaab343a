using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Parley.Data;
using Parley.Server.Features.Auth;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Security;

/// <summary>#15 weak defaults that a REST probe shows (one test per default).</summary>
public sealed class WeakDefaultsTests
{
    private static readonly string[] ReadScope = ["read"];

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>A token minted by whoever held the old password must not outlive the change meant to lock them out.</summary>
    [Theory]
    [InlineData(Store.Sqlite)]
    [InlineData(Store.Postgres)]
    public async Task ApiTokens_AreRevoked_OnPasswordChange_AdminReset_AndDeactivation(Store store)
    {
        await using var storage = await TestStorage.CreateAsync(store);
        await using var server = await ParleyServer.StartAsync(storage);
        var sam = await server.CreateUserAsync("sam@test.local", "agent");
        var (admin, _) = await AgentClient.SignInAsync(server);
        using var _ = admin;

        async Task<string> MintAsync(HttpClient session)
        {
            var response = await session.PostAsJsonAsync("/api/v1/auth/tokens", new { name = "ci", scopes = ReadScope, expiresInDays = 7 }, Ct);
            Assert.Equal(HttpStatusCode.Created, response.StatusCode);
            return (await response.Content.ReadFromJsonAsync<CreatedToken>(Ct))!.Token;
        }

        async Task<HttpStatusCode> UseAsync(string token)
        {
            using var api = server.CreateHttpClient();
            api.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
            return (await api.GetAsync("/api/v1/conversations", Ct)).StatusCode;
        }

        var (mine, _) = await AgentClient.SignInAsync(server, "sam@test.local", SecurityFixtures.Password);
        using var __ = mine;

        // Own password change: tokens revoked by default.
        var first = await MintAsync(mine);
        Assert.Equal(HttpStatusCode.OK, await UseAsync(first));
        (await mine.PostAsJsonAsync("/api/v1/auth/password", new { currentPassword = SecurityFixtures.Password, newPassword = "Second-passphrase-1" }, Ct)).EnsureSuccessStatusCode();
        Assert.Equal(HttpStatusCode.Unauthorized, await UseAsync(first));

        // ... unless the user says to keep them.
        var kept = await MintAsync(mine);
        (await mine.PostAsJsonAsync("/api/v1/auth/password", new { currentPassword = "Second-passphrase-1", newPassword = "Third-passphrase-2", revokeApiTokens = false }, Ct)).EnsureSuccessStatusCode();
        Assert.Equal(HttpStatusCode.OK, await UseAsync(kept));

        // An admin's reset revokes them.
        (await admin.PostAsJsonAsync($"/api/v1/users/{sam.Id}/password", new { newPassword = "Fourth-passphrase-3" }, Ct)).EnsureSuccessStatusCode();
        Assert.Equal(HttpStatusCode.Unauthorized, await UseAsync(kept));

        // Deactivation revokes them for good: reactivating the account does not bring them back.
        var (again, _) = await AgentClient.SignInAsync(server, "sam@test.local", "Fourth-passphrase-3");
        using var ___ = again;
        var third = await MintAsync(again);
        Assert.Equal(HttpStatusCode.OK, await UseAsync(third));
        (await admin.PatchAsJsonAsync($"/api/v1/users/{sam.Id}", new { isActive = false }, Ct)).EnsureSuccessStatusCode();
        (await admin.PatchAsJsonAsync($"/api/v1/users/{sam.Id}", new { isActive = true }, Ct)).EnsureSuccessStatusCode();
        Assert.Equal(HttpStatusCode.Unauthorized, await UseAsync(third));

        await using var scope = server.Services.CreateAsyncScope();
        var rows = await scope.ServiceProvider.GetRequiredService<ParleyDbContext>().ApiTokens.AsNoTracking().Where(t => t.UserId == sam.Id).ToListAsync(Ct);
        Assert.Equal(3, rows.Count(t => t.RevokedAt != null));
    }
}
