using Microsoft.Extensions.DependencyInjection.Extensions;
using Parley.Server.Events;
using Parley.Server.Messaging;
using Parley.Server.Realtime;
using Parley.Server.Realtime.Presence;

namespace Parley.Server.Routing;

public static class RoutingSetup
{
    public static IServiceCollection AddParleyRouting(this IServiceCollection services)
    {
        services.AddOptions<RoutingOptions>().BindConfiguration(RoutingOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<PresenceOptions>().BindConfiguration(PresenceOptions.Section).ValidateDataAnnotations().ValidateOnStart();

        // Scale-out registers a shared presence before this line runs (TryAdd keeps it).
        services.TryAddSingleton<IAgentPresence, InProcessAgentPresence>();
        services.AddSingleton<AssignmentStore>();
        services.AddSingleton<HandleTimes>();
        services.AddScoped<RoutingService>();
        services.AddScoped<IRoutingRule, ContactAttributesRule>();
        services.AddScoped<IRoutingRule, Features.Ai.IntentRoutingRule>(); // the visitor's chosen department wins over the intent
        services.AddScoped<IRoutingRule, LanguageSkillRule>(); // after the attributes and the intent: an explicit team wins

        services.AddSingleton<RoutingEngine>();
        services.AddHostedService(sp => sp.GetRequiredService<RoutingEngine>());
        services.AddSingleton<IDomainEventListener<ConversationChanged>>(sp => sp.GetRequiredService<RoutingEngine>());
        services.AddSingleton<IDomainEventListener<ConversationQueued>>(sp => sp.GetRequiredService<RoutingEngine>());
        services.AddSingleton<IDomainEventListener<AgentPresenceChanged>>(sp => sp.GetRequiredService<RoutingEngine>());
        services.AddSingleton<IDomainEventListener<OfferWithdrawn>>(sp => sp.GetRequiredService<RoutingEngine>());

        services.AddSingleton<RoutingRealtime>();
        services.AddSingleton<IDomainEventListener<QueuePositionsChanged>>(sp => sp.GetRequiredService<RoutingRealtime>());
        services.AddSingleton<IDomainEventListener<ConversationOffered>>(sp => sp.GetRequiredService<RoutingRealtime>());
        services.AddSingleton<IDomainEventListener<OfferWithdrawn>>(sp => sp.GetRequiredService<RoutingRealtime>());
        services.AddSingleton<IDomainEventListener<ConversationAssigned>>(sp => sp.GetRequiredService<RoutingRealtime>());

        return services;
    }

    public static IEndpointRouteBuilder MapRoutingApis(this IEndpointRouteBuilder app)
    {
        app.MapTeamsApi();
        app.MapRoutingApi();
        return app;
    }
}
