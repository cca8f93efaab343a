using System.Security.Claims;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Identity;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Parley.Data;
using Parley.Server.Features.Access;
using Parley.Server.Infrastructure;

namespace Parley.Server.Features.Auth;

/// <summary>Sign in; <c>totpCode</c> is required (second call) when the answer was <c>totp_required</c>.</summary>
public sealed record LoginRequest(string Email, string Password, string? TotpCode = null);

public sealed record SetupRequest(string Email, string Password, string? DisplayName);

public sealed record SetupStatus(bool NeedsSetup);

/// <summary>Change the password; <c>revokeApiTokens</c> (default true) also revokes every personal API token.</summary>
public sealed record ChangePasswordRequest(string CurrentPassword, string NewPassword, bool? RevokeApiTokens = null);

public sealed record SessionDto(Guid Id, DateTime CreatedAt, DateTime LastSeenAt, DateTime ExpiresAt, string? IpAddress, string? UserAgent, bool Current);

public sealed record TotpSetupDto(string Secret, string OtpauthUri);

public sealed record TotpCodeRequest(string Code);

/// <summary>Whether the second factor is on, and how many unused recovery codes are left.</summary>
public sealed record TotpStatusDto(bool Enabled, int RecoveryCodesLeft);

public sealed record CreateTokenRequest(string Name, IReadOnlyList<string> Scopes, int? ExpiresInDays);

public sealed record ApiTokenDto(Guid Id, string Name, string Prefix, IReadOnlyList<string> Scopes, DateTime CreatedAt, DateTime ExpiresAt, DateTime? LastUsedAt, DateTime? RevokedAt);

public sealed record CreatedToken(ApiTokenDto Info, string Token);

public static class AuthApi
{
    public const string CookieName = "parley.session";
    public const string CsrfHeader = "X-Parley-Csrf";

    public static IEndpointRouteBuilder MapAuthApi(this IEndpointRouteBuilder app)
    {
        var auth = app.MapGroup("/api/v1/auth").WithTags("Auth").WithParleyErrors();
        auth.MapPost("/login", LoginAsync).WithName("Login").WithSummary("Sign in to the console (sets the session cookie)").AllowAnonymous();
        auth.MapPost("/logout", (Delegate)LogoutAsync).WithName("Logout").WithSummary("Sign out (revokes this session)").AllowAnonymous();
        auth.MapGet("/me", MeAsync).WithName("GetCurrentUser").WithSummary("The signed-in user").RequireAuthorization(ParleyClaims.AgentPolicy);

        var account = auth.MapGroup("").RequireAuthorization(ParleyClaims.AgentPolicy);
        account.MapPost("/password", ChangePasswordAsync).WithName("ChangePassword")
            .WithSummary("Change the password; every session ends, this one is renewed");
        account.MapGet("/sessions", ListSessionsAsync).WithName("ListSessions").WithSummary("Your active sessions");
        account.MapDelete("/sessions/{id:guid}", RevokeSessionAsync).WithName("RevokeSession").WithSummary("End one of your sessions");
        account.MapPost("/sessions/revoke-others", RevokeOtherSessionsAsync).WithName("RevokeOtherSessions").WithSummary("End all your other sessions");
        account.MapGet("/totp", GetTotpStatusAsync).WithName("GetTotpStatus").WithSummary("Whether two-factor sign-in is on, and the recovery codes left");
        account.MapPost("/totp/setup", SetupTotpAsync).WithName("SetupTotp").WithSummary("Start TOTP set-up: a new secret for an authenticator app");
        account.MapPost("/totp/enable", EnableTotpAsync).WithName("EnableTotp")
            .WithSummary("Confirm a code from the app and require it at sign-in; answers the recovery codes (shown once)");
        account.MapPost("/totp/disable", DisableTotpAsync).WithName("DisableTotp").WithSummary("Stop requiring the second factor (needs a current code)");
        account.MapPost("/totp/recovery-codes", RegenerateRecoveryCodesAsync).WithName("RegenerateRecoveryCodes")
            .WithSummary("Replace the recovery codes with a new set (needs a current code; the old ones stop working)");
        account.MapGet("/tokens", ListTokensAsync).WithName("ListApiTokens").WithSummary("Your personal API tokens");
        account.MapPost("/tokens", CreateTokenAsync).WithName("CreateApiToken").WithSummary("Create a personal API token (shown once)");
        account.MapDelete("/tokens/{id:guid}", RevokeTokenAsync).WithName("RevokeApiToken").WithSummary("Revoke a personal API token");

        var setup = app.MapGroup("/api/v1/setup").WithTags("Setup").WithParleyErrors().AllowAnonymous();
        setup.MapGet("/status", SetupStatusAsync).WithName("GetSetupStatus").WithSummary("Whether the first admin still has to be created");
        setup.MapPost("/", SetupAsync).WithName("Setup").WithSummary("Create the first admin (only while no user exists)");
        return app;
    }

