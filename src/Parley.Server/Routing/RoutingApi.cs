using System.Security.Claims;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using Parley.Data;
using Parley.Server.Features.Access;
using Parley.Server.Infrastructure;
using Parley.Server.Messaging;
using Parley.Server.Realtime.Presence;

namespace Parley.Server.Routing;

public sealed record AgentRoutingDto(Guid Id, string DisplayName, string Email, string Status, int Load, int Capacity, IReadOnlyList<Guid> TeamIds);

public sealed record QueueEntryDto(Guid ConversationId, Guid? TeamId, int Priority, DateTime QueuedAt, Guid? OfferedToId);

public sealed record RouteRequest(Guid? TeamId, int? Priority);

/// <summary>Agents' presence and capacity, the waiting queue, and the routing actions on one conversation.</summary>
public static class RoutingApi
{
    public static IEndpointRouteBuilder MapRoutingApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/v1/routing")
            .WithTags("Routing")
            .RequireAuthorization(ParleyClaims.AgentPolicy)
            .WithParleyErrors();

        api.MapGet("/agents", AgentsAsync).WithName("ListRoutingAgents")
            .WithSummary("Agents with presence (online, away, offline), load and capacity");
        api.MapGet("/queue", QueueAsync).WithName("ListQueue")
            .WithSummary("Waiting conversations in the order they will be served")
            .WithDescription("Priority lane first, then arrival. Manual teams' pools are part of it; take one with /conversations/{id}/pick.");
        api.MapPost("/conversations/{id:guid}/pick", PickAsync).WithName("PickConversation")
            .WithSummary("Take a waiting conversation from the queue (within your capacity)");
        api.MapPost("/conversations/{id:guid}/unassign", UnassignAsync).WithName("UnassignConversation")
            .WithSummary("Put an assigned conversation back in the queue at its original arrival");
        api.MapPut("/conversations/{id:guid}", RouteAsync).WithName("RouteConversation")
            .WithSummary("Move a conversation to a team and/or set its priority (VIP lane)")
            .WithDescription("priority: -100 … 100, higher is served first. teamId moves it to that team's queue.");
        api.MapPost("/conversations/{id:guid}/accept", AcceptAsync).WithName("AcceptOffer").WithSummary("Accept a conversation offered to you");
        api.MapPost("/conversations/{id:guid}/decline", DeclineAsync).WithName("DeclineOffer").WithSummary("Decline an offer; routing moves on to another agent");
        return app;
    }

    internal static async Task<Ok<List<AgentRoutingDto>>> AgentsAsync(ParleyDbContext db, IAgentPresence presence, CancellationToken cancellationToken)
    {
        var users = await db.Users.AsNoTracking().Where(u => u.IsActive).OrderBy(u => u.DisplayName).ToListAsync(cancellationToken);
        var loads = await db.Conversations.AsNoTracking()
            .Where(c => c.Status != ConversationStatus.Closed && (c.AssigneeId != null || c.OfferedToId != null))
            .GroupBy(c => c.AssigneeId ?? c.OfferedToId)
            .Select(g => new { Agent = g.Key, Count = g.Count() })
            .ToListAsync(cancellationToken);
        var teams = (await db.TeamMembers.AsNoTracking().ToListAsync(cancellationToken)).ToLookup(m => m.UserId, m => m.TeamId);
        var present = await presence.GetPresentAsync(cancellationToken);
        return TypedResults.Ok(users.ConvertAll(u => new AgentRoutingDto(
            u.Id,
            u.DisplayName,
            u.Email,
            present.GetValueOrDefault(u.Id, AgentStatus.Offline).ToString().ToLowerInvariant(),
            loads.FirstOrDefault(l => l.Agent == u.Id)?.Count ?? 0,
            u.Capacity,
            [.. teams[u.Id]])));
    }

    internal static async Task<Ok<List<QueueEntryDto>>> QueueAsync(AccessPolicy access, ClaimsPrincipal user, CancellationToken cancellationToken, Guid? teamId = null, int limit = 200)
    {
        // The department sandbox applies: an agent sees the waiting conversations of their own teams.
        var query = (await access.ConversationsAsync(Actor.Agent(user), cancellationToken)).AsNoTracking().Where(c => c.QueuedAt != null && c.AssigneeId == null && c.Status != ConversationStatus.Closed);
        if (teamId is { } t)
        {
            query = query.Where(c => c.TeamId == t);
        }

        var rows = await query.OrderByDescending(c => c.Priority).ThenBy(c => c.QueuedAt).ThenBy(c => c.Id)
            .Take(Math.Clamp(limit, 1, 1000))
            .Select(c => new QueueEntryDto(c.Id, c.TeamId, c.Priority, c.QueuedAt!.Value, c.OfferedToId))
            .ToListAsync(cancellationToken);
        return TypedResults.Ok(rows);
    }

    internal static async Task<Ok<ConversationSummary>> PickAsync(Guid id, RoutingService routing, ClaimsPrincipal user, CancellationToken cancellationToken) =>
        TypedResults.Ok(await routing.PickAsync(id, Actor.Agent(user), cancellationToken));

    internal static async Task<NoContent> UnassignAsync(Guid id, RoutingService routing, ClaimsPrincipal user, CancellationToken cancellationToken)
    {
        await routing.UnassignAsync(id, Actor.Agent(user), cancellationToken);
        return TypedResults.NoContent();
    }

    internal static async Task<Ok<ConversationSummary>> RouteAsync(Guid id, RouteRequest request, RoutingService routing, ClaimsPrincipal user, CancellationToken cancellationToken) =>
        TypedResults.Ok(await routing.SetRoutingAsync(id, request.TeamId, request.Priority, Actor.Agent(user), cancellationToken));

    internal static async Task<Ok<ConversationSummary>> AcceptAsync(Guid id, RoutingService routing, ClaimsPrincipal user, CancellationToken cancellationToken) =>
        TypedResults.Ok(await routing.AcceptOfferAsync(id, Actor.Agent(user), cancellationToken));

    internal static async Task<NoContent> DeclineAsync(Guid id, RoutingService routing, ClaimsPrincipal user, CancellationToken cancellationToken)
    {
        await routing.DeclineOfferAsync(id, Actor.Agent(user).PrincipalId, expired: false, cancellationToken);
        return TypedResults.NoContent();
    }
}
