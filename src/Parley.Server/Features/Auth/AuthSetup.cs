using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.Identity;
using Parley.Data;
using Parley.Server.Data;
using Parley.Server.Features.Widget;
using Parley.Server.Infrastructure;

namespace Parley.Server.Features.Auth;

public static class AuthSetup
{
    public static WebApplicationBuilder AddParleyAuth(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddOptions<BootstrapOptions>().BindConfiguration(BootstrapOptions.Section);
        services.AddScoped<UserAccounts>();
        services.AddScoped<Bootstrapper>();
        services.AddSingleton<IPasswordHasher<User>, PasswordHasher<User>>();
        services.AddSingleton<VisitorTokens>();

        // Cookies and visitor tokens are protected with this key ring; keep it with the data so restarts keep sessions.
        var database = builder.Configuration.GetSection(DatabaseOptions.Section).Get<DatabaseOptions>() ?? new DatabaseOptions();
        services.AddDataProtection()
            .SetApplicationName("Parley")
            .PersistKeysToFileSystem(new DirectoryInfo(Path.Combine(database.ResolveDataDirectory(), "keys")));

        services.AddAuthentication(CookieAuthenticationDefaults.AuthenticationScheme)
            .AddCookie(o =>
            {
                o.Cookie.Name = AuthApi.CookieName;
                o.Cookie.HttpOnly = true;
                o.Cookie.SameSite = SameSiteMode.Strict;
                o.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
                o.ExpireTimeSpan = TimeSpan.FromHours(12);
                o.SlidingExpiration = true;

                o.Events.OnValidatePrincipal = SessionValidation.ValidateAsync;

                // An API answers 401/403; it never redirects to a login page.
                o.Events.OnRedirectToLogin = ctx => { ctx.Response.StatusCode = StatusCodes.Status401Unauthorized; return Task.CompletedTask; };
                o.Events.OnRedirectToAccessDenied = ctx => { ctx.Response.StatusCode = StatusCodes.Status403Forbidden; return Task.CompletedTask; };
            })
            .AddScheme<AuthenticationSchemeOptions, VisitorAuthenticationHandler>(ParleyClaims.VisitorScheme, null);

        services.AddAuthorizationBuilder()
            .AddPolicy(ParleyClaims.AgentPolicy, p => p
                .AddAuthenticationSchemes(CookieAuthenticationDefaults.AuthenticationScheme)
                .RequireAuthenticatedUser()
                .RequireRole("agent", "supervisor", "admin"))
            .AddPolicy(ParleyClaims.VisitorPolicy, p => p
                .AddAuthenticationSchemes(ParleyClaims.VisitorScheme)
                .RequireAuthenticatedUser()
                .RequireClaim(ParleyClaims.ContactId));
        return builder;
    }

    /// <summary>
    /// Cross-site request forgery defence for the cookie-authenticated API: state-changing requests must carry a
    /// custom header, which a cross-site form or simple request cannot set (and SameSite=Strict backs it up).
    /// </summary>
    public static IApplicationBuilder UseCsrfHeaderCheck(this IApplicationBuilder app) => app.Use(async (context, next) =>
    {
        var request = context.Request;
        var unsafeMethod = !(HttpMethods.IsGet(request.Method) || HttpMethods.IsHead(request.Method) || HttpMethods.IsOptions(request.Method));
        if (unsafeMethod
            && request.Path.StartsWithSegments("/api", StringComparison.OrdinalIgnoreCase)
            && !request.Path.StartsWithSegments("/api/v1/widget", StringComparison.OrdinalIgnoreCase)
            // A bearer token is not ambient like a cookie: a cross-site page cannot attach it.
            && !request.Headers.Authorization.ToString().StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase)
            && !request.Headers.ContainsKey(AuthApi.CsrfHeader))
        {
            await Problems.Create(StatusCodes.Status403Forbidden, "csrf_header_missing", $"State-changing requests must send the {AuthApi.CsrfHeader} header.")
                .ExecuteAsync(context);
            return;
        }

        await next(context);
    });
}
