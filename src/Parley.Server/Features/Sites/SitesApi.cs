using System.Security.Claims;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using Parley.Data;
using Parley.Server.Features.Access;
using Parley.Server.Features.Auth;
using Parley.Server.Infrastructure;

namespace Parley.Server.Features.Sites;

public sealed record SiteDto(Guid Id, string Key, string Name, DateTime CreatedAt);

/// <param name="Key">The public widget key (<c>data-site</c>); omit for a random one. 3–64 of a–z, 0–9, '-' and '_'.</param>
public sealed record CreateSiteRequest(string? Name, string? Key);

public sealed record UpdateSiteRequest(string? Name);

/// <summary>The site's identity-verification secret: the HMAC-SHA256 key a site's back end signs user ids with (setUser).</summary>
public sealed record SiteSecretDto(Guid SiteId, string Secret);

public static partial class SitesApi
{
    public static IEndpointRouteBuilder MapSitesApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/v1/sites").WithTags("Sites").RequireAuthorization(ParleyClaims.AgentPolicy).WithParleyErrors();
        api.MapGet("/", ListAsync).WithName("ListSites").WithSummary("Sites and their widget keys");
        api.MapGet("/{id:guid}", GetAsync).WithName("GetSite").WithSummary("One site");
        api.MapPost("/", CreateAsync).WithName("CreateSite").WithIdempotencyKey().RequireAuthorization(ParleyClaims.AdminPolicy)
            .WithSummary("Create a site (admin)")
            .WithDescription("Each site has its own widget key, widget settings, allowed origins and identity secret. 409 site_key_taken when the key is in use.");
        api.MapPatch("/{id:guid}", UpdateAsync).WithName("UpdateSite").RequireAuthorization(ParleyClaims.AdminPolicy)
            .WithSummary("Rename a site (admin)")
            .WithDescription("The widget key never changes: pages already carry it. Widget look, forms and allowed origins are under /widget-settings.");
        api.MapGet("/{id:guid}/identity-secret", GetSecretAsync).WithName("GetSiteIdentitySecret").RequireAuthorization(ParleyClaims.AdminPolicy)
            .WithSummary("The site's identity-verification secret (admin; audited)")
            .WithDescription("Your back end signs a signed-in user's id with it: hash = hex(HMAC-SHA256(key = secret, message = user id)), passed to Parley.setUser. Never put it in a page.");
        api.MapPost("/{id:guid}/identity-secret/rotate", RotateSecretAsync).WithName("RotateSiteIdentitySecret").RequireAuthorization(ParleyClaims.AdminPolicy)
            .WithSummary("Replace the identity-verification secret (admin; audited)")
            .WithDescription("Hashes made with the old secret are refused (identity_invalid) from this moment: update your back end with the new secret right after rotating.");
        return app;
    }

    internal static async Task<Ok<List<SiteDto>>> ListAsync(ParleyDbContext db, CancellationToken cancellationToken) =>
        TypedResults.Ok(await db.Sites.AsNoTracking().OrderBy(s => s.CreatedAt)
            .Select(s => new SiteDto(s.Id, s.Key, s.Name, s.CreatedAt)).ToListAsync(cancellationToken));

    internal static async Task<Ok<SiteDto>> GetAsync(Guid id, ParleyDbContext db, CancellationToken cancellationToken) =>
        TypedResults.Ok(ToDto(await FindAsync(db.Sites.AsNoTracking(), id, cancellationToken)));

    internal static async Task<Created<SiteDto>> CreateAsync(
        CreateSiteRequest request, ParleyDbContext db, SiteOrigins origins, AuditLog audit, TimeProvider time, ClaimsPrincipal user, CancellationToken cancellationToken)
    {
        var name = ValidName(request.Name);
        var key = request.Key is null ? Bootstrapper.RandomKey(12) : request.Key.Trim();
        if (!KeyPattern().IsMatch(key))
        {
            throw new ParleyException(ErrorCatalogue.InvalidSiteKey, "key is 3 to 64 characters of a-z, 0-9, '-' and '_'.");
        }

        if (await db.Sites.AnyAsync(s => s.Key == key, cancellationToken))
        {
            throw KeyTaken();
        }

        var site = new Site { Id = Guid.CreateVersion7(), Key = key, Name = name, Secret = Bootstrapper.RandomKey(32), CreatedAt = time.GetUtcNow().UtcDateTime };
        db.Sites.Add(site);
        try
        {
            await db.SaveChangesAsync(cancellationToken);
        }
        catch (DbUpdateException)
        {
            // The unique index on the key: another request took it between the check and the insert.
            throw KeyTaken();
        }

        origins.Invalidate();
        await audit.RecordAsync(user, "site.created", "site", site.Id.ToString(), AuditLog.Change(null, new { site.Key, site.Name }), cancellationToken);
        return TypedResults.Created($"/api/v1/sites/{site.Id}", ToDto(site));
    }

    internal static async Task<Ok<SiteDto>> UpdateAsync(Guid id, UpdateSiteRequest request, ParleyDbContext db, AuditLog audit, ClaimsPrincipal user, CancellationToken cancellationToken)
    {
        var site = await FindAsync(db.Sites, id, cancellationToken);
        var before = new { site.Name };
        site.Name = ValidName(request.Name);
        await db.SaveChangesAsync(cancellationToken);
        await audit.RecordAsync(user, "site.updated", "site", site.Id.ToString(), AuditLog.Change(before, new { site.Name }), cancellationToken);
        return TypedResults.Ok(ToDto(site));
    }

    internal static async Task<Ok<SiteSecretDto>> GetSecretAsync(Guid id, ParleyDbContext db, AuditLog audit, ClaimsPrincipal user, CancellationToken cancellationToken)
    {
        var site = await FindAsync(db.Sites.AsNoTracking(), id, cancellationToken);
        await audit.RecordAsync(user, "site.secret_viewed", "site", site.Id.ToString(), cancellationToken: cancellationToken);
        return TypedResults.Ok(new SiteSecretDto(site.Id, site.Secret));
    }

    internal static async Task<Ok<SiteSecretDto>> RotateSecretAsync(Guid id, ParleyDbContext db, AuditLog audit, ClaimsPrincipal user, CancellationToken cancellationToken)
    {
        var site = await FindAsync(db.Sites, id, cancellationToken);
        site.Secret = Bootstrapper.RandomKey(32);
        await db.SaveChangesAsync(cancellationToken);
        await audit.RecordAsync(user, "site.secret_rotated", "site", site.Id.ToString(), cancellationToken: cancellationToken);
        return TypedResults.Ok(new SiteSecretDto(site.Id, site.Secret));
    }

    private static async Task<Site> FindAsync(IQueryable<Site> sites, Guid id, CancellationToken cancellationToken) =>
        await sites.FirstOrDefaultAsync(s => s.Id == id, cancellationToken) ?? throw new ParleyException(ErrorCatalogue.SiteNotFound);

    private static string ValidName(string? name) =>
        name?.Trim() is { Length: > 0 and <= 200 } trimmed
            ? trimmed
            : throw new ParleyException(ErrorCatalogue.InvalidSiteName, "name is 1 to 200 characters.");

    private static ParleyException KeyTaken() => new(ErrorCatalogue.SiteKeyTaken);

    private static SiteDto ToDto(Site s) => new(s.Id, s.Key, s.Name, s.CreatedAt);

    [GeneratedRegex("^[a-z0-9_-]{3,64}$")]
    private static partial Regex KeyPattern();
}
