using System.Diagnostics.Metrics;

namespace Parley.Server.Features.Metrics;

/// <summary>
/// Parley's own instruments, exported with the runtime's and ASP.NET Core's at <c>/metrics</c> (names in
/// docs/operations.md). Labels are bounded by design: hubs, statuses, outcomes, limiter names and department (team)
/// names; never a conversation, visitor or user id. Counters and histograms are recorded where the work happens;
/// the gauges read the latest <see cref="OperationsSnapshot"/> that <see cref="OperationsSampler"/> takes.
/// </summary>
public sealed class ParleyMetrics
{
    public const string MeterName = "Parley";

    /// <summary>Seconds: 1 ms … 10 s, for commit, queue wait, bus lag and AI latency.</summary>
    private static readonly double[] LatencyBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

    private static readonly int[] BatchBuckets = [1, 2, 5, 10, 20, 50, 100, 200, 500];

    private readonly Counter<long> _messagesStored;
    private readonly Counter<long> _duplicates;
    private readonly Histogram<int> _batchSize;
    private readonly Histogram<double> _commitSeconds;
    private readonly Histogram<double> _queueWaitSeconds;
    private readonly Counter<long> _slowConsumers;
    private readonly Counter<long> _replays;
    private readonly Counter<long> _webhookAttempts;
    private readonly Counter<long> _webhookDisabled;
    private readonly Histogram<double> _busLag;
    private readonly Counter<long> _busDropped;
    private readonly Counter<long> _catchUps;
    private readonly Counter<long> _rateLimited;
    private readonly Counter<long> _aiCalls;
    private readonly Histogram<double> _aiSeconds;
    private readonly Counter<long> _shed;
    private readonly Counter<long> _alertNotices;
    private volatile OperationsSnapshot _snapshot = OperationsSnapshot.Empty;
    private long _slowestCommitTicks;

    public ParleyMetrics(IMeterFactory meters)
    {
        var meter = meters.Create(MeterName);
        _messagesStored = meter.CreateCounter<long>("parley.messages.stored", "{message}", "Messages durably stored");
        _duplicates = meter.CreateCounter<long>("parley.messages.duplicates", "{message}", "Sends recognised as retries of a stored message");
        _batchSize = meter.CreateHistogram("parley.commit.batch_size", "{message}", "Messages per group-commit transaction", advice: new InstrumentAdvice<int> { HistogramBucketBoundaries = BatchBuckets });
        _commitSeconds = Latency(meter, "parley.commit.duration", "Duration of a group-commit transaction");
        _queueWaitSeconds = Latency(meter, "parley.writer.queue_wait", "Time a send waited in the write queue before its commit began");
        _slowConsumers = meter.CreateCounter<long>("parley.connections.slow_consumer_disconnects", "{connection}", "Connections closed because their outbound queue was full");
        _replays = meter.CreateCounter<long>("parley.replays", "{replay}", "Replays served to reconnecting clients (Resume/Join); outcome=truncated when the gap exceeded the replay limit");
        _webhookAttempts = meter.CreateCounter<long>("parley.webhook.deliveries", "{attempt}", "Webhook delivery attempts by outcome (succeeded, retry, failed)");
        _webhookDisabled = meter.CreateCounter<long>("parley.webhook.endpoints_disabled", "{endpoint}", "Webhook endpoints disabled after failing (or answering 410)");
        _busLag = Latency(meter, "parley.bus.lag", "Time from commit on one node to arrival on another over the Redis bus");
        _busDropped = meter.CreateCounter<long>("parley.bus.dropped", "{message}", "Bus publishes dropped because Redis was unreachable (repaired by the catch-up)");
        _catchUps = meter.CreateCounter<long>("parley.bus.catch_ups", "{catch_up}", "Catch-ups from the database after a Redis outage or a lost node");
        _rateLimited = meter.CreateCounter<long>("parley.rate_limit.rejections", "{request}", "Requests and sends refused by a rate limiter, by limiter");
        _aiCalls = meter.CreateCounter<long>("parley.ai.calls", "{call}", "AI engine calls by operation and outcome");
        _aiSeconds = Latency(meter, "parley.ai.duration", "Duration of an AI engine call");
        _shed = meter.CreateCounter<long>("parley.governor.shed", "{event}", "Optional work skipped by the load governor, by feature");
        _alertNotices = meter.CreateCounter<long>("parley.alerts.notices", "{notice}", "Alert notices by channel kind and outcome (sent, retry, failed, dropped)");

        meter.CreateObservableGauge("parley.connections", () => Labeled("hub", ("visitor", _snapshot.VisitorConnections), ("agent", _snapshot.AgentConnections)), "{connection}", "Live hub connections on this node");
        meter.CreateObservableGauge("parley.fanout.backlog", () => (long)_snapshot.FanoutBacklog, "{event}", "Events waiting in this node's per-connection outbound queues");
        meter.CreateObservableGauge("parley.writer.queue_depth", () => (long)_snapshot.WriterQueueDepth, "{message}", "Sends waiting for the group commit on this node");
        meter.CreateObservableGauge("parley.admission.waiting", () => (long)_snapshot.AdmissionWaiting, "{message}", "Visitor sends waiting for admission on this node (load governor)");
        meter.CreateObservableGauge("parley.admission.limit", () => (long)_snapshot.AdmissionLimit, "{message}", "Visitor sends admitted at once on this node (adaptive; 0 when admission control is off)");
        meter.CreateObservableGauge("parley.agents", () => Labeled("status", ("online", _snapshot.AgentsOnline), ("away", _snapshot.AgentsAway), ("offline", _snapshot.AgentsOffline)), "{agent}", "Active console users by presence status (cluster-wide)");
        meter.CreateObservableGauge("parley.queue.depth", () => _snapshot.Queues.Select(q => new Measurement<long>(q.Depth, new KeyValuePair<string, object?>("department", q.Department))), "{conversation}", "Conversations waiting for an agent, per department (cluster-wide)");
        meter.CreateObservableGauge("parley.queue.oldest_wait", () => _snapshot.Queues.Select(q => new Measurement<double>(q.OldestWaitSeconds, new KeyValuePair<string, object?>("department", q.Department))), "s", "How long the longest-waiting conversation has waited, per department (cluster-wide)");
        meter.CreateObservableGauge("parley.webhook.outbox", () => (long)_snapshot.WebhookBacklog, "{delivery}", "Webhook deliveries not yet delivered or given up (cluster-wide)");
        meter.CreateObservableGauge("parley.data_directory.free", () => _snapshot.DataDirectoryFreeBytes, "By", "Free disk space where the data directory (SQLite database, attachments) lives");
        meter.CreateObservableGauge("parley.governor.state", () => (long)_snapshot.GovernorState, "{state}", "Load governor state: 0 normal, 1 pressure, 2 overload");
    }

