using Parley.Server.Infrastructure;

namespace Parley.Server.Features.Access;

public static class AccessSetup
{
    /// <summary>The access policy (RBAC + department sandbox), the role-based endpoint policies and the transport rules.</summary>
    public static IServiceCollection AddParleyAccess(this IServiceCollection services, IConfiguration configuration)
    {
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
        services.AddTransportSecurity(configuration);
        return services;
    }

    /// <summary>Console users authenticate by session cookie or personal API token.</summary>
    public static string[] ConsoleSchemes { get; } = [ParleyClaims.ConsoleScheme];
}
