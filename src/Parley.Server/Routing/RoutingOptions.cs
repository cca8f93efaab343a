using System.ComponentModel.DataAnnotations;
using Parley.Data;

namespace Parley.Server.Routing;

public sealed class RoutingOptions
{
    public const string Section = "Parley:Routing";

    /// <summary>
    /// How often each node re-examines the queue even without a trigger: offer timeouts, overflow, business hours
    /// opening, and capacity freed on another node all surface within this interval.
    /// </summary>
    [Range(0.05, 300)]
    public double SweepIntervalSeconds { get; set; } = 2;

    /// <summary>Strategy of the general queue (conversations without a team, served by every online agent).</summary>
    public RoutingStrategy DefaultStrategy { get; set; } = RoutingStrategy.LeastBusy;

    /// <summary>Sticky-to-last-agent for the general queue.</summary>
    public bool DefaultSticky { get; set; } = true;

    /// <summary>Offer timeout of the general queue in seconds; 0 assigns without asking.</summary>
    [Range(0, 3600)]
    public int DefaultOfferTimeoutSeconds { get; set; }

    /// <summary>When an agent goes offline (after the presence grace period), put their open conversations back in the queue.</summary>
    public bool RequeueOnAgentOffline { get; set; } = true;

    /// <summary>
    /// First-response target (SLA) of the general queue and of teams without their own: a conversation waiting longer
    /// for a person's first reply counts as a breach in the supervisors' live view.
    /// </summary>
    [Range(1, 86_400)]
    public int FirstResponseTargetSeconds { get; set; } = 120;

    /// <summary>
    /// Time an agent spends on one conversation, for the visitor's estimated wait until enough conversations have
    /// closed to measure it (see <see cref="HandleTimes"/>).
    /// </summary>
    [Range(1, 86_400)]
    public int AverageHandleSeconds { get; set; } = 300;
}
