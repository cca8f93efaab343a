using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.Identity;
using Parley.Data;
using Parley.Server.Data;
using Parley.Server.Features.Widget;
using Parley.Server.Infrastructure;
using Parley.Server.ScaleOut;

namespace Parley.Server.Features.Auth;

public static class AuthSetup
{
    public static IServiceCollection AddParleyAuth(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<BootstrapOptions>().BindConfiguration(BootstrapOptions.Section);
        services.AddOptions<SignInOptions>().BindConfiguration(SignInOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddScoped<UserAccounts>();
        services.AddScoped<SignInService>();
        services.AddScoped<RecoveryCodes>();
        services.AddSingleton<SignInThrottle>();
        services.AddSingleton<TotpSecrets>();
        services.AddScoped<Bootstrapper>();
        services.AddSingleton<IPasswordHasher<User>, PasswordHasher<User>>();
        services.AddSingleton<VisitorTokens>();

        // Cookies and visitor tokens are protected with this key ring; it lives in the database so restarts keep
        // sessions and every node of a cluster reads what the others wrote (keys from the old data/keys are imported).
        var database = configuration.GetSection(DatabaseOptions.Section).Get<DatabaseOptions>() ?? new DatabaseOptions();
        // Encrypted at rest with a key that is not in the database (ScaleOut/KeyRingEncryption.cs): a dump alone
        // must not decrypt TOTP secrets or mint cookies and visitor tokens.
        services.AddDataProtection()
            .SetApplicationName("Parley")
            .PersistKeysToParleyDatabase(Path.Combine(database.ResolveDataDirectory(), "keys"))
            .ProtectKeysWithParleyKey(KeyRingSecret.Load(configuration, database.ResolveDataDirectory()));

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
            .AddScheme<AuthenticationSchemeOptions, VisitorAuthenticationHandler>(ParleyClaims.VisitorScheme, null)
            .AddScheme<AuthenticationSchemeOptions, ApiTokenAuthenticationHandler>(ApiTokens.Scheme, null)
            // Console users: a personal API token when the request carries one, otherwise the session cookie.
            .AddPolicyScheme(ParleyClaims.ConsoleScheme, "Console user", o => o.ForwardDefaultSelector = ctx =>
                ctx.Request.Headers.Authorization.ToString().StartsWith("Bearer " + ApiTokens.Prefix, StringComparison.Ordinal)
                    ? ApiTokens.Scheme
                    : CookieAuthenticationDefaults.AuthenticationScheme);

        services.AddAuthorizationBuilder()
            .AddPolicy(ParleyClaims.AgentPolicy, p => p
                .AddAuthenticationSchemes(ParleyClaims.ConsoleScheme)
                .RequireAuthenticatedUser()
                .RequireRole("agent", "supervisor", "admin"))
            .AddPolicy(ParleyClaims.VisitorPolicy, p => p
                .AddAuthenticationSchemes(ParleyClaims.VisitorScheme)
                .RequireAuthenticatedUser()
                .RequireClaim(ParleyClaims.ContactId));
        return services;
    }

    /// <summary>
    /// Cross-site request forgery defence for the cookie-authenticated API: state-changing requests must carry a
    /// custom header, which a cross-site form or simple request cannot set (and SameSite=Strict backs it up).
    /// Requests authenticated by an API token are exempt: a browser never attaches a token on its own.
    /// </summary>
    public static IApplicationBuilder UseCsrfHeaderCheck(this IApplicationBuilder app) => app.Use((context, next) =>
    {
        var request = context.Request;
        var unsafeMethod = !(HttpMethods.IsGet(request.Method) || HttpMethods.IsHead(request.Method) || HttpMethods.IsOptions(request.Method));
        if (unsafeMethod
            && request.Path.StartsWithSegments("/api", StringComparison.OrdinalIgnoreCase)
            && !request.Path.StartsWithSegments("/api/v1/widget", StringComparison.OrdinalIgnoreCase)
            && !context.User.HasClaim(c => c.Type == ApiTokens.TokenClaim)
            && !request.Headers.ContainsKey(AuthApi.CsrfHeader))
        {
            return Problems.Create(ErrorCatalogue.CsrfHeaderMissing, $"State-changing requests must send the {AuthApi.CsrfHeader} header.")
                .ExecuteAsync(context);
        }

        return next(context); // not awaited: a long-lived request keeps no state machine of this middleware
    });
}
