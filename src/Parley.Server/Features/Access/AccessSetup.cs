using Microsoft.AspNetCore.Authentication.Cookies;
using Parley.Server.Infrastructure;

namespace Parley.Server.Features.Access;

public static class AccessSetup
{
    /// <summary>The access policy (RBAC + department sandbox) and the role-based endpoint policies.</summary>
    public static WebApplicationBuilder AddParleyAccess(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddOptions<AccessOptions>().BindConfiguration(AccessOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<AccessDirectory>();
        services.AddScoped<AccessPolicy>();
        services.AddScoped<AuditLog>();
        services.AddHttpContextAccessor();
        services.AddAuthorizationBuilder()
            .AddPolicy(ParleyClaims.SupervisorPolicy, p => p
                .AddAuthenticationSchemes(ConsoleSchemes)
                .RequireAuthenticatedUser()
                .RequireRole("supervisor", "admin"))
            .AddPolicy(ParleyClaims.AdminPolicy, p => p
                .AddAuthenticationSchemes(ConsoleSchemes)
                .RequireAuthenticatedUser()
                .RequireRole("admin"));
        return builder;
    }

    /// <summary>Schemes that authenticate console users (the session cookie; API tokens join in AuthSetup).</summary>
    public static string[] ConsoleSchemes { get; } = [CookieAuthenticationDefaults.AuthenticationScheme];
}
