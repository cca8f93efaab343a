using System.Collections.Concurrent;
using Parley.Server.Features.Integration;
using Parley.Server.ScaleOut;

namespace Parley.Server.Features.Webhooks;

/// <summary>Told to every node through the cluster bus when an endpoint was created, changed, disabled or deleted.</summary>
public sealed record WebhookEndpointsChanged(Guid? EndpointId);

/// <summary>
/// The enabled webhook endpoints and the event types each subscribes to, held in memory so that the message's group
/// commit writes the outbox rows of <c>message.created</c> without querying the endpoints per batch. Every change
/// through <see cref="WebhookService"/> or the dispatcher calls <see cref="Changed"/>, which drops the copy here and on
/// every other node (cluster bus); a lost bus message is repaired when the bus comes back, and a row changed behind the
/// API's back is picked up within <see cref="MaxAge"/>. The holder reloads the list in its own transaction.
/// </summary>
public sealed class WebhookSubscriptions(IClusterBus bus, TimeProvider time) : IHostedService
{
    private const string Topic = "event:" + nameof(WebhookEndpointsChanged);

    /// <summary>How long a loaded list is trusted without any change being announced.</summary>
    internal static readonly TimeSpan MaxAge = TimeSpan.FromSeconds(30);

    private long _version;
    private volatile Snapshot? _current;

    /// <summary>The list loaded at one moment: endpoint id and space-separated event types.</summary>
    public sealed class Snapshot(long version, DateTimeOffset loadedAt, IReadOnlyList<(Guid Id, string EventTypes)> endpoints)
    {
        private readonly ConcurrentDictionary<string, Guid[]> _byType = new(StringComparer.Ordinal);

        internal long Version { get; } = version;

        internal DateTimeOffset LoadedAt { get; } = loadedAt;

        public IReadOnlyList<(Guid Id, string EventTypes)> Endpoints { get; } = endpoints;

        /// <summary>The endpoints whose subscription covers <paramref name="type"/>, worked out once per type.</summary>
        public Guid[] Subscribers(string type) => _byType.GetOrAdd(type, t =>
            [.. Endpoints.Where(e => IntegrationEventLog.Subscribes(e.EventTypes, t)).Select(e => e.Id)]);
    }

    /// <summary>The list in memory, or null when it must be loaded (first use, after a change, or older than <see cref="MaxAge"/>).</summary>
    public Snapshot? Current =>
        _current is { } s && s.Version == Interlocked.Read(ref _version) && time.GetUtcNow() - s.LoadedAt < MaxAge ? s : null;

    /// <summary>Call before reading the endpoints from the store; pass the result to <see cref="Store"/>.</summary>
    public long BeginLoad() => Interlocked.Read(ref _version);

    /// <summary>
    /// Keeps what was read since <see cref="BeginLoad"/> returned <paramref name="version"/> and returns it; a change
    /// announced meanwhile leaves the list marked stale, so the next use reads it again.
    /// </summary>
    public Snapshot Store(long version, IReadOnlyList<(Guid Id, string EventTypes)> endpoints)
    {
        var snapshot = new Snapshot(version, time.GetUtcNow(), endpoints);
        _current = snapshot;
        return snapshot;
    }

    /// <summary>An endpoint changed on this node (after its commit): drop the list here and on every other node.</summary>
    public void Changed(Guid? endpointId = null)
    {
        Invalidate();
        bus.Publish(Topic, new WebhookEndpointsChanged(endpointId));
    }

    private void Invalidate() => Interlocked.Increment(ref _version);

    public Task StartAsync(CancellationToken cancellationToken)
    {
        bus.Subscribe<WebhookEndpointsChanged>(Topic, _ => Invalidate());
        bus.Restored += _ => Invalidate();
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
