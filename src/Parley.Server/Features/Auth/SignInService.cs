using System.Security.Claims;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.Identity;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Parley.Data;
using Parley.Server.Features.Access;
using Parley.Server.Infrastructure;

namespace Parley.Server.Features.Auth;

public enum SignInOutcome
{
    Success,
    InvalidCredentials,
    TotpRequired,
    Throttled,
}

/// <summary>
/// Sign-in with throttling (per account name and IP), persistent lockout, the optional TOTP second factor and an
/// audit entry for every attempt; then a server-side session that can be listed and revoked.
/// </summary>
public sealed class SignInService(
    ParleyDbContext db,
    IPasswordHasher<User> hasher,
    SignInThrottle throttle,
    TotpSecrets totpSecrets,
    RecoveryCodes recoveryCodes,
    AuditLog audit,
    IOptions<SignInOptions> options,
    TimeProvider time)
{
    public const string SessionClaim = "parley:sid";

    private static readonly Lazy<string> DummyHash = new(() => new PasswordHasher<User>().HashPassword(null!, "parley-timing-equaliser"));

    /// <summary>The wait before the next attempt, set when <see cref="VerifyAsync"/> answered <see cref="SignInOutcome.Throttled"/>.</summary>
    public TimeSpan? RetryAfter { get; private set; }

    public async Task<(SignInOutcome Outcome, User? User)> VerifyAsync(string email, string password, string? totpCode, string? ip, CancellationToken cancellationToken)
    {
        var normalized = UserAccounts.Normalize(email);
        var now = time.GetUtcNow();
        if (throttle.RetryAfter(normalized, ip) is { } wait)
        {
            // Not even checked: a right password during the delay answers the same as a wrong one.
            RetryAfter = wait;
            await audit.RecordAsync("auth.sign_in_throttled", null, null, "email", normalized, new { retryAfterSeconds = (int)Math.Ceiling(wait.TotalSeconds) }, cancellationToken);
            return (SignInOutcome.Throttled, null);
        }

        var user = await db.Users.FirstOrDefaultAsync(u => u.NormalizedEmail == normalized, cancellationToken);
        if (user is null || !user.IsActive)
        {
            // Same work and the same answer as for a wrong password, so accounts cannot be enumerated.
            hasher.VerifyHashedPassword(null!, DummyHash.Value, password);
            return await FailAsync(normalized, ip, null, "unknown_or_inactive", cancellationToken);
        }

        var result = hasher.VerifyHashedPassword(user, user.PasswordHash, password);

        if (result == PasswordVerificationResult.Failed)
        {
            CountFailure(user);
            await db.SaveChangesAsync(cancellationToken);
            return await FailAsync(normalized, ip, user, "wrong_password", cancellationToken);
        }

        if (user.TotpEnabled)
        {
            if (string.IsNullOrWhiteSpace(totpCode))
            {
                return (SignInOutcome.TotpRequired, null);
            }

            // A recovery code stands in for a TOTP code (the authenticator is lost); its shape tells which was typed.
            if (RecoveryCodes.LooksLikeCode(totpCode))
            {
                if (!await recoveryCodes.RedeemAsync(user.Id, totpCode, cancellationToken))
                {
                    CountFailure(user);
                    await db.SaveChangesAsync(cancellationToken);
                    return await FailAsync(normalized, ip, user, "wrong_recovery_code", cancellationToken);
                }

                var left = await recoveryCodes.RemainingAsync(user.Id, cancellationToken);
                await audit.RecordAsync("auth.recovery_code_used", user.Id, user.DisplayName, "user", user.Id.ToString(), new { remaining = left }, cancellationToken);
            }
            else
            {
                var step = Totp.Verify(totpSecrets.Unprotect(user.TotpSecret!), totpCode, now, user.TotpLastStep);
                if (step is null)
                {
                    CountFailure(user);
                    await db.SaveChangesAsync(cancellationToken);
                    return await FailAsync(normalized, ip, user, "wrong_totp", cancellationToken);
                }

                user.TotpLastStep = step.Value;
            }
        }

        if (result == PasswordVerificationResult.SuccessRehashNeeded)
        {
            user.PasswordHash = hasher.HashPassword(user, password);
        }

        user.FailedSignIns = 0;
        user.LockedUntil = null;
        user.LastSignInAt = now.UtcDateTime;
        await db.SaveChangesAsync(cancellationToken);
        throttle.RecordSuccess(normalized, ip);
        return (SignInOutcome.Success, user);
    }

    /// <summary>Stores a new session and issues its cookie.</summary>
    public async Task<UserSession> StartSessionAsync(HttpContext http, User user, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow().UtcDateTime;
        var session = new UserSession
        {
            Id = Guid.CreateVersion7(),
            UserId = user.Id,
            CreatedAt = now,
            LastSeenAt = now,
            ExpiresAt = now.AddHours(options.Value.SessionHours),
            IpAddress = http.Connection.RemoteIpAddress?.ToString(),
            UserAgent = Truncate(http.Request.Headers.UserAgent.ToString(), 512),
        };
        db.UserSessions.Add(session);
        await db.SaveChangesAsync(cancellationToken);
        await audit.RecordAsync("auth.sign_in", user.Id, user.DisplayName, "session", session.Id.ToString(), cancellationToken: cancellationToken);

        var identity = new ClaimsIdentity(
            [
                new Claim(ClaimTypes.NameIdentifier, user.Id.ToString()),
                new Claim(ClaimTypes.Name, user.DisplayName),
                new Claim(ClaimTypes.Email, user.Email),
                new Claim(ClaimTypes.Role, user.Role.ToString().ToLowerInvariant()),
                new Claim(ParleyClaims.SecurityStamp, user.SecurityStamp),
                new Claim(SessionClaim, session.Id.ToString()),
            ],
            CookieAuthenticationDefaults.AuthenticationScheme);
        await http.SignInAsync(CookieAuthenticationDefaults.AuthenticationScheme, new ClaimsPrincipal(identity), new AuthenticationProperties { ExpiresUtc = session.ExpiresAt });
        return session;
    }

    /// <summary>Revokes sessions of a user (all, or all but one); returns how many were active.</summary>
    public async Task<int> RevokeSessionsAsync(Guid userId, Guid? except, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow().UtcDateTime;
        return await db.UserSessions
            .Where(s => s.UserId == userId && s.RevokedAt == null && (except == null || s.Id != except))
            .ExecuteUpdateAsync(s => s.SetProperty(x => x.RevokedAt, now), cancellationToken);
    }

    /// <summary>
    /// Sets a new password: a new security stamp, and every session of the user revoked (CVE-2021-3740 class: a
    /// stolen session must not survive the password change meant to end it).
    /// </summary>
    /// <param name="revokeApiTokens">
    /// Revoke the user's API tokens too (the default): a token minted by whoever held the old password must not
    /// outlive it. The user may keep them when changing their own password knowingly.
    /// </param>
    public async Task<int> SetPasswordAsync(User user, string newPassword, CancellationToken cancellationToken, bool revokeApiTokens = true)
    {
        PasswordPolicy.Check(newPassword, user.Email, options.Value.MinPasswordLength);
        user.PasswordHash = hasher.HashPassword(user, newPassword);
        user.SecurityStamp = UserAccounts.NewSecurityStamp();
        user.PasswordChangedAt = time.GetUtcNow().UtcDateTime;
        user.MustChangePassword = false;
        user.FailedSignIns = 0;
        user.LockedUntil = null;
        await db.SaveChangesAsync(cancellationToken);
        await RevokeSessionsAsync(user.Id, null, cancellationToken);
        return revokeApiTokens ? await RevokeApiTokensAsync(user.Id, cancellationToken) : 0;
    }

    /// <summary>Revokes every live API token of a user (password change, deactivation); returns how many.</summary>
    public async Task<int> RevokeApiTokensAsync(Guid userId, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow().UtcDateTime;
        return await db.ApiTokens
            .Where(t => t.UserId == userId && t.RevokedAt == null)
            .ExecuteUpdateAsync(s => s.SetProperty(x => x.RevokedAt, now), cancellationToken);
    }

    /// <summary>Kept for the record only: no stored lockout (an outsider could keep the owner out with it).</summary>
    private static void CountFailure(User user) => user.FailedSignIns++;

    private async Task<(SignInOutcome, User?)> FailAsync(string normalized, string? ip, User? user, string reason, CancellationToken cancellationToken)
    {
        throttle.RecordFailure(normalized, ip);
        await audit.RecordAsync("auth.sign_in_failed", user?.Id, user?.DisplayName, "email", normalized, new { reason }, cancellationToken);
        return (SignInOutcome.InvalidCredentials, null);
    }

    private static string? Truncate(string? value, int max) => string.IsNullOrEmpty(value) ? null : value.Length <= max ? value : value[..max];
}

