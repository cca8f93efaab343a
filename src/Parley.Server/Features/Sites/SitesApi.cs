using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using Parley.Data;
using Parley.Server.Infrastructure;

namespace Parley.Server.Features.Sites;

public sealed record SiteDto(Guid Id, string Key, string Name, DateTime CreatedAt);

public static class SitesApi
{
    public static IEndpointRouteBuilder MapSitesApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/v1/sites").WithTags("Sites").RequireAuthorization(ParleyClaims.AgentPolicy).WithParleyErrors();
        api.MapGet("/", ListAsync).WithName("ListSites").WithSummary("Sites and their widget keys");
        return app;
    }

    internal static async Task<Ok<List<SiteDto>>> ListAsync(ParleyDbContext db, CancellationToken cancellationToken) =>
        TypedResults.Ok(await db.Sites.AsNoTracking().OrderBy(s => s.CreatedAt)
            .Select(s => new SiteDto(s.Id, s.Key, s.Name, s.CreatedAt)).ToListAsync(cancellationToken));
}
