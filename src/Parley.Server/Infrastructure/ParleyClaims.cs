using System.Security.Claims;
using Parley.Server.Core;

namespace Parley.Server.Infrastructure;

/// <summary>Claim names and accessors shared by the cookie (agents) and visitor-token schemes.</summary>
public static class ParleyClaims
{
    public const string VisitorScheme = "Visitor";

    /// <summary>Console users: forwards to the API-token scheme for <c>Bearer pat_...</c>, else to the cookie.</summary>
    public const string ConsoleScheme = "Console";
    public const string ContactId = "parley:contact";
    public const string SiteId = "parley:site";
    public const string SecurityStamp = "parley:stamp";

    /// <summary>Any signed-in console user (agent, supervisor, admin).</summary>
    public const string AgentPolicy = "Agent";

    /// <summary>Supervisors and admins.</summary>
    public const string SupervisorPolicy = "Supervisor";

    /// <summary>Admins only: users, teams, sites and settings administration, the audit log.</summary>
    public const string AdminPolicy = "Admin";
    public const string VisitorPolicy = "Visitor";

    public static Guid? UserId(this ClaimsPrincipal principal) =>
        Ids.ParseOrNull(principal.FindFirstValue(ClaimTypes.NameIdentifier));

    public static Guid? VisitorContactId(this ClaimsPrincipal principal) =>
        Ids.ParseOrNull(principal.FindFirstValue(ContactId));

    public static Guid? VisitorSiteId(this ClaimsPrincipal principal) =>
        Ids.ParseOrNull(principal.FindFirstValue(SiteId));
}