/// <summary>TOTP secrets are stored encrypted with the Data Protection key ring (a database dump alone does not reveal them).</summary>
public sealed class TotpSecrets(IDataProtectionProvider protection)
{
    private readonly IDataProtector _protector = protection.CreateProtector("Parley.Totp.v1");

    public string Protect(byte[] secret) => Convert.ToBase64String(_protector.Protect(secret));

    public byte[] Unprotect(string stored)
    {
        try
        {
            return _protector.Unprotect(Convert.FromBase64String(stored));
        }
        catch (Exception ex) when (ex is CryptographicException or FormatException)
        {
            throw new ParleyException(ErrorCatalogue.TotpUnavailable, "The second factor cannot be read; ask an admin to reset it.");
        }
    }
}

/// <summary>NIST SP 800-63B style: a minimum length, a maximum, no obvious choices; no composition rules.</summary>
public static class PasswordPolicy
{
    public const int MaxLength = 256;

    private static readonly HashSet<string> Common = new(StringComparer.OrdinalIgnoreCase)
    {
        "password", "password1", "password12", "password123", "12345678", "123456789", "1234567890", "qwertyuiop",
        "qwerty123", "iloveyou", "11111111", "00000000", "abc12345", "abcd1234", "letmein1", "welcome1", "welcome123",
        "admin123", "administrator", "changeme", "passw0rd", "p@ssw0rd", "football", "baseball", "sunshine", "princess",
        "parley123", "trustno1", "1q2w3e4r", "q1w2e3r4", "zaq12wsx", "superman", "starwars", "whatever",
    };

    public static void Check(string password, string email, int minLength)
    {
        if (password.Length < minLength)
        {
            throw new ParleyException(ErrorCatalogue.WeakPassword, $"The password must be at least {minLength} characters long.");
        }

        if (password.Length > MaxLength)
        {
            throw new ParleyException(ErrorCatalogue.WeakPassword, $"The password must be at most {MaxLength} characters long.");
        }

        var local = email.Split('@')[0];
        if (Common.Contains(password) || password.Distinct().Count() < 3
            || string.Equals(password, email, StringComparison.OrdinalIgnoreCase)
            || (local.Length >= 4 && password.Contains(local, StringComparison.OrdinalIgnoreCase)))
        {
            throw new ParleyException(ErrorCatalogue.WeakPassword, "This password is too easy to guess; choose a longer or less common one.");
        }
    }
}
