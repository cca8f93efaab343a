namespace Parley.Server.ScaleOut;

/// <summary>
/// Best-effort broadcast between the nodes of a cluster (Redis pub/sub). What it carries is always backed by the
/// database: a lost bus message is repaired by replay (clients resume from their last seq) or by the catch-up the
/// nodes run when the bus comes back. See docs/operations.md, "Redis degradation".
/// </summary>
public interface IClusterBus
{
    /// <summary>This process's id, random per start.</summary>
    Guid NodeId { get; }

    /// <summary>False on a single node: publishing is then a no-op and callers may skip serializing.</summary>
    bool IsClustered { get; }

    /// <summary>Sends <paramref name="payload"/> (serialized as JSON) to every other node. Never blocks, never throws.</summary>
    void Publish<T>(string topic, T payload);

    /// <summary>
    /// Calls <paramref name="handler"/> for every payload another node publishes on <paramref name="topic"/>, one at a
    /// time, in the order that node published them. A node never receives its own messages.
    /// </summary>
    void Subscribe<T>(string topic, Action<T> handler);

    /// <summary>
    /// Raised when this node's link to the bus breaks: until <see cref="Restored"/>, messages published by this node
    /// or the others may be lost.
    /// </summary>
    event Action? Interrupted;

    /// <summary>
    /// Raised when this node's link to the bus works again after an outage (the argument is when it began, UTC):
    /// messages published meanwhile, by this node or others, may have been lost.
    /// </summary>
    event Action<DateTime>? Restored;
}

/// <summary>The bus of a node that runs alone: there is nobody to tell.</summary>
internal sealed class LocalClusterBus : IClusterBus
{
    public Guid NodeId { get; } = Guid.NewGuid();

    public bool IsClustered => false;

    public event Action<DateTime>? Restored
    {
        add { }
        remove { }
    }

    public event Action? Interrupted
    {
        add { }
        remove { }
    }

    public void Publish<T>(string topic, T payload)
    {
    }

    public void Subscribe<T>(string topic, Action<T> handler)
    {
    }
}
