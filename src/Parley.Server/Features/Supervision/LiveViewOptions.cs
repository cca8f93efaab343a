using System.ComponentModel.DataAnnotations;

namespace Parley.Server.Features.Supervision;

public sealed class LiveViewOptions
{
    public const string Section = "Parley:LiveView";

    /// <summary>Least time between two snapshots (and two cluster pings) of one node.</summary>
    [Range(100, 60_000)]
    public int MinIntervalMs { get; set; } = 1000;

    /// <summary>Recompute (from memory) this often even when no event said so.</summary>
    [Range(1, 3600)]
    public int RefreshSeconds { get; set; } = 15;

    /// <summary>
    /// Read the open conversations and the directory whole from the database this often (a safety net for a change no
    /// event or ping told; between two, only the rows events and pings name are read).
    /// </summary>
    [Range(1, 86_400)]
    public int ReloadSeconds { get; set; } = 60;
}
