using System.Security.Claims;
using Parley.Server.Infrastructure;

namespace Parley.Server.Core;

/// <summary>Who is acting: the audience decides numbering and visibility, the ids decide access.</summary>
public readonly record struct Actor(Audience Audience, Guid PrincipalId, string? Name, Guid SiteId = default)
{
    public static Actor Visitor(Guid contactId, Guid siteId) => new(Audience.Visitor, contactId, null, siteId);

    public static Actor Agent(Guid userId, string? name) => new(Audience.Agent, userId, name);

    /// <summary>The signed-in user behind a cookie session (REST or agent hub).</summary>
    public static Actor Agent(ClaimsPrincipal? user) =>
        user?.UserId() is { } id
            ? Agent(id, user.FindFirstValue(ClaimTypes.Name))
            : throw new ParleyException(ErrorCatalogue.Unauthorized, "Not signed in.");
}
