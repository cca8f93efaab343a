namespace Parley.Server.Events;

/// <summary>Handles one kind of domain event. Handlers run on the publisher's thread and must not block.</summary>
public interface IDomainEventListener<in TEvent>
{
    void Handle(TEvent domainEvent);
}

/// <summary>
/// In-process dispatcher: the code that changes state raises an event; each concern (realtime fan-out,
/// webhooks, bots, metrics) listens on its own, so the message path never calls them directly.
/// </summary>
public sealed partial class DomainEvents(IServiceProvider services, ILogger<DomainEvents> logger)
{
    // Listeners are singletons; resolve each event type's list once, not on every message.
    private readonly System.Collections.Concurrent.ConcurrentDictionary<Type, object> _listeners = new();

    public void Publish<TEvent>(TEvent domainEvent)
    {
        var listeners = (IDomainEventListener<TEvent>[])_listeners.GetOrAdd(
            typeof(TEvent), _ => services.GetServices<IDomainEventListener<TEvent>>().ToArray());
        foreach (var handler in listeners)
        {
            try
            {
                handler.Handle(domainEvent);
            }
            catch (Exception ex)
            {
                LogHandlerFailed(logger, ex, typeof(TEvent).Name, handler.GetType().Name);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Handler {Handler} failed on {Event}")]
    private static partial void LogHandlerFailed(ILogger logger, Exception exception, string @event, string handler);
}
