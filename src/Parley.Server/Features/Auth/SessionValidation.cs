using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.EntityFrameworkCore;
using Parley.Data;
using Parley.Server.Infrastructure;

namespace Parley.Server.Features.Auth;

/// <summary>
/// Checks every cookie-authenticated request against the store: the user must still be active and the cookie's
/// security stamp current (it changes with the password, the role, deactivation), so those changes end sessions at once.
/// </summary>
internal static class SessionValidation
{
    public static async Task ValidateAsync(CookieValidatePrincipalContext context)
    {
        var principal = context.Principal;
        var userId = principal?.UserId();
        var stamp = principal?.FindFirst(ParleyClaims.SecurityStamp)?.Value;
        var db = context.HttpContext.RequestServices.GetRequiredService<ParleyDbContext>();
        var current = userId is null
            ? null
            : await db.Users.AsNoTracking().Where(u => u.Id == userId).Select(u => new { u.SecurityStamp, u.IsActive }).FirstOrDefaultAsync(context.HttpContext.RequestAborted);
        if (current is null || !current.IsActive || !string.Equals(current.SecurityStamp, stamp, StringComparison.Ordinal))
        {
            context.RejectPrincipal();
            await context.HttpContext.SignOutAsync(CookieAuthenticationDefaults.AuthenticationScheme);
        }
    }
}
