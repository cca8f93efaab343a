using Microsoft.AspNetCore.SignalR;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using Parley.Server.Events;
using Parley.Server.Messaging;
using Parley.Server.Realtime;
using StackExchange.Redis;

namespace Parley.Server.ScaleOut;

public static class ScaleOutSetup
{
    /// <summary>
    /// Call after the other features: with Redis on it replaces single-node services (agent availability).
    /// Graceful drain and the cross-node delivery API always; with <c>Parley:Redis:ConnectionString</c> also the
    /// Redis cluster bus that relays the fan-out's events between nodes, and a Redis readiness check.
    /// </summary>
    public static IServiceCollection AddParleyScaleOut(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<RedisOptions>().BindConfiguration(RedisOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<DrainOptions>().BindConfiguration(DrainOptions.Section).ValidateDataAnnotations().ValidateOnStart();

        services.AddSingleton<GracefulDrain>();
        services.AddHostedService(sp => sp.GetRequiredService<GracefulDrain>());
        services.AddOptions<HubOptions>().Configure<GracefulDrain>((o, drain) => o.AddFilter(drain));
        services.AddSingleton<IStartupFilter, DrainStartupFilter>();
        services.AddHealthChecks().Add(new HealthCheckRegistration("drain", sp => sp.GetRequiredService<GracefulDrain>(), null, ["ready"]));

        services.AddSingleton<RealtimeDelivery>();

        var redis = configuration.GetSection(RedisOptions.Section).Get<RedisOptions>() ?? new RedisOptions();
        if (!redis.Enabled)
        {
            services.AddSingleton<IClusterBus, LocalClusterBus>();
            return services;
        }

        services.AddSingleton<IConnectionMultiplexer>(sp =>
        {
            var config = ConfigurationOptions.Parse(sp.GetRequiredService<IOptions<RedisOptions>>().Value.ConnectionString!);

            // Start (and keep running) without Redis; the multiplexer reconnects by itself in the background.
            config.AbortOnConnectFail = false;
            config.ClientName ??= $"parley-{Environment.MachineName}";
            return ConnectionMultiplexer.Connect(config);
        });
        services.AddSingleton<IClusterBus, RedisClusterBus>();
        services.AddSingleton<ClusterRelay>();
        services.AddSingleton<IDomainEventListener<MessageCommitted>>(sp => sp.GetRequiredService<ClusterRelay>());
        services.AddSingleton<IDomainEventListener<ConversationChanged>>(sp => sp.GetRequiredService<ClusterRelay>());
        services.AddHostedService(sp => sp.GetRequiredService<ClusterRelay>());
        services.AddSingleton<Features.Widget.IAgentAvailability, ClusterAgentAvailability>();
        services.RemoveAll<Features.Widget.IAnonymousRateLimits>();
        services.AddSingleton<Features.Widget.IAnonymousRateLimits, RedisRateLimits>();
        services.RemoveAll<Features.Ai.ILlmTokenBudget>();
        services.AddSingleton<Features.Ai.ILlmTokenBudget, RedisTokenBudget>();
        services.RemoveAll<Realtime.Presence.IAgentPresence>();
        services.AddSingleton<RedisAgentPresence>();
        services.AddSingleton<Realtime.Presence.IAgentPresence>(sp => sp.GetRequiredService<RedisAgentPresence>());
        services.AddHostedService(sp => sp.GetRequiredService<RedisAgentPresence>());
        services.RelayToOtherNodes<ConversationRead, ReadReceiptFanout>();
        services.RelayToOtherNodes<Features.Csat.ConversationRated, Features.Csat.RatingFanout>();
        services.RelayToOtherNodes<Features.Widget.VisitorPageChanged, Features.Widget.VisitorPageFanout>();
        services.RelayToOtherNodes<Features.Integration.ContactEventRecorded, Features.Integration.ContactEventFanout>();

        // Routing's pushes: the node that decides is rarely the one the agent or the visitor is connected to.
        services.RelayToOtherNodes<Routing.ConversationOffered, Routing.RoutingRealtime>();
        services.RelayToOtherNodes<Routing.OfferWithdrawn, Routing.RoutingRealtime>();
        services.RelayToOtherNodes<Routing.ConversationAssigned, Routing.RoutingRealtime>();
        services.RelayToOtherNodes<Routing.QueuePositionsChanged, Routing.RoutingRealtime>();
        services.AddHealthChecks().Add(new HealthCheckRegistration(
            "redis",
            sp => new RedisHealthCheck(sp.GetRequiredService<IConnectionMultiplexer>()),
            redis.ReadinessRequiresRedis ? HealthStatus.Unhealthy : HealthStatus.Degraded,
            ["ready"]));
        return services;
    }

    /// <summary>Agents are available when one is connected to this node or to any other live node (heartbeats).</summary>
    private sealed class ClusterAgentAvailability(ConnectionRegistry registry, ClusterRelay relay) : Features.Widget.IAgentAvailability
    {
        public ValueTask<bool> IsAvailableAsync(Guid siteId, CancellationToken cancellationToken) =>
            ValueTask.FromResult(registry.Agents.Count > 0 || relay.RemoteAgentConnections > 0);
    }

    private sealed class DrainStartupFilter(GracefulDrain drain) : IStartupFilter
    {
        public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
        {
            app.Use(drain.RefuseNewConnections);
            next(app);
        };
    }

    /// <summary>Redis answers a PING. Reported as degraded (HTTP 200) unless Parley:Redis:ReadinessRequiresRedis.</summary>
    private sealed class RedisHealthCheck(IConnectionMultiplexer redis) : IHealthCheck
    {
        public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
        {
            try
            {
                var latency = await redis.GetDatabase().PingAsync().WaitAsync(TimeSpan.FromSeconds(2), cancellationToken);
                return HealthCheckResult.Healthy($"PING {latency.TotalMilliseconds:F1} ms");
            }
            catch (Exception ex) when (ex is RedisException or TimeoutException)
            {
                return new HealthCheckResult(context.Registration.FailureStatus, "Redis is unreachable: cross-node live delivery is paused; clients catch up by replay.", ex);
            }
        }
    }
}
