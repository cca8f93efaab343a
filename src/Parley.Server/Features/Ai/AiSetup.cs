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
        services.AddSingleton<LlmProvider>();
        services.AddSingleton<VisitorReader>();
        services.AddHostedService(sp => sp.GetRequiredService<VisitorReader>());
        services.AddSingleton<IDomainEventListener<MessageCommitted>>(sp => sp.GetRequiredService<VisitorReader>());
        return services;
    }
}
