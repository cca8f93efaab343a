using Parley.Server.Events;

namespace Parley.Server.Features.Supervision;

public static class SupervisionSetup
{
    public static IServiceCollection AddSupervision(this IServiceCollection services)
    {
        services.AddScoped<SupervisorActions>();
        services.AddSingleton<SupervisionFanout>();
        services.AddSingleton<IDomainEventListener<SupervisorWhispered>>(sp => sp.GetRequiredService<SupervisionFanout>());
        services.AddSingleton<IDomainEventListener<ConversationTakenOver>>(sp => sp.GetRequiredService<SupervisionFanout>());
        return services;
    }
}
