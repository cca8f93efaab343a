using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.EntityFrameworkCore;
using Parley.Data;
using Parley.Server.Infrastructure;

namespace Parley.Server.Features.Auth;

/// <summary>
/// Checks every cookie-authenticated request against the store: the session row must exist, be unrevoked and
/// unexpired, the user active and the cookie's security stamp current (it changes with the password, the role and
/// deactivation). So a revoked session, a password change or a deactivation ends the cookie at its next request.
/// </summary>
internal static class SessionValidation
{
    public static async Task ValidateAsync(CookieValidatePrincipalContext context)
    {
        var principal = context.Principal;
        var userId = principal?.UserId();
        var stamp = principal?.FindFirst(ParleyClaims.SecurityStamp)?.Value;
        var sessionId = Guid.TryParse(principal?.FindFirst(SignInService.SessionClaim)?.Value, out var sid) ? sid : (Guid?)null;
        var http = context.HttpContext;
        var now = http.RequestServices.GetRequiredService<TimeProvider>().GetUtcNow().UtcDateTime;
        var db = http.RequestServices.GetRequiredService<ParleyDbContext>();
        var current = userId is null || sessionId is null
            ? null
            : await (from s in db.UserSessions.AsNoTracking()
                     join u in db.Users.AsNoTracking() on s.UserId equals u.Id
                     where s.Id == sessionId && s.UserId == userId
                     select new { s.RevokedAt, s.ExpiresAt, s.LastSeenAt, u.SecurityStamp, u.IsActive, u.MustChangePassword }).FirstOrDefaultAsync(http.RequestAborted);
        if (current is null || current.RevokedAt is not null || current.ExpiresAt <= now || !current.IsActive
            || !string.Equals(current.SecurityStamp, stamp, StringComparison.Ordinal))
        {
            context.RejectPrincipal();
            await http.SignOutAsync(CookieAuthenticationDefaults.AuthenticationScheme);
            return;
        }

        if (current.MustChangePassword)
        {
            http.Items[PasswordChangeGate.Marker] = true;
        }

        if (now - current.LastSeenAt > TimeSpan.FromMinutes(1))
        {
            await db.UserSessions.Where(s => s.Id == sessionId).ExecuteUpdateAsync(s => s.SetProperty(x => x.LastSeenAt, now), http.RequestAborted);
        }
    }
}