    internal static async Task<Results<Ok<UserDto>, ProblemHttpResult>> LoginAsync(LoginRequest request, SignInService signIn, HttpContext http, CancellationToken cancellationToken)
    {
        var ip = http.Connection.RemoteIpAddress?.ToString();
        var (outcome, user) = await signIn.VerifyAsync(request.Email ?? "", request.Password ?? "", request.TotpCode, ip, cancellationToken);
        switch (outcome)
        {
            case SignInOutcome.Success:
                await signIn.StartSessionAsync(http, user!, cancellationToken);
                return TypedResults.Ok(UserDto.From(user!));
            case SignInOutcome.TotpRequired:
                return Problems.Create(ErrorCatalogue.TotpRequired, "Enter the code from your authenticator app.");
            case SignInOutcome.Throttled:
                var wait = (int)Math.Ceiling((signIn.RetryAfter ?? TimeSpan.FromSeconds(1)).TotalSeconds);
                http.Response.Headers.RetryAfter = wait.ToString(System.Globalization.CultureInfo.InvariantCulture);
                return Problems.Create(ErrorCatalogue.TooManyAttempts, $"Too many failed sign-ins from here; try again in {wait} s.");
            default:
                return Problems.Create(ErrorCatalogue.InvalidCredentials, "Invalid email, password or code.");
        }
    }

    internal static async Task<NoContent> LogoutAsync(HttpContext http, ParleyDbContext db, TimeProvider time)
    {
        var result = await http.AuthenticateAsync(CookieAuthenticationDefaults.AuthenticationScheme);
        if (Guid.TryParse(result.Principal?.FindFirstValue(SignInService.SessionClaim), out var sid))
        {
            var now = time.GetUtcNow().UtcDateTime;
            await db.UserSessions.Where(s => s.Id == sid && s.RevokedAt == null).ExecuteUpdateAsync(s => s.SetProperty(x => x.RevokedAt, now));
        }

        await http.SignOutAsync(CookieAuthenticationDefaults.AuthenticationScheme);
        return TypedResults.NoContent();
    }

    internal static async Task<Results<Ok<UserDto>, UnauthorizedHttpResult>> MeAsync(ClaimsPrincipal principal, ParleyDbContext db, CancellationToken cancellationToken)
    {
        var id = principal.UserId();
        var user = id is null ? null : await db.Users.AsNoTracking().FirstOrDefaultAsync(u => u.Id == id && u.IsActive, cancellationToken);
        return user is null ? TypedResults.Unauthorized() : TypedResults.Ok(UserDto.From(user));
    }

    internal static async Task<Results<Ok<UserDto>, ProblemHttpResult>> ChangePasswordAsync(
        ChangePasswordRequest request, ClaimsPrincipal principal, ParleyDbContext db, IPasswordHasher<User> hasher, SignInService signIn, AuditLog audit, HttpContext http, CancellationToken cancellationToken)
    {
        var user = await CurrentUserAsync(db, principal, cancellationToken);
        if (hasher.VerifyHashedPassword(user, user.PasswordHash, request.CurrentPassword ?? "") == PasswordVerificationResult.Failed)
        {
            return Problems.Create(ErrorCatalogue.InvalidCredentials, "The current password is wrong.", status: StatusCodes.Status403Forbidden);
        }

        if (user.MustChangePassword && string.Equals(request.CurrentPassword, request.NewPassword, StringComparison.Ordinal))
        {
            // The configured password is known to whoever read the configuration: keeping it changes nothing.
            return Problems.Create(ErrorCatalogue.PasswordUnchanged, "Choose a password different from the configured one.");
        }

        var revoked = await signIn.SetPasswordAsync(user, request.NewPassword ?? "", cancellationToken, request.RevokeApiTokens ?? true);
        await audit.RecordAsync(principal, "auth.password_changed", "user", user.Id.ToString(), new { revokedApiTokens = revoked }, cancellationToken);
        await signIn.StartSessionAsync(http, user, cancellationToken);
        return TypedResults.Ok(UserDto.From(user));
    }

