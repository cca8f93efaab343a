using System.ComponentModel.DataAnnotations;

namespace Parley.Server.ScaleOut;

/// <summary>
/// Redis switches a node to scale-out: a cross-node event bus for the realtime fan-out, presence, and cluster-wide
/// rate limits. Without a connection string the node runs alone and none of that is started.
/// </summary>
public sealed class RedisOptions
{
    public const string Section = "Parley:Redis";

    /// <summary>StackExchange.Redis configuration string, e.g. <c>redis:6379,password=...</c>. Empty: single node.</summary>
    public string? ConnectionString { get; set; }

    /// <summary>Prefix of every channel and key, so several installations can share one Redis.</summary>
    [Required]
    [RegularExpression("^[A-Za-z0-9_.-]{1,64}$")]
    public string Prefix { get; set; } = "parley";

    /// <summary>How often a node announces itself to the others.</summary>
    [Range(1, 60)]
    public int HeartbeatSeconds { get; set; } = 2;

    /// <summary>A node not heard from for this long is treated as gone: the others catch up on what it may have failed to publish.</summary>
    [Range(2, 600)]
    public int NodeTimeoutSeconds { get; set; } = 8;

    /// <summary>
    /// Slack added to every catch-up window (commit times come from each node's clock): messages committed up to
    /// this long before an outage began are delivered again. Clients drop what they already have by seq.
    /// </summary>
    [Range(0, 3600)]
    public int CatchUpMarginSeconds { get; set; } = 30;

    /// <summary>
    /// Most messages per conversation a catch-up pushes again (the newest ones). A client further behind than
    /// that sees a gap and repairs it by replay (docs/protocol.md; beyond the replay limit it reloads).
    /// </summary>
    [Range(100, 1_000_000)]
    public int CatchUpLimit { get; set; } = 10_000;

    /// <summary>
    /// When true, /health/ready fails while Redis is unreachable. Off by default: a node without Redis still
    /// serves its own clients correctly, and failing every node's readiness at once would take the whole
    /// cluster out of the load balancer.
    /// </summary>
    public bool ReadinessRequiresRedis { get; set; }

    public bool Enabled => !string.IsNullOrWhiteSpace(ConnectionString);
}
