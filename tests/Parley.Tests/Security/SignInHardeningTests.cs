using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Parley.Data;
using Parley.Server.Features.Access;
using Parley.Server.Features.Auth;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Security;

public sealed class SignInHardeningTests
{
    private static readonly string[] CandidateCodes = ["000000", "111111", "222222", "333333"];
    private static readonly string[] WriteScope = ["write"];

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>A browser-like client without a session that sends the console's anti-forgery header.</summary>
    private static HttpClient Anonymous(ParleyServer server)
    {
        var http = server.CreateHttpClient();
        http.DefaultRequestHeaders.Add("X-Parley-Csrf", "1");
        return http;
    }

    /// <summary>Chatwoot CVE-2021-3740 class: a stolen session must not survive the password change meant to end it.</summary>
    [Theory]
    [BothStores]
    public async Task PasswordChange_EndsEverySession_IncludingTheAgentHub(Store store)
    {
        await using var storage = await TestStorage.CreateAsync(store);
        await using var server = await ParleyServer.StartAsync(storage);
        await server.CreateUserAsync("sam@test.local", "agent");
        var (stolen, stolenCookies) = await AgentClient.SignInAsync(server, "sam@test.local", SecurityFixtures.Password);
        var (mine, _) = await AgentClient.SignInAsync(server, "sam@test.local", SecurityFixtures.Password);
        using var _ = stolen;
        using var __ = mine;
        Assert.Equal(HttpStatusCode.OK, (await stolen.GetAsync("/api/v1/auth/me", Ct)).StatusCode);

        var change = await mine.PostAsJsonAsync("/api/v1/auth/password", new { currentPassword = SecurityFixtures.Password, newPassword = "A-brand-new-passphrase" }, Ct);
        Assert.Equal(HttpStatusCode.OK, change.StatusCode);

        Assert.Equal(HttpStatusCode.Unauthorized, (await stolen.GetAsync("/api/v1/auth/me", Ct)).StatusCode);
        await using var hub = HubFactory.Build(server.BaseAddress, "/hubs/agent", false, o => o.Cookies = stolenCookies);
        var error = await Assert.ThrowsAnyAsync<Exception>(() => hub.StartAsync(Ct));
        Assert.Contains("401", error.Message, StringComparison.Ordinal);

        // The changing browser got a fresh session; the old password no longer signs in.
        Assert.Equal(HttpStatusCode.OK, (await mine.GetAsync("/api/v1/auth/me", Ct)).StatusCode);
        using var anon = Anonymous(server);
        Assert.Equal(HttpStatusCode.Unauthorized, (await anon.PostAsJsonAsync("/api/v1/auth/login", new { email = "sam@test.local", password = SecurityFixtures.Password }, Ct)).StatusCode);
    }

    [Fact]
    public async Task Sessions_AreListed_AndRevokedSessionsStopWorking()
    {
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage);
        await server.CreateUserAsync("sam@test.local", "agent");
        using var laptop = await server.SignInAsync("sam@test.local");
        using var phone = await server.SignInAsync("sam@test.local");