    internal static async Task<Ok<List<SessionDto>>> ListSessionsAsync(ClaimsPrincipal principal, ParleyDbContext db, TimeProvider time, CancellationToken cancellationToken)
    {
        var userId = principal.UserId();
        var now = time.GetUtcNow().UtcDateTime;
        var current = principal.FindFirstValue(SignInService.SessionClaim);
        var rows = await db.UserSessions.AsNoTracking()
            .Where(s => s.UserId == userId && s.RevokedAt == null && s.ExpiresAt > now)
            .OrderByDescending(s => s.LastSeenAt).ToListAsync(cancellationToken);
        return TypedResults.Ok(rows.ConvertAll(s => new SessionDto(s.Id, s.CreatedAt, s.LastSeenAt, s.ExpiresAt, s.IpAddress, s.UserAgent, s.Id.ToString() == current)));
    }

    internal static async Task<NoContent> RevokeSessionAsync(Guid id, ClaimsPrincipal principal, ParleyDbContext db, AuditLog audit, TimeProvider time, CancellationToken cancellationToken)
    {
        var userId = principal.UserId();
        var now = time.GetUtcNow().UtcDateTime;
        var n = await db.UserSessions.Where(s => s.Id == id && s.UserId == userId && s.RevokedAt == null)
            .ExecuteUpdateAsync(s => s.SetProperty(x => x.RevokedAt, now), cancellationToken);
        if (n == 0)
        {
            throw new ParleyException(ErrorCatalogue.SessionNotFound);
        }

        await audit.RecordAsync(principal, "auth.session_revoked", "session", id.ToString(), cancellationToken: cancellationToken);
        return TypedResults.NoContent();
    }

    internal static async Task<NoContent> RevokeOtherSessionsAsync(ClaimsPrincipal principal, SignInService signIn, AuditLog audit, CancellationToken cancellationToken)
    {
        var current = Guid.TryParse(principal.FindFirstValue(SignInService.SessionClaim), out var sid) ? sid : (Guid?)null;
        var n = await signIn.RevokeSessionsAsync(principal.UserId()!.Value, current, cancellationToken);
        await audit.RecordAsync(principal, "auth.sessions_revoked", "user", principal.UserId().ToString(), new { count = n }, cancellationToken);
        return TypedResults.NoContent();
    }

    internal static async Task<Results<Ok<TotpSetupDto>, ProblemHttpResult>> SetupTotpAsync(ClaimsPrincipal principal, ParleyDbContext db, TotpSecrets secrets, CancellationToken cancellationToken)
    {
        var user = await CurrentUserAsync(db, principal, cancellationToken);
        if (user.TotpEnabled)
        {
            return Problems.Create(ErrorCatalogue.TotpEnabled, "The second factor is already on; disable it first.");
        }

        var secret = Totp.NewSecret();
        user.TotpSecret = secrets.Protect(secret);
        await db.SaveChangesAsync(cancellationToken);
        return TypedResults.Ok(new TotpSetupDto(Totp.ToBase32(secret), Totp.ProvisioningUri("Parley", user.Email, secret)));
    }

    internal static async Task<Ok<TotpStatusDto>> GetTotpStatusAsync(ClaimsPrincipal principal, ParleyDbContext db, RecoveryCodes recovery, CancellationToken cancellationToken)
    {
        var user = await CurrentUserAsync(db, principal, cancellationToken);
        return TypedResults.Ok(new TotpStatusDto(user.TotpEnabled, user.TotpEnabled ? await recovery.RemainingAsync(user.Id, cancellationToken) : 0));
    }

