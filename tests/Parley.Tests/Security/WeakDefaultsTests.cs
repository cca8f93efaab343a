using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Parley.Data;
using Parley.Server.Features.Attachments;
using Parley.Server.Features.Auth;
using Parley.Tests.Infrastructure;
using Parley.Tests.Widget;

namespace Parley.Tests.Security;

/// <summary>#15 weak defaults that a REST probe shows (one test per default).</summary>
public sealed class WeakDefaultsTests
{
    private static readonly string[] ReadScope = ["read"];

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>A token minted by whoever held the old password must not outlive the change meant to lock them out.</summary>
    [Theory]
    [BothStores]
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

    /// <summary>"invoice\u202Egnp.exe" shows as "invoiceexe.png": bidi controls never reach a stored file name.</summary>
    [Theory]
    [BothStores]
    public async Task FileNames_AreStrippedOfBidiControls(Store store)
    {
        await using var storage = await TestStorage.CreateAsync(store);
        await using var server = await ParleyServer.StartAsync(storage);
        await using var visitor = await VisitorClient.ConnectAsync(server);
        var conversation = await visitor.StartConversationAsync();
        using var http = WidgetTestKit.VisitorHttp(server, visitor.Token);
        var name = "invoice\u202Egnp\u2066\u2067\u2068\u2069\u202A\u202B\u202C\u202D\u200E\u200F\u061C.exe.txt";
        using var body = new ByteArrayContent("a small text file"u8.ToArray());
        body.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        var response = await http.PostAsync($"/api/v1/widget/conversations/{conversation.Id}/attachments?name={Uri.EscapeDataString(name)}&clientId={Guid.NewGuid()}", body, Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);

        await using var scope = server.Services.CreateAsyncScope();
        var stored = await scope.ServiceProvider.GetRequiredService<ParleyDbContext>().Attachments.AsNoTracking().Select(a => a.FileName).SingleAsync(Ct);
        Assert.Equal("invoicegnp.exe.txt", stored);
        Assert.DoesNotContain(stored, FileTypes.IsBidiControl);
    }

    [Fact]
    public void SafeName_DropsEveryBidiControl()
    {
        foreach (var ch in "\u202A\u202B\u202C\u202D\u202E\u2066\u2067\u2068\u2069\u200E\u200F\u061C")
        {
            Assert.True(FileTypes.IsBidiControl(ch));
            Assert.Equal("ab.png", FileTypes.SafeName($"a{ch}b.png", FileTypes.Png));
        }

        Assert.Equal("שלום.png", FileTypes.SafeName("שלום.png", FileTypes.Png)); // right-to-left text itself stays
    }

