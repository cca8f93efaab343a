using Parley.Server.Infrastructure;

namespace Parley.Server.Features.Auth;

/// <summary>
/// While a console user must change a configured (bootstrap) password, every API and the agent hub answer
/// <c>403 password_change_required</c>; only reading who they are, changing the password and signing out pass.
/// Session validation and the token handler mark the request (they already load the user row).
/// </summary>
internal static class PasswordChangeGate
{
    public const string Marker = "parley:password-change-required";

    public static IApplicationBuilder UsePasswordChangeGate(this IApplicationBuilder app) => app.Use((context, next) =>
        context.Items.ContainsKey(Marker) && IsGated(context.Request)
            ? Problems.Create(ErrorCatalogue.PasswordChangeRequired, "Choose a new password before using Parley.").ExecuteAsync(context)
            : next(context)); // not awaited: a long-lived request keeps no state machine of this middleware

    private static bool IsGated(HttpRequest request)
    {
        var path = request.Path;
        if (path.StartsWithSegments("/hubs/agent"))
        {
            return true;
        }

        if (!path.StartsWithSegments("/api") || path.StartsWithSegments("/api/v1/widget"))
        {
            return false;
        }

        var allowed = (HttpMethods.IsGet(request.Method) && path.Equals("/api/v1/auth/me", StringComparison.OrdinalIgnoreCase))
            || (HttpMethods.IsPost(request.Method) && (path.Equals("/api/v1/auth/password", StringComparison.OrdinalIgnoreCase)
                || path.Equals("/api/v1/auth/logout", StringComparison.OrdinalIgnoreCase)));
        return !allowed;
    }
}