        var sessions = await laptop.GetFromJsonAsync<List<SessionDto>>("/api/v1/auth/sessions", Ct);
        Assert.Equal(2, sessions!.Count);
        var other = Assert.Single(sessions, s => !s.Current);
        Assert.Equal(HttpStatusCode.NoContent, (await laptop.DeleteAsync($"/api/v1/auth/sessions/{other.Id}", Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await phone.GetAsync("/api/v1/auth/me", Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await laptop.GetAsync("/api/v1/auth/me", Ct)).StatusCode);

        // Sign-out revokes the row too, so a copied cookie is dead after logout.
        using var copy = await server.SignInAsync("sam@test.local");
        Assert.Single((await copy.GetFromJsonAsync<List<SessionDto>>("/api/v1/auth/sessions", Ct))!, s => s.Current);
        var (adminHttp, _) = await AgentClient.SignInAsync(server);
        using (adminHttp)
        {
            var sam = (await adminHttp.GetFromJsonAsync<List<JsonElement>>("/api/v1/users", Ct))!.Single(u => u.GetProperty("email").GetString() == "sam@test.local");
            var id = sam.GetProperty("id").GetGuid();
            Assert.Equal(2, (await adminHttp.GetFromJsonAsync<List<SessionDto>>($"/api/v1/users/{id}/sessions", Ct))!.Count);
            Assert.Equal(HttpStatusCode.NoContent, (await adminHttp.DeleteAsync($"/api/v1/users/{id}/sessions", Ct)).StatusCode);
        }

        Assert.Equal(HttpStatusCode.Unauthorized, (await laptop.GetAsync("/api/v1/auth/me", Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await copy.GetAsync("/api/v1/auth/me", Ct)).StatusCode);
    }

    [Fact]
    public async Task RepeatedFailures_ThrottleTheAccount_EvenWithTheRightPassword_AndUnknownEmailsAlike()
    {
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage, new Dictionary<string, string?> { ["Parley:SignIn:BaseDelaySeconds"] = "60" });
        using var http = Anonymous(server);

        async Task<(HttpStatusCode, string?)> LoginAsync(string email, string password)
        {
            var response = await http.PostAsJsonAsync("/api/v1/auth/login", new { email, password }, Ct);
            var body = await response.Content.ReadFromJsonAsync<JsonElement>(Ct);
            return (response.StatusCode, body.ValueKind == JsonValueKind.Object && body.TryGetProperty("code", out var c) ? c.GetString() : null);
        }

        // Three free failures per account and address (SignInOptions.FreeFailures), then a growing delay.
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal((HttpStatusCode.Unauthorized, "invalid_credentials"), await LoginAsync(ParleyServer.AdminEmail, "wrong-" + i));
            Assert.Equal((HttpStatusCode.Unauthorized, "invalid_credentials"), await LoginAsync("nobody@test.local", "wrong-" + i));
        }

        Assert.Equal((HttpStatusCode.TooManyRequests, "too_many_attempts"), await LoginAsync(ParleyServer.AdminEmail, ParleyServer.AdminPassword));
        Assert.Equal((HttpStatusCode.TooManyRequests, "too_many_attempts"), await LoginAsync("nobody@test.local", "anything-at-all"));
    }

    [Fact]
    public async Task PerIpThrottle_StopsSprayingManyAccounts()
    {
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage, new Dictionary<string, string?> { ["Parley:SignIn:MaxFailuresPerIp"] = "12" });
        using var http = Anonymous(server);

        // One failure each on many accounts from one address: no account's delay starts, the address's cap does.
        for (var i = 0; i < 12; i++)
        {
            Assert.Equal(HttpStatusCode.Unauthorized, (await http.PostAsJsonAsync("/api/v1/auth/login", new { email = $"user{i}@test.local", password = "nope" }, Ct)).StatusCode);
        }

