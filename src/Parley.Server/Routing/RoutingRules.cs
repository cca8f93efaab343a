using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Parley.Data;

namespace Parley.Server.Routing;

/// <summary>What routing knows about a new conversation; rules fill in the team and priority.</summary>
public sealed class RoutingContext
{
    public required Guid SiteId { get; init; }

    public required Guid ContactId { get; init; }

    /// <summary>The contact's custom attributes (a JSON object), when any.</summary>
    public string? ContactAttributesJson { get; init; }

    /// <summary>The team to queue in; null is the general queue every online agent serves.</summary>
    public Guid? TeamId { get; set; }

    /// <summary>Higher is served first (the VIP lane).</summary>
    public int Priority { get; set; }
}

/// <summary>
/// A routing rule hook: runs, in registration order, when a conversation enters routing, and may choose its team
/// and priority. Intent-based (AI) routing plugs in here by registering another implementation (scoped service).
/// </summary>
public interface IRoutingRule
{
    ValueTask ApplyAsync(RoutingContext context, CancellationToken cancellationToken);
}

/// <summary>
/// The built-in rule: contact attributes set by the site (setUser) or the contacts API.
/// <c>priority</c> (integer) or <c>vip: true</c> (priority 10) pick the lane; <c>team</c> (a team id or name)
/// picks the department, which is how a site lets the visitor choose one.
/// </summary>
internal sealed class ContactAttributesRule(ParleyDbContext db) : IRoutingRule
{
    public const int VipPriority = 10;

    public async ValueTask ApplyAsync(RoutingContext context, CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(context.ContactAttributesJson))
        {
            return;
        }

        JsonElement attributes;
        try
        {
            attributes = JsonDocument.Parse(context.ContactAttributesJson).RootElement;
        }
        catch (JsonException)
        {
            return;
        }

        if (attributes.ValueKind != JsonValueKind.Object)
        {
            return;
        }

        if (attributes.TryGetProperty("priority", out var p) && p.ValueKind == JsonValueKind.Number && p.TryGetInt32(out var priority))
        {
            context.Priority = Math.Clamp(priority, -100, 100);
        }
        else if (attributes.TryGetProperty("vip", out var vip) && vip.ValueKind == JsonValueKind.True)
        {
            context.Priority = VipPriority;
        }

        if (attributes.TryGetProperty("team", out var t) && t.ValueKind == JsonValueKind.String && t.GetString() is { Length: > 0 } team)
        {
            var id = Guid.TryParse(team, out var g)
                ? await db.Teams.Where(x => x.Id == g).Select(x => (Guid?)x.Id).FirstOrDefaultAsync(cancellationToken)
                : await db.Teams.Where(x => x.Name == team).Select(x => (Guid?)x.Id).FirstOrDefaultAsync(cancellationToken);
            context.TeamId = id ?? context.TeamId;
        }
    }
}
