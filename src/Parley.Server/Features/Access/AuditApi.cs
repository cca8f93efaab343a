using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using Parley.Data;
using Parley.Server.Infrastructure;

namespace Parley.Server.Features.Access;

public sealed record AuditEntryDto(long Id, DateTime At, Guid? ActorId, string? ActorName, string Action, string? TargetType, string? TargetId, string? IpAddress, string? DetailsJson);

public sealed record AuditPage(IReadOnlyList<AuditEntryDto> Items, long? NextBefore);

public static class AuditApi
{
    public static IEndpointRouteBuilder MapAuditApi(this IEndpointRouteBuilder app)
    {
        app.MapGroup("/api/v1/audit").WithTags("Audit").WithParleyErrors().RequireAuthorization(ParleyClaims.AdminPolicy)
            .MapGet("/", ListAsync).WithName("ListAuditEntries").WithSummary("Audit log: sign-ins and admin actions, newest first (admin)")
            .WithDescription("Filter by action (exact, e.g. auth.sign_in_failed) or actorId; page with before=nextBefore. limit is at most 500.");
        return app;
    }

    internal static async Task<Ok<AuditPage>> ListAsync(ParleyDbContext db, CancellationToken cancellationToken, int limit = 100, long? before = null, string? action = null, Guid? actorId = null)
    {
        limit = Math.Clamp(limit, 1, 500);
        var query = db.AuditEntries.AsNoTracking();
        if (before is { } b)
        {
            query = query.Where(e => e.Id < b);
        }

        if (!string.IsNullOrEmpty(action))
        {
            query = query.Where(e => e.Action == action);
        }

        if (actorId is { } actor)
        {
            query = query.Where(e => e.ActorId == actor);
        }

        var rows = await query.OrderByDescending(e => e.Id).Take(limit + 1).ToListAsync(cancellationToken);
        var items = rows.Take(limit).Select(e => new AuditEntryDto(e.Id, e.At, e.ActorId, e.ActorName, e.Action, e.TargetType, e.TargetId, e.IpAddress, e.DetailsJson)).ToList();
        return TypedResults.Ok(new AuditPage(items, rows.Count > limit ? items[^1].Id : null));
    }
}
