using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Parley.Data;
using Parley.Server.Features.Auth;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Security;

/// <summary>#21: recovery codes for the TOTP second factor — made when it is enabled, single use, replaced as a set.</summary>
public sealed class RecoveryCodeTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [BothStores]
    public async Task RecoveryCodes_SignInOnce_WrongOnesFail_AndRegeneratingInvalidatesTheOldSet(Store store)
    {
        await using var storage = await TestStorage.CreateAsync(store);
        await using var server = await ParleyServer.StartAsync(storage);
        await server.CreateUserAsync("rita@test.local", "agent");
        using var http = await server.SignInAsync("rita@test.local");
        Assert.False((await http.GetFromJsonAsync<TotpStatusDto>("/api/v1/auth/totp", Ct))!.Enabled);

        var setup = (await (await http.PostAsync("/api/v1/auth/totp/setup", null, Ct)).Content.ReadFromJsonAsync<TotpSetupDto>(Ct))!;
        var now = TotpCodes.StepNow(server);
        var enable = await http.PostAsJsonAsync("/api/v1/auth/totp/enable", new { code = TotpCodes.Code(setup.Secret, now) }, Ct);
        Assert.Equal(HttpStatusCode.OK, enable.StatusCode);
        var codes = (await enable.Content.ReadFromJsonAsync<RecoveryCodesDto>(Ct))!.Codes;
        Assert.Equal(RecoveryCodes.Count, codes.Count);
        Assert.Equal(codes.Count, codes.Distinct().Count());
        Assert.All(codes, c => Assert.Matches("^[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}$", c));
        Assert.Equal(new TotpStatusDto(true, 10), await http.GetFromJsonAsync<TotpStatusDto>("/api/v1/auth/totp", Ct));

        // Only hashes are stored.
        var stored = await StoredHashesAsync(server);
        Assert.Equal(10, stored.Count);
        Assert.DoesNotContain(stored, h => codes.Any(c => h.Contains(c.Replace("-", "", StringComparison.Ordinal), StringComparison.OrdinalIgnoreCase)));

        using var anon = server.CreateHttpClient();
        anon.DefaultRequestHeaders.Add("X-Parley-Csrf", "1");
        Task<HttpResponseMessage> LoginAsync(string code) =>
            anon.PostAsJsonAsync("/api/v1/auth/login", new { email = "rita@test.local", password = SecurityFixtures.Password, totpCode = code }, Ct);

        // A well-formed code that was never issued is refused like a wrong password.
        var wrong = await LoginAsync("ABCD-EFGH-JKMN-PQRS");
        Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
        Assert.Equal("invalid_credentials", (await wrong.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("code").GetString());

        // A real one signs in once, typed in lower case without dashes; the second time it is spent.
        Assert.Equal(HttpStatusCode.OK, (await LoginAsync(codes[0].Replace("-", "", StringComparison.Ordinal).ToLowerInvariant())).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await LoginAsync(codes[0])).StatusCode);
        Assert.Equal(9, (await http.GetFromJsonAsync<TotpStatusDto>("/api/v1/auth/totp", Ct))!.RecoveryCodesLeft);

        // Regenerating needs a current authenticator code, not a recovery code; then the old set is dead.
        var byRecovery = await http.PostAsJsonAsync("/api/v1/auth/totp/recovery-codes", new { code = codes[1] }, Ct);
        Assert.Equal(HttpStatusCode.BadRequest, byRecovery.StatusCode);
        Assert.Equal("invalid_totp", (await byRecovery.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("code").GetString());
        var regenerate = await http.PostAsJsonAsync("/api/v1/auth/totp/recovery-codes", new { code = TotpCodes.Code(setup.Secret, now + 1) }, Ct);
        Assert.Equal(HttpStatusCode.OK, regenerate.StatusCode);
        var fresh = (await regenerate.Content.ReadFromJsonAsync<RecoveryCodesDto>(Ct))!.Codes;
        Assert.Empty(fresh.Intersect(codes));
        Assert.Equal(HttpStatusCode.Unauthorized, (await LoginAsync(codes[1])).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await LoginAsync(fresh[0])).StatusCode);
        Assert.Equal(9, (await http.GetFromJsonAsync<TotpStatusDto>("/api/v1/auth/totp", Ct))!.RecoveryCodesLeft);
        Assert.Equal(10, (await StoredHashesAsync(server)).Count);

        // Audited: the use (with what is left), the regeneration, and the refused attempts by reason.
        await using var scope = server.Services.CreateAsyncScope();
        var audit = await scope.ServiceProvider.GetRequiredService<ParleyDbContext>().AuditEntries.AsNoTracking().ToListAsync(Ct);
        Assert.Equal(2, audit.Count(e => e.Action == "auth.recovery_code_used"));
        Assert.Contains(audit, e => e.Action == "auth.recovery_codes_regenerated");
        Assert.Equal(3, audit.Count(e => e.Action == "auth.sign_in_failed" && e.DetailsJson!.Contains("wrong_recovery_code", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task DisablingTheSecondFactor_DeletesTheRecoveryCodes()
    {
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage);
        await server.CreateUserAsync("rita@test.local", "agent");
        using var http = await server.SignInAsync("rita@test.local");
        var setup = (await (await http.PostAsync("/api/v1/auth/totp/setup", null, Ct)).Content.ReadFromJsonAsync<TotpSetupDto>(Ct))!;
        var now = TotpCodes.StepNow(server);
        var codes = (await (await http.PostAsJsonAsync("/api/v1/auth/totp/enable", new { code = TotpCodes.Code(setup.Secret, now) }, Ct)).Content.ReadFromJsonAsync<RecoveryCodesDto>(Ct))!.Codes;
        Assert.Equal(HttpStatusCode.Conflict, (await http.PostAsJsonAsync("/api/v1/auth/totp/enable", new { code = TotpCodes.Code(setup.Secret, now + 1) }, Ct)).StatusCode);

        Assert.Equal(HttpStatusCode.NoContent, (await http.PostAsJsonAsync("/api/v1/auth/totp/disable", new { code = TotpCodes.Code(setup.Secret, now + 1) }, Ct)).StatusCode);
        Assert.Empty(await StoredHashesAsync(server));
        Assert.Equal(new TotpStatusDto(false, 0), await http.GetFromJsonAsync<TotpStatusDto>("/api/v1/auth/totp", Ct));

        // Without the second factor a recovery code is no part of sign-in (password alone suffices); regenerating is refused.
        var regenerate = await http.PostAsJsonAsync("/api/v1/auth/totp/recovery-codes", new { code = codes[0] }, Ct);
        Assert.Equal("totp_not_enabled", (await regenerate.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("code").GetString());
    }

    private static async Task<List<string>> StoredHashesAsync(ParleyServer server)
    {
        await using var scope = server.Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<ParleyDbContext>().RecoveryCodes.AsNoTracking().Select(c => c.Hash).ToListAsync(Ct);
    }
}
