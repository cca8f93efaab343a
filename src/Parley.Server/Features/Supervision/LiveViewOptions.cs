using System.ComponentModel.DataAnnotations;

namespace Parley.Server.Features.Supervision;

public sealed class LiveViewOptions
{
    public const string Section = "Parley:LiveView";

    /// <summary>Least time between two snapshots (and two cluster pings) of one node.</summary>
    [Range(100, 60_000)]
    public int MinIntervalMs { get; set; } = 1000;

    /// <summary>Recompute this often even when no event said so (a change another node could not tell).</summary>
    [Range(1, 3600)]
    public int RefreshSeconds { get; set; } = 15;
}
