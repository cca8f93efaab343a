using Parley.Server.Events;
using Parley.Server.ScaleOut;

namespace Parley.Server.Features.Knowledge;

/// <summary>
/// Carries <see cref="KnowledgeChanged"/> to the other nodes and hands what they publish to this node's listeners
/// (all of them: every node keeps its own search index, so unlike <see cref="EventRelayExtensions"/> fan-out there is
/// no side effect that must run once). A message lost while the bus is down is repaired by a full reload: when the
/// bus comes back, listeners here get <see cref="KnowledgeChangeKind.Imported"/>. On a single node it only listens.
/// </summary>
internal sealed partial class KnowledgeRelay(IClusterBus bus, IServiceProvider services, ILogger<KnowledgeRelay> logger) : IDomainEventListener<KnowledgeChanged>, IHostedService
{
    private const string Topic = "event:" + nameof(KnowledgeChanged);

    private IDomainEventListener<KnowledgeChanged>[]? _local;

    public void Handle(KnowledgeChanged domainEvent) => bus.Publish(Topic, domainEvent);

    public Task StartAsync(CancellationToken cancellationToken)
    {
        bus.Subscribe<KnowledgeChanged>(Topic, change => Deliver(change with { Relayed = true }));
        bus.Restored += _ => Deliver(new KnowledgeChanged(null, KnowledgeChangeKind.Imported) { Relayed = true });
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Runs this node's listeners (not the relay itself, which would send the event back out).</summary>
    private void Deliver(KnowledgeChanged domainEvent)
    {
        _local ??= services.GetServices<IDomainEventListener<KnowledgeChanged>>().Where(l => !ReferenceEquals(l, this)).ToArray();
        foreach (var listener in _local)
        {
            try
            {
                listener.Handle(domainEvent);
            }
            catch (Exception ex)
            {
                LogListenerFailed(logger, ex, listener.GetType().Name);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Knowledge listener {Listener} failed on a change relayed from another node")]
    private static partial void LogListenerFailed(ILogger logger, Exception exception, string listener);
}