    /// <summary>The latest sample the gauges show.</summary>
    public OperationsSnapshot Snapshot => _snapshot;

    internal void Publish(OperationsSnapshot snapshot) => _snapshot = snapshot;

    /// <summary>The slowest commit since the last call (the load governor's commit-latency signal).</summary>
    internal TimeSpan TakeSlowestCommit() => TimeSpan.FromTicks(Interlocked.Exchange(ref _slowestCommitTicks, 0));

    public void Committed(int batchSize, int stored, int duplicates, TimeSpan elapsed)
    {
        _batchSize.Record(batchSize);
        _commitSeconds.Record(elapsed.TotalSeconds);
        var ticks = elapsed.Ticks;
        var seen = Interlocked.Read(ref _slowestCommitTicks);
        while (ticks > seen && Interlocked.CompareExchange(ref _slowestCommitTicks, ticks, seen) != seen)
        {
            seen = Interlocked.Read(ref _slowestCommitTicks);
        }
        _messagesStored.Add(stored);
        if (duplicates > 0)
        {
            _duplicates.Add(duplicates);
        }
    }

    public void QueueWaited(TimeSpan waited) => _queueWaitSeconds.Record(waited.TotalSeconds);

    public void SlowConsumerDisconnected() => _slowConsumers.Add(1);

    public void Replayed(bool truncated) => _replays.Add(1, new KeyValuePair<string, object?>("outcome", truncated ? "truncated" : "complete"));

    /// <param name="outcome">succeeded, retry (will be attempted again) or failed (given up).</param>
    public void WebhookAttempted(string outcome) => _webhookAttempts.Add(1, new KeyValuePair<string, object?>("outcome", outcome));

    public void WebhookEndpointDisabled() => _webhookDisabled.Add(1);

    public void BusLag(TimeSpan lag) => _busLag.Record(Math.Max(0, lag.TotalSeconds));

    public void BusDropped() => _busDropped.Add(1);

    public void CatchUp() => _catchUps.Add(1);

    /// <param name="limiter">A fixed limiter name (the rate-limit policy), never a key.</param>
    public void RateLimited(string limiter) => _rateLimited.Add(1, new KeyValuePair<string, object?>("limiter", limiter));

    /// <param name="operation">What was asked (bot_reply, suggest, insights).</param>
    /// <param name="outcome">A fixed word: answer, handoff, error, …</param>
    public void AiCalled(string operation, string outcome, TimeSpan elapsed)
    {
        var op = new KeyValuePair<string, object?>("operation", operation);
        _aiCalls.Add(1, op, new KeyValuePair<string, object?>("outcome", outcome));
        _aiSeconds.Record(elapsed.TotalSeconds, op);
    }

    /// <param name="channel">The channel kind (webhook, slack, wecom, dingtalk), never a channel's name or URL.</param>
    /// <param name="outcome">sent, retry, failed (given up) or dropped (queue full).</param>
    public void AlertNotified(string channel, string outcome) =>
        _alertNotices.Add(1, new KeyValuePair<string, object?>("channel", channel), new KeyValuePair<string, object?>("outcome", outcome));

    public void Shed(string feature) => _shed.Add(1, new KeyValuePair<string, object?>("feature", feature));

    private static Histogram<double> Latency(Meter meter, string name, string description) =>
        meter.CreateHistogram(name, "s", description, advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = LatencyBuckets });

    private static IEnumerable<Measurement<long>> Labeled(string label, params (string Value, int Count)[] values) =>
        values.Select(v => new Measurement<long>(v.Count, new KeyValuePair<string, object?>(label, v.Value)));
}