    /// <summary>connect-src 'self' covers the hub's WebSocket (CSP3); "ws: wss:" let an injected script reach any host.</summary>
    [Fact]
    public async Task ConsoleAndWidgetCsp_ConnectOnlyToSelf()
    {
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage);
        using var http = server.CreateHttpClient();
        foreach (var path in new[] { "/console/", $"/widget/?site={ParleyServer.SiteKey}", $"/chat/{ParleyServer.SiteKey}" })
        {
            var response = await http.GetAsync(path, Ct);
            var csp = string.Join(";", response.Headers.GetValues("Content-Security-Policy"));
            var connect = csp.Split(';', StringSplitOptions.TrimEntries).Single(d => d.StartsWith("connect-src", StringComparison.Ordinal));
            Assert.Equal("connect-src 'self'", connect);
        }
    }

    /// <summary>The tests run as Production; ParleyServer turns these on, so here they are reset to their defaults.</summary>
    [Fact]
    public async Task OpenApiScalarAndDemo_AreOffByDefaultInProduction()
    {
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage, new Dictionary<string, string?>
        {
            ["Parley:Web:OpenApi"] = "",
            ["Parley:Web:Scalar"] = "",
            ["Parley:Widget:DemoPage"] = "",
        });
        using var http = server.CreateHttpClient();
        foreach (var path in new[] { "/openapi/v1.json", "/scalar/v1", "/demo" })
        {
            Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync(path, Ct)).StatusCode);
        }

        await using var on = await ParleyServer.StartAsync(storage);
        using var onHttp = on.CreateHttpClient();
        Assert.Equal(HttpStatusCode.OK, (await onHttp.GetAsync("/openapi/v1.json", Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await onHttp.GetAsync("/demo", Ct)).StatusCode);
    }

    /// <summary>
    /// Five wrong passwords used to lock any known account for 15 minutes (anyone could keep an admin out). Failures
    /// now count per account and client IP with growing delays; the owner signs in from their own address.
    /// </summary>
    [Theory]
    [BothStores]
    public async Task FailedSignIns_DelayTheAttackersAddress_NotTheAccount(Store store)
    {
        await using var storage = await TestStorage.CreateAsync(store);
        await using var server = await ParleyServer.StartAsync(storage, new Dictionary<string, string?>
        {
            ["Parley:Network:KnownProxies:0"] = "127.0.0.1",
            ["Parley:SignIn:BaseDelaySeconds"] = "60", // no delay runs out while the test runs, however slow the machine
        });

        HttpClient From(string ip)
        {
            var http = server.CreateHttpClient();
            http.DefaultRequestHeaders.Add("X-Parley-Csrf", "1");
            http.DefaultRequestHeaders.Add("X-Forwarded-For", ip);
            return http;
        }

        using var attacker = From("203.0.113.9");
        var delays = new List<int>();
        for (var i = 0; i < 12; i++)
        {
            var response = await attacker.PostAsJsonAsync("/api/v1/auth/login", new { email = ParleyServer.AdminEmail, password = "guess-" + i }, Ct);
            if (response.StatusCode == HttpStatusCode.TooManyRequests)
            {
                Assert.Equal("too_many_attempts", (await response.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("code").GetString());
                delays.Add(int.Parse(response.Headers.GetValues("Retry-After").Single(), System.Globalization.CultureInfo.InvariantCulture));
            }
            else
            {
                Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
            }
        }

        // Three free failures, then the attacker's address waits before each further guess (the right password too):
        // refused attempts are not checked and do not count.
        Assert.Equal(9, delays.Count);
        Assert.All(delays, d => Assert.InRange(d, 1, 300));
        Assert.True(delays[0] >= 58, $"first delay {delays[0]} s");
        Assert.Equal(HttpStatusCode.TooManyRequests, (await attacker.PostAsJsonAsync("/api/v1/auth/login", new { email = ParleyServer.AdminEmail, password = ParleyServer.AdminPassword }, Ct)).StatusCode);

        // The admin, from their own address, is not kept out, and nothing was stored that would keep them out later.
        using var owner = From("198.51.100.7");
        Assert.Equal(HttpStatusCode.OK, (await owner.PostAsJsonAsync("/api/v1/auth/login", new { email = ParleyServer.AdminEmail, password = ParleyServer.AdminPassword }, Ct)).StatusCode);
        await using var scope = server.Services.CreateAsyncScope();
        var admin = await scope.ServiceProvider.GetRequiredService<ParleyDbContext>().Users.AsNoTracking().SingleAsync(u => u.Email == ParleyServer.AdminEmail, Ct);
        Assert.Null(admin.LockedUntil);
    }

    [Fact]
    public void SignInDelays_DoubleAfterTheFreeFailures_UpToTheCap()
    {
        var o = new SignInOptions();
        Assert.Equal([0, 0, 0, 1, 2, 4, 8, 16, 32], Enumerable.Range(0, 9).Select(n => (int)SignInThrottle.DelayFor(n, o).TotalSeconds));
        Assert.Equal(300, SignInThrottle.DelayFor(40, o).TotalSeconds);
        Assert.Equal(300, SignInThrottle.DelayFor(12, o).TotalSeconds);
    }
}
