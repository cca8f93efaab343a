using Parley.Server.Events;

namespace Parley.Server.ScaleOut;

/// <summary>
/// Relays one kind of domain event to the other nodes, where only the named fan-out listener handles it (the
/// other listeners, with side effects that must happen once, run on the node that raised the event). For events
/// that only push transient state to clients (read receipts, ratings, visitor pages); a lost one is not
/// repaired, the client reads the current state when it next loads the conversation.
/// </summary>
internal sealed class EventRelay<TEvent, TFanout>(IClusterBus bus, IServiceProvider services) : IDomainEventListener<TEvent>, IHostedService
    where TFanout : IDomainEventListener<TEvent>
{
    private static readonly string Topic = "event:" + typeof(TEvent).Name;

    public void Handle(TEvent domainEvent) => bus.Publish(Topic, domainEvent);

    public Task StartAsync(CancellationToken cancellationToken)
    {
        var fanout = services.GetServices<IDomainEventListener<TEvent>>().OfType<TFanout>().Single();
        bus.Subscribe<TEvent>(Topic, fanout.Handle);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}

public static class EventRelayExtensions
{
    /// <summary>With Redis on, delivers <typeparamref name="TEvent"/> to <typeparamref name="TFanout"/> on every other node too.</summary>
    internal static IServiceCollection RelayToOtherNodes<TEvent, TFanout>(this IServiceCollection services)
        where TFanout : IDomainEventListener<TEvent>
    {
        services.AddSingleton<EventRelay<TEvent, TFanout>>();
        services.AddSingleton<IDomainEventListener<TEvent>>(sp => sp.GetRequiredService<EventRelay<TEvent, TFanout>>());
        services.AddHostedService(sp => sp.GetRequiredService<EventRelay<TEvent, TFanout>>());
        return services;
    }
}
