using Parley.Server.Events;
using Parley.Server.Features.Knowledge;
using Parley.Server.Messaging;

namespace Parley.Server.Features.Ai;

public static class AiSetup
{
    public static IServiceCollection AddAi(this IServiceCollection services)
    {
        services.AddSingleton<AiService>();
        services.AddHostedService(sp => sp.GetRequiredService<AiService>());
        services.AddSingleton<IDomainEventListener<KnowledgeChanged>>(sp => sp.GetRequiredService<AiService>());
        services.AddOptions<BotOptions>().BindConfiguration(BotOptions.Section);
        services.AddSingleton<BotResponder>();
        services.AddHostedService(sp => sp.GetRequiredService<BotResponder>());
        services.AddSingleton<IDomainEventListener<MessageCommitted>>(sp => sp.GetRequiredService<BotResponder>());
        services.AddOptions<LlmOptions>().BindConfiguration(LlmOptions.Section);
        services.AddSingleton<ILlmTokenBudget, LocalTokenBudget>(); // Redis scale-out replaces it with the cluster-wide count
        services.AddSingleton(sp => new LlmProvider(
            sp.GetRequiredService<Microsoft.Extensions.Options.IOptions<LlmOptions>>(), sp.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>(),
            sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILogger<LlmProvider>>(), sp.GetRequiredService<ILlmTokenBudget>()));
        services.AddSingleton<AiSiteSettingsCache>();
        services.AddHostedService(sp => sp.GetRequiredService<AiSiteSettingsCache>());
        services.AddSingleton<VisitorReader>();
        services.AddHostedService(sp => sp.GetRequiredService<VisitorReader>());
        services.AddSingleton<IDomainEventListener<MessageCommitted>>(sp => sp.GetRequiredService<VisitorReader>());
        return services;
    }
}
