using Parley.Server.Events;

namespace Parley.Server.Features.Knowledge;

public static class KnowledgeSetup
{
    public static IServiceCollection AddKnowledge(this IServiceCollection services)
    {
        services.AddScoped<KnowledgeService>();
        services.AddSingleton<KnowledgeRelay>();
        services.AddSingleton<IDomainEventListener<KnowledgeChanged>>(sp => sp.GetRequiredService<KnowledgeRelay>());
        services.AddHostedService(sp => sp.GetRequiredService<KnowledgeRelay>());
        return services;
    }
}