    internal static async Task<Results<Ok<RecoveryCodesDto>, ProblemHttpResult>> EnableTotpAsync(
        TotpCodeRequest request, ClaimsPrincipal principal, ParleyDbContext db, TotpSecrets secrets, RecoveryCodes recovery, AuditLog audit, TimeProvider time, CancellationToken cancellationToken)
    {
        var user = await CurrentUserAsync(db, principal, cancellationToken);
        if (user.TotpSecret is null)
        {
            return Problems.Create(ErrorCatalogue.TotpNotSetUp, "Start the set-up first.");
        }

        if (user.TotpEnabled)
        {
            return Problems.Create(ErrorCatalogue.TotpEnabled, "The second factor is already on.");
        }

        var step = Totp.Verify(secrets.Unprotect(user.TotpSecret), request.Code, time.GetUtcNow(), user.TotpLastStep);
        if (step is null)
        {
            return Problems.Create(ErrorCatalogue.InvalidTotp, "The code is wrong or expired.");
        }

        user.TotpEnabled = true;
        user.TotpLastStep = step.Value;
        await db.SaveChangesAsync(cancellationToken);
        var codes = await recovery.ReplaceAsync(user.Id, cancellationToken);
        await audit.RecordAsync(principal, "auth.totp_enabled", "user", user.Id.ToString(), new { recoveryCodes = codes.Count }, cancellationToken);
        return TypedResults.Ok(new RecoveryCodesDto(codes));
    }

    internal static async Task<Results<Ok<RecoveryCodesDto>, ProblemHttpResult>> RegenerateRecoveryCodesAsync(
        TotpCodeRequest request, ClaimsPrincipal principal, ParleyDbContext db, TotpSecrets secrets, RecoveryCodes recovery, AuditLog audit, TimeProvider time, CancellationToken cancellationToken)
    {
        var user = await CurrentUserAsync(db, principal, cancellationToken);
        if (!user.TotpEnabled || user.TotpSecret is null)
        {
            return Problems.Create(ErrorCatalogue.TotpNotEnabled, "The second factor is not on.");
        }

        // A current authenticator code, not a recovery code: whoever holds only the paper list cannot renew it.
        if (Totp.Verify(secrets.Unprotect(user.TotpSecret), request.Code, time.GetUtcNow(), user.TotpLastStep) is not { } step)
        {
            return Problems.Create(ErrorCatalogue.InvalidTotp, "The code is wrong or expired.");
        }

        user.TotpLastStep = step;
        await db.SaveChangesAsync(cancellationToken);
        var codes = await recovery.ReplaceAsync(user.Id, cancellationToken);
        await audit.RecordAsync(principal, "auth.recovery_codes_regenerated", "user", user.Id.ToString(), new { recoveryCodes = codes.Count }, cancellationToken);
        return TypedResults.Ok(new RecoveryCodesDto(codes));
    }

    internal static async Task<Results<NoContent, ProblemHttpResult>> DisableTotpAsync(
        TotpCodeRequest request, ClaimsPrincipal principal, ParleyDbContext db, TotpSecrets secrets, RecoveryCodes recovery, AuditLog audit, TimeProvider time, CancellationToken cancellationToken)
    {
        var user = await CurrentUserAsync(db, principal, cancellationToken);
        if (!user.TotpEnabled || user.TotpSecret is null)
        {
            return Problems.Create(ErrorCatalogue.TotpNotEnabled, "The second factor is not on.");
        }

        if (Totp.Verify(secrets.Unprotect(user.TotpSecret), request.Code, time.GetUtcNow(), user.TotpLastStep) is not { } step)
        {
            return Problems.Create(ErrorCatalogue.InvalidTotp, "The code is wrong or expired.");
        }

        user.TotpEnabled = false;
        user.TotpSecret = null;
        user.TotpLastStep = step;
        await db.SaveChangesAsync(cancellationToken);
        await recovery.DeleteAllAsync(user.Id, cancellationToken);
        await audit.RecordAsync(principal, "auth.totp_disabled", "user", user.Id.ToString(), cancellationToken: cancellationToken);
        return TypedResults.NoContent();
    }

    internal static async Task<Ok<List<ApiTokenDto>>> ListTokensAsync(ClaimsPrincipal principal, ParleyDbContext db, CancellationToken cancellationToken)
    {
        var userId = principal.UserId();
        var rows = await db.ApiTokens.AsNoTracking().Where(t => t.UserId == userId).OrderByDescending(t => t.CreatedAt).ToListAsync(cancellationToken);
        return TypedResults.Ok(rows.ConvertAll(ToDto));
    }