        var refused = await http.PostAsJsonAsync("/api/v1/auth/login", new { email = "fresh@test.local", password = "nope" }, Ct);
        Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
        Assert.True(refused.Headers.RetryAfter is not null);
    }

    [Fact]
    public async Task Totp_IsRequiredOnceEnabled_AndACodeWorksOnlyOnce()
    {
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage);
        await server.CreateUserAsync("sam@test.local", "agent");
        using var http = await server.SignInAsync("sam@test.local");
        var setup = await (await http.PostAsync("/api/v1/auth/totp/setup", null, Ct)).Content.ReadFromJsonAsync<TotpSetupDto>(Ct);
        Assert.StartsWith("otpauth://totp/Parley:", setup!.OtpauthUri, StringComparison.Ordinal);
        var secret = TotpCodes.FromBase32(setup.Secret);
        var time = server.Services.GetRequiredService<TimeProvider>();

        var now = Totp.StepAt(time.GetUtcNow());
        var window = new[] { now - 1, now, now + 1 }.Select(step => Totp.Code(secret, step)).ToHashSet();
        var wrong = CandidateCodes.First(c => !window.Contains(c));
        Assert.Equal(HttpStatusCode.BadRequest, (await http.PostAsJsonAsync("/api/v1/auth/totp/enable", new { code = wrong }, Ct)).StatusCode);
        var enableCode = Totp.Code(secret, now);
        Assert.Equal(HttpStatusCode.OK, (await http.PostAsJsonAsync("/api/v1/auth/totp/enable", new { code = enableCode }, Ct)).StatusCode);

        using var anon = Anonymous(server);
        var noCode = await anon.PostAsJsonAsync("/api/v1/auth/login", new { email = "sam@test.local", password = SecurityFixtures.Password }, Ct);
        Assert.Equal(HttpStatusCode.Unauthorized, noCode.StatusCode);
        Assert.Equal("totp_required", (await noCode.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("code").GetString());
        Assert.False(noCode.Headers.Contains("Set-Cookie"));

        // The code used to enable is spent; the next step's code (inside the skew window) signs in once.
        Assert.Equal(HttpStatusCode.Unauthorized, (await anon.PostAsJsonAsync("/api/v1/auth/login", new { email = "sam@test.local", password = SecurityFixtures.Password, totpCode = enableCode }, Ct)).StatusCode);
        var code = Totp.Code(secret, now + 1);
        Assert.Equal(HttpStatusCode.OK, (await anon.PostAsJsonAsync("/api/v1/auth/login", new { email = "sam@test.local", password = SecurityFixtures.Password, totpCode = code }, Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await anon.PostAsJsonAsync("/api/v1/auth/login", new { email = "sam@test.local", password = SecurityFixtures.Password, totpCode = code }, Ct)).StatusCode);
    }

    [Theory]
    [InlineData(59L, "94287082")]
    [InlineData(1111111109L, "07081804")]
    [InlineData(1234567890L, "89005924")]
    [InlineData(20000000000L, "65353130")]
    public void Totp_MatchesRfc6238TestVectors(long unixSeconds, string expected)
    {
        var secret = "12345678901234567890"u8.ToArray();
        Assert.Equal(expected, Totp.Code(secret, unixSeconds / Totp.StepSeconds, digits: 8));
        Assert.Equal(expected[2..], Totp.Code(secret, unixSeconds / Totp.StepSeconds));
    }

    [Fact]
    public async Task ApiTokens_AreHashedAtRest_Scoped_Revocable_AndNeedNoCsrfHeader()
    {
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage);
        await using var visitor = await VisitorClient.ConnectAsync(server);
        var conversation = await visitor.StartConversationAsync();
        var (session, _) = await AgentClient.SignInAsync(server);
        using var __ = session;

        async Task<CreatedToken> CreateAsync(params string[] scopes)
        {
            var response = await session.PostAsJsonAsync("/api/v1/auth/tokens", new { name = "ci", scopes, expiresInDays = 7 }, Ct);
            Assert.Equal(HttpStatusCode.Created, response.StatusCode);
            return (await response.Content.ReadFromJsonAsync<CreatedToken>(Ct))!;
        }

        var reader = await CreateAsync("conversations:read");
        var writer = await CreateAsync("write");
        Assert.StartsWith("pat_", reader.Token, StringComparison.Ordinal);
        await using (var scope = server.Services.CreateAsyncScope())
        {
            var stored = await scope.ServiceProvider.GetRequiredService<ParleyDbContext>().ApiTokens.AsNoTracking().ToListAsync(Ct);
            Assert.DoesNotContain(stored, t => t.Hash == reader.Token || t.Hash.Contains(reader.Token[4..], StringComparison.Ordinal));
            Assert.Contains(stored, t => t.Hash == ApiTokens.Hash(reader.Token));
        }

        using var api = server.CreateHttpClient(); // no anti-forgery header: tokens need none
        api.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", reader.Token);
        Assert.Equal(HttpStatusCode.OK, (await api.GetAsync("/api/v1/conversations", Ct)).StatusCode);
        var denied = await api.PostAsync($"/api/v1/conversations/{conversation.Id}/close", null, Ct);
        Assert.Equal(HttpStatusCode.Forbidden, denied.StatusCode);
        Assert.Equal("insufficient_scope", (await denied.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("code").GetString());
        Assert.Equal(HttpStatusCode.Forbidden, (await api.GetAsync("/api/v1/users", Ct)).StatusCode);

        // A token never manages the account, even with the write scope; but it needs no CSRF header for its writes.
        api.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", writer.Token);
        Assert.Equal(HttpStatusCode.Forbidden, (await api.PostAsJsonAsync("/api/v1/auth/tokens", new { name = "x", scopes = WriteScope }, Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await api.PostAsync($"/api/v1/conversations/{conversation.Id}/close", null, Ct)).StatusCode);

        Assert.Equal(HttpStatusCode.NoContent, (await session.DeleteAsync($"/api/v1/auth/tokens/{writer.Info.Id}", Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await api.GetAsync("/api/v1/conversations", Ct)).StatusCode);

        // Expired tokens fail like unknown ones.
        await using (var scope = server.Services.CreateAsyncScope())
        {
            await scope.ServiceProvider.GetRequiredService<ParleyDbContext>().ApiTokens.Where(t => t.Id == reader.Info.Id)
                .ExecuteUpdateAsync(s => s.SetProperty(t => t.ExpiresAt, DateTime.UtcNow.AddMinutes(-1)), Ct);
        }

        api.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", reader.Token);
        Assert.Equal(HttpStatusCode.Unauthorized, (await api.GetAsync("/api/v1/conversations", Ct)).StatusCode);
        api.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", "pat_forged0000000000000000000000000000000000");
        Assert.Equal(HttpStatusCode.Unauthorized, (await api.GetAsync("/api/v1/conversations", Ct)).StatusCode);
    }

    [Fact]
    public async Task AuditLog_RecordsSignInsAndAdminActions_ForAdminsOnly()
    {
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage);
        await server.CreateUserAsync("sam@test.local", "agent");
        using var anon = Anonymous(server);
        await anon.PostAsJsonAsync("/api/v1/auth/login", new { email = "sam@test.local", password = "not-it-at-all" }, Ct);
        using var sam = await server.SignInAsync("sam@test.local");
        Assert.Equal(HttpStatusCode.Forbidden, (await sam.GetAsync("/api/v1/audit", Ct)).StatusCode);

        var (admin, _) = await AgentClient.SignInAsync(server);
        using (admin)
        {
            var page = await admin.GetFromJsonAsync<AuditPage>("/api/v1/audit?limit=500", Ct);
            var actions = page!.Items.Select(e => e.Action).ToList();
            Assert.Contains("user.created", actions);
            Assert.Contains("auth.sign_in_failed", actions);
            Assert.Contains("auth.sign_in", actions);
            var failed = await admin.GetFromJsonAsync<AuditPage>("/api/v1/audit?action=auth.sign_in_failed", Ct);
            Assert.Contains(failed!.Items, e => e.TargetId == "SAM@TEST.LOCAL" && e.IpAddress is not null);
        }
    }

    [Theory]
    [InlineData("short")]
    [InlineData("password123")]
    [InlineData("aaaaaaaaaaaa")]
    [InlineData("weakling-weakling")]
    public async Task WeakPasswords_AreRefused(string password)
    {
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage);
        var (admin, _) = await AgentClient.SignInAsync(server);
        using (admin)
        {
            var response = await admin.PostAsJsonAsync("/api/v1/users", new { email = "weakling@test.local", role = "agent", password }, Ct);
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            Assert.Equal("weak_password", (await response.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("code").GetString());
        }
    }
}
