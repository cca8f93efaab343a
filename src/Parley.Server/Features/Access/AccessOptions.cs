using System.ComponentModel.DataAnnotations;

namespace Parley.Server.Features.Access;

public sealed class AccessOptions
{
    public const string Section = "Parley:Access";

    /// <summary>
    /// Whether conversations without a team (not yet routed to a department) are visible to every agent. Turn off
    /// for strict sandboxes: then only admins, "all departments" users and the assignee see them.
    /// </summary>
    public bool UnteamedVisibleToAll { get; set; } = true;

    /// <summary>How long a user's role and team membership are cached for realtime fan-out before being re-read.</summary>
    [Range(1, 3600)]
    public int ScopeCacheSeconds { get; set; } = 30;
}