    internal static async Task<Results<Created<CreatedToken>, ProblemHttpResult>> CreateTokenAsync(
        CreateTokenRequest request, ClaimsPrincipal principal, ParleyDbContext db, AuditLog audit, IOptions<SignInOptions> options, TimeProvider time, CancellationToken cancellationToken)
    {
        var name = (request.Name ?? "").Trim();
        if (name.Length is 0 or > 200)
        {
            return Problems.Create(ErrorCatalogue.InvalidName, "A token needs a name of 1 to 200 characters.");
        }

        var scopes = (request.Scopes ?? []).Select(s => s.Trim()).Distinct().ToList();
        if (scopes.Count == 0 || scopes.Any(s => !ApiTokens.IsValidScope(s)))
        {
            return Problems.Create(ErrorCatalogue.InvalidScope, "Scopes are read, write, or AREA:read / AREA:write (e.g. conversations:read).");
        }

        var days = request.ExpiresInDays ?? 90;
        if (days < 1 || days > options.Value.MaxTokenDays)
        {
            return Problems.Create(ErrorCatalogue.InvalidExpiry, $"expiresInDays must be between 1 and {options.Value.MaxTokenDays}.");
        }

        var token = ApiTokens.NewToken();
        var now = time.GetUtcNow().UtcDateTime;
        var row = new ApiToken
        {
            Id = Guid.CreateVersion7(),
            UserId = principal.UserId()!.Value,
            Name = name,
            Prefix = token[..12],
            Hash = ApiTokens.Hash(token),
            Scopes = string.Join(' ', scopes),
            CreatedAt = now,
            ExpiresAt = now.AddDays(days),
        };
        db.ApiTokens.Add(row);
        await db.SaveChangesAsync(cancellationToken);
        await audit.RecordAsync(principal, "auth.token_created", "api_token", row.Id.ToString(), new { name, scopes, row.ExpiresAt }, cancellationToken);
        return TypedResults.Created($"/api/v1/auth/tokens/{row.Id}", new CreatedToken(ToDto(row), token));
    }

    internal static async Task<NoContent> RevokeTokenAsync(Guid id, ClaimsPrincipal principal, ParleyDbContext db, AuditLog audit, TimeProvider time, CancellationToken cancellationToken)
    {
        var userId = principal.UserId();
        var now = time.GetUtcNow().UtcDateTime;
        var n = await db.ApiTokens.Where(t => t.Id == id && t.UserId == userId && t.RevokedAt == null)
            .ExecuteUpdateAsync(s => s.SetProperty(t => t.RevokedAt, now), cancellationToken);
        if (n == 0)
        {
            throw new ParleyException(ErrorCatalogue.TokenNotFound);
        }

        await audit.RecordAsync(principal, "auth.token_revoked", "api_token", id.ToString(), cancellationToken: cancellationToken);
        return TypedResults.NoContent();
    }

    internal static async Task<Ok<SetupStatus>> SetupStatusAsync(ParleyDbContext db, CancellationToken cancellationToken) =>
        TypedResults.Ok(new SetupStatus(!await db.Users.AnyAsync(cancellationToken)));

    internal static async Task<Results<Ok<UserDto>, ProblemHttpResult>> SetupAsync(SetupRequest request, ParleyDbContext db, UserAccounts accounts, SignInService signIn, HttpContext http, CancellationToken cancellationToken)
    {
        if (await db.Users.AnyAsync(cancellationToken))
        {
            return Problems.Create(ErrorCatalogue.SetupDone, "Parley is already set up; sign in instead.");
        }

        var user = await accounts.CreateAsync(request.Email ?? "", request.Password ?? "", request.DisplayName ?? "", UserRole.Admin, cancellationToken);
        await signIn.StartSessionAsync(http, user, cancellationToken);
        return TypedResults.Ok(UserDto.From(user));
    }

    private static async Task<User> CurrentUserAsync(ParleyDbContext db, ClaimsPrincipal principal, CancellationToken cancellationToken)
    {
        var id = principal.UserId();
        return await db.Users.FirstOrDefaultAsync(u => u.Id == id && u.IsActive, cancellationToken)
            ?? throw new ParleyException(ErrorCatalogue.Unauthorized, "Not signed in.");
    }

    private static ApiTokenDto ToDto(ApiToken t) =>
        new(t.Id, t.Name, t.Prefix, t.Scopes.Split(' ', StringSplitOptions.RemoveEmptyEntries), t.CreatedAt, t.ExpiresAt, t.LastUsedAt, t.RevokedAt);
}
