using Parley.Server.Events;
using Parley.Server.Messaging;
using Parley.Server.Realtime;

namespace Parley.Server.Features.Supervision;

public static class SupervisionSetup
{
    public static IServiceCollection AddSupervision(this IServiceCollection services)
    {
        services.AddScoped<SupervisorActions>();
        services.AddSingleton<SupervisionFanout>();
        services.AddSingleton<IDomainEventListener<SupervisorWhispered>>(sp => sp.GetRequiredService<SupervisionFanout>());
        services.AddSingleton<IDomainEventListener<ConversationTakenOver>>(sp => sp.GetRequiredService<SupervisionFanout>());

        // The supervisors' live view (agent hub SubscribeLive; docs/reports.md).
        services.AddOptions<LiveViewOptions>().BindConfiguration(LiveViewOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<LiveViewService>();
        services.AddHostedService(sp => sp.GetRequiredService<LiveViewService>());
        services.AddSingleton<IDomainEventListener<ConversationChanged>>(sp => sp.GetRequiredService<LiveViewService>());
        services.AddSingleton<IDomainEventListener<Routing.ConversationQueued>>(sp => sp.GetRequiredService<LiveViewService>());
        services.AddSingleton<IDomainEventListener<Routing.ConversationAssigned>>(sp => sp.GetRequiredService<LiveViewService>());
        services.AddSingleton<IDomainEventListener<Routing.ConversationOffered>>(sp => sp.GetRequiredService<LiveViewService>());
        services.AddSingleton<IDomainEventListener<Routing.OfferWithdrawn>>(sp => sp.GetRequiredService<LiveViewService>());
        services.AddSingleton<IDomainEventListener<Realtime.Presence.AgentPresenceChanged>>(sp => sp.GetRequiredService<LiveViewService>());
        services.AddSingleton<IDomainEventListener<MessageCommitted>>(sp => sp.GetRequiredService<LiveViewService>());
        return services;
    }
}
