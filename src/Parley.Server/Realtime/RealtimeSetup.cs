using System.Text.Json;
using Microsoft.AspNetCore.SignalR;
using Microsoft.Extensions.Options;
using Parley.Server.Events;
using Parley.Server.Messaging;

namespace Parley.Server.Realtime;

public static class RealtimeSetup
{
    public static IServiceCollection AddParleyRealtime(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<RealtimeOptions>().BindConfiguration(RealtimeOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        var options = configuration.GetSection(RealtimeOptions.Section).Get<RealtimeOptions>() ?? new RealtimeOptions();

        services.AddSignalR(o =>
            {
                o.MaximumReceiveMessageSize = options.MaxReceiveMessageBytes;
                o.KeepAliveInterval = TimeSpan.FromSeconds(options.KeepAliveSeconds);
                o.ClientTimeoutInterval = TimeSpan.FromSeconds(options.ClientTimeoutSeconds);
                o.EnableDetailedErrors = false;
                o.MaximumParallelInvocationsPerClient = options.MaxParallelInvocationsPerClient;
            })
            .AddHubOptions<VisitorHub>(o => o.MaximumParallelInvocationsPerClient = options.VisitorMaxParallelInvocationsPerClient)
            .AddJsonProtocol(o => o.PayloadSerializerOptions.PropertyNamingPolicy = JsonNamingPolicy.CamelCase)
            .AddMessagePackProtocol();

        // The filters are stateless and added as instances: a filter added by type is resolved (or constructed) and
        // awaited by SignalR's filter factory on every invocation, a state machine and an object per call each. Error
        // mapping first (outermost), so that a refused token scope reaches the caller as its error code.
        services.AddOptions<HubOptions>().Configure<ILogger<HubErrorFilter>>((o, logger) =>
        {
            o.AddFilter(new HubErrorFilter(logger));
            o.AddFilter(new HubTokenScopeFilter());
        });

        services.AddSingleton<ConnectionRegistry>();
        services.AddSingleton<RealtimeFanout>();
        services.AddSingleton<IDomainEventListener<MessageCommitted>>(sp => sp.GetRequiredService<RealtimeFanout>());
        services.AddSingleton<IDomainEventListener<ConversationChanged>>(sp => sp.GetRequiredService<RealtimeFanout>());
        services.AddSingleton<ConsoleRealtime>();
        services.AddSingleton<IDomainEventListener<Features.Console.ConversationLabelsChanged>>(sp => sp.GetRequiredService<ConsoleRealtime>());
        services.AddSingleton<IDomainEventListener<Features.Console.ConversationReadMoved>>(sp => sp.GetRequiredService<ConsoleRealtime>());
        services.AddSingleton<TypingSignals>();
        services.AddScoped<ReadReceipts>();
        services.AddSingleton<IDomainEventListener<ConversationRead>, ReadReceiptFanout>();
        AddTracking<VisitorHub>(services);
        AddTracking<AgentHub>(services);
        return services;
    }

    public static IEndpointRouteBuilder MapParleyHubs(this IEndpointRouteBuilder app)
    {
        app.MapHub<VisitorHub>("/hubs/visitor").RequireRateLimiting(Features.Widget.WidgetApi.ConnectRateLimit);
        app.MapHub<AgentHub>("/hubs/agent");
        return app;
    }

    private static void AddTracking<THub>(IServiceCollection services)
        where THub : Hub =>
        services.AddSingleton<HubLifetimeManager<THub>>(sp => new TrackingHubLifetimeManager<THub>(
            ActivatorUtilities.CreateInstance<DefaultHubLifetimeManager<THub>>(sp),
            sp.GetRequiredService<ConnectionRegistry>(),
            sp.GetRequiredService<IOptions<RealtimeOptions>>(),
            sp.GetRequiredService<Features.Metrics.ParleyMetrics>(),
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILogger<ClientConnection>>()));
}
