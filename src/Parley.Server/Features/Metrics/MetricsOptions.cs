using System.ComponentModel.DataAnnotations;

namespace Parley.Server.Features.Metrics;

/// <summary>
/// Who may read <c>/metrics</c> (Parley:Metrics). Off by default: it is served only on the management port or to a
/// caller presenting the scrape token; everyone else gets 401.
/// </summary>
public sealed class MetricsOptions
{
    public const string Section = "Parley:Metrics";

    /// <summary>
    /// A second Kestrel endpoint that serves only <c>/metrics</c> and <c>/health/*</c> without a token (keep it off the
    /// public network: a Kubernetes pod port without a Service/Ingress, a firewalled port). Null: none.
    /// </summary>
    [Range(1, 65535)]
    public int? ManagementPort { get; set; }

    /// <summary>Interface the management port binds to: <c>*</c> (all, the default), <c>localhost</c> or an address.</summary>
    public string ManagementHost { get; set; } = "*";

    /// <summary>A bearer token (16+ characters) that reads <c>/metrics</c> on any port: <c>Authorization: Bearer TOKEN</c>.</summary>
    [MinLength(16)]
    public string? Token { get; set; }

    /// <summary>How often node-local figures (connections, backlogs, thread pool, CPU) are sampled; also the load governor's tick.</summary>
    [Range(0.05, 60)]
    public double SampleSeconds { get; set; } = 1;

    /// <summary>How often figures read from the store (queues, agents, webhook outbox, disk) are refreshed.</summary>
    [Range(0.05, 3600)]
    public double StoreSampleSeconds { get; set; } = 15;
}
