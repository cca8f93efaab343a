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
    public void Publish<TEvent>(TEvent domainEvent)
    {
        foreach (var handler in services.GetServices<IDomainEventListener<TEvent>>())
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
