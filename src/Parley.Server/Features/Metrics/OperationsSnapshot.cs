namespace Parley.Server.Features.Metrics;

/// <summary>Waiting conversations of one department (team name; "general" for the unrouted queue).</summary>
public sealed record QueueSample(string Department, int Depth, double OldestWaitSeconds);

/// <summary>
/// What <see cref="OperationsSampler"/> last saw: node-local figures (connections, outbound backlog, write queue,
/// thread pool, CPU) every tick, cluster-wide figures read from the store (queues, agents, webhook outbox) less
/// often. The gauges at <c>/metrics</c>, the load governor and the alert rules all read this one record.
/// </summary>
public sealed record OperationsSnapshot
{
    public static readonly OperationsSnapshot Empty = new();

    public DateTimeOffset TakenAt { get; init; }

    public int VisitorConnections { get; init; }

    public int AgentConnections { get; init; }

    public int FanoutBacklog { get; init; }

    /// <summary>The slowest group commit since the previous sample, seconds (0 when none ran).</summary>
    public double CommitSeconds { get; init; }

    public int WriterQueueDepth { get; init; }

    /// <summary>Visitor sends waiting for admission (<see cref="VisitorAdmission"/>).</summary>
    public int AdmissionWaiting { get; init; }

    /// <summary>How many visitor sends admission lets in at once now (0 when admission control is off).</summary>
    public int AdmissionLimit { get; init; }

    /// <summary>Work items waiting for a thread-pool thread.</summary>
    public long ThreadPoolQueue { get; init; }

    /// <summary>Process CPU use over the last tick, 0..1 of the machine's cores.</summary>
    public double Cpu { get; init; }

    public int AgentsOnline { get; init; }

    public int AgentsAway { get; init; }

    public int AgentsOffline { get; init; }

    public IReadOnlyList<QueueSample> Queues { get; init; } = [];

    public int WebhookBacklog { get; init; }

    /// <summary>Free bytes on the data directory's disk; -1 when unknown.</summary>
    public long DataDirectoryFreeBytes { get; init; } = -1;

    /// <summary>0 normal, 1 pressure, 2 overload (the load governor).</summary>
    public int GovernorState { get; init; }
}
