using System.Collections.Frozen;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Parley.Data;
using Parley.Server.Features.Widget;
using Parley.Server.Infrastructure;

namespace Parley.Server.Features.Access;

/// <summary>
/// Which web origins may use a site's widget: the transport half of the access rules. Every visitor-facing HTTP
/// endpoint (CORS), the visitor hub (WebSocket <c>Origin</c> check) and the widget pages (<c>frame-ancestors</c>) ask
/// this class, and nothing else decides it. Rules (docs/security.md "Transport"):
/// <list type="bullet">
/// <item>no <c>Origin</c> header (not a browser, or a same-origin GET) and Parley's own origin (the widget iframe, the
/// H5 page, the console) are always allowed;</item>
/// <item>a site with an empty list allows any origin (the documented default of the widget settings);</item>
/// <item>otherwise the origin must be one of the site's.</item>
/// </list>
/// The sites' lists are held in memory and re-read every <see cref="AccessOptions.ScopeCacheSeconds"/>, and at once on
/// this node when an admin changes them.
/// </summary>
public sealed class SiteOrigins(IServiceScopeFactory scopes, IOptions<AccessOptions> options, TimeProvider time) : IDisposable
{
    private readonly SemaphoreSlim _loading = new(1, 1);
    private volatile Snapshot? _snapshot;

    /// <summary>The allowed origins of one site; null for an unknown site.</summary>
    public async ValueTask<SiteOriginList?> ForSiteAsync(Guid siteId, CancellationToken cancellationToken = default) =>
        (await SnapshotAsync(cancellationToken)).ById.GetValueOrDefault(siteId);

    /// <summary>The allowed origins of the site with this widget key; null for an unknown key.</summary>
    public async ValueTask<SiteOriginList?> ForSiteKeyAsync(string siteKey, CancellationToken cancellationToken = default) =>
        (await SnapshotAsync(cancellationToken)).ByKey.GetValueOrDefault(siteKey);

    /// <summary>
    /// Whether any site lets this origin in: the answer to a CORS preflight, which carries neither the visitor token
    /// nor the body and so cannot name its site. The real request is then checked against its own site.
    /// </summary>
    public async ValueTask<bool> AnySiteAllowsAsync(string origin, CancellationToken cancellationToken = default)
    {
        var snapshot = await SnapshotAsync(cancellationToken);
        return snapshot.AnyOpen || snapshot.Union.Contains(origin);
    }

    public void Dispose() => _loading.Dispose();

    /// <summary>Drops the cached lists (after an admin changed a site's origins on this node).</summary>
    public void Invalidate() => _snapshot = null;

    /// <summary>Parley's own origin for this request (what the widget iframe and the console send).</summary>
    public static bool IsSelf(HttpRequest request, string origin) =>
        string.Equals(origin, $"{request.Scheme}://{request.Host.Value}", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// Checks the request's <c>Origin</c> against a site's list. A foreign origin that is allowed gets the CORS
    /// response headers; a refused one throws <c>origin_not_allowed</c> (403).
    /// </summary>
    public static void Require(HttpContext http, SiteOriginList? site)
    {
        var origin = http.Request.Headers.Origin.ToString();
        if (origin.Length == 0 || IsSelf(http.Request, origin))
        {
            return;
        }

        http.Response.Headers.Append("Vary", "Origin");
        if (site is null || !site.Allows(origin))
        {
            throw new ParleyException(ErrorCatalogue.OriginNotAllowed, $"The origin {Sanitize(origin)} may not use this site's widget (allowed origins: widget settings).");
        }

        http.Response.Headers.AccessControlAllowOrigin = origin;
    }

    private static string Sanitize(string origin) => origin.Length > 200 ? origin[..200] : origin;

    private async ValueTask<Snapshot> SnapshotAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        if (_snapshot is { } current && current.LoadedAt + TimeSpan.FromSeconds(options.Value.ScopeCacheSeconds) > now)
        {
            return current;
        }

        await _loading.WaitAsync(cancellationToken);
        try
        {
            if (_snapshot is { } loaded && loaded.LoadedAt + TimeSpan.FromSeconds(options.Value.ScopeCacheSeconds) > now)
            {
                return loaded;
            }

            await using var scope = scopes.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<ParleyDbContext>();
            var rows = await db.Sites.AsNoTracking().Select(s => new { s.Id, s.Key, s.AllowedOrigins }).ToListAsync(cancellationToken);
            var lists = rows.Select(r => (r.Id, r.Key, List: SiteOriginList.Parse(r.AllowedOrigins))).ToList();
            var snapshot = new Snapshot(
                now,
                lists.ToFrozenDictionary(l => l.Id, l => l.List),
                lists.ToFrozenDictionary(l => l.Key, l => l.List, StringComparer.Ordinal),
                lists.SelectMany(l => l.List.Origins).ToFrozenSet(StringComparer.OrdinalIgnoreCase),
                lists.Any(l => l.List.AllowsAny));
            _snapshot = snapshot;
            return snapshot;
        }
        finally
        {
            _loading.Release();
        }
    }

    private sealed record Snapshot(
        DateTimeOffset LoadedAt,
        FrozenDictionary<Guid, SiteOriginList> ById,
        FrozenDictionary<string, SiteOriginList> ByKey,
        FrozenSet<string> Union,
        bool AnyOpen);
}

/// <summary>One site's allowed origins (normalized <c>scheme://host[:port]</c>); empty allows any.</summary>
public sealed class SiteOriginList
{
    private readonly FrozenSet<string> _set;

    private SiteOriginList(IReadOnlyList<string> origins)
    {
        Origins = origins;
        _set = origins.ToFrozenSet(StringComparer.OrdinalIgnoreCase);
    }

    public IReadOnlyList<string> Origins { get; }

    public bool AllowsAny => Origins.Count == 0;

    public bool Allows(string origin) => AllowsAny || _set.Contains(origin);

    /// <summary>
    /// The stored space-separated list. Anything that is not a plain origin is dropped (the settings API already
    /// refuses those), so a value can never inject into a header such as the CSP.
    /// </summary>
    public static SiteOriginList Parse(string? stored) =>
        new([.. (stored ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(Normalize).OfType<string>().Distinct(StringComparer.OrdinalIgnoreCase)]);

    /// <summary><c>scheme://host[:port]</c> for an http(s) origin, else null.</summary>
    public static string? Normalize(string value) =>
        Uri.TryCreate(value, UriKind.Absolute, out var uri) && uri.Scheme is "https" or "http" && uri.GetLeftPart(UriPartial.Authority) == value.TrimEnd('/')
            ? uri.GetLeftPart(UriPartial.Authority)
            : null;

    /// <summary>The CSP <c>frame-ancestors</c> directive for the widget pages of this site; null when any may frame it.</summary>
    public string? FrameAncestors => AllowsAny ? null : $"frame-ancestors 'self' {string.Join(' ', Origins)}";

    internal static readonly SiteOriginList Unknown = new(["https://unknown.invalid"]);
}

/// <summary>
/// Enforces <see cref="SiteOrigins"/> for the visitor surface (<c>/api/v1/widget</c>, <c>/hubs/visitor</c>):
/// answers CORS preflights, refuses a request whose visitor token's site does not allow its <c>Origin</c> (403
/// <c>origin_not_allowed</c>, also before a WebSocket upgrade), and adds the CORS headers to allowed foreign requests.
/// The session endpoint, which names its site in the body, checks itself (<see cref="SiteOrigins.Require"/>).
/// </summary>
internal sealed class SiteOriginsMiddleware(RequestDelegate next, SiteOrigins origins, VisitorTokens tokens)
{
    private static readonly string[] AllowedRequestHeaders = ["authorization", "content-type", "x-requested-with", "x-signalr-user-agent"];

    public static bool IsVisitorSurface(PathString path) =>
        path.StartsWithSegments("/api/v1/widget") || path.StartsWithSegments("/hubs/visitor");

    /// <remarks>
    /// Not async on the way through: a visitor's hub connection lives for hours, and an awaited <c>next</c> would keep
    /// this middleware's state machine alive all that time. The site's origins are cached, so the check completes at once.
    /// </remarks>
    public Task InvokeAsync(HttpContext http)
    {
        var request = http.Request;
        var origin = request.Headers.Origin.ToString();
        if (!IsVisitorSurface(request.Path) || origin.Length == 0 || SiteOrigins.IsSelf(request, origin))
        {
            return next(http);
        }

        if (HttpMethods.IsOptions(request.Method) && request.Headers.ContainsKey("Access-Control-Request-Method"))
        {
            return PreflightAsync(http, origin);
        }

        if (VisitorSite(request) is not { } siteId)
        {
            return next(http);
        }

        var allowed = AllowedAsync(http, siteId);
        return allowed.IsCompletedSuccessfully
            ? (allowed.Result ? next(http) : Task.CompletedTask)
            : ThenNextAsync(allowed, http);
    }

    private async Task ThenNextAsync(Task<bool> allowed, HttpContext http)
    {
        if (await allowed)
        {
            await next(http);
        }
    }

    /// <summary>Whether the request's origin may reach the site; false once the refusal has been written.</summary>
    private async Task<bool> AllowedAsync(HttpContext http, Guid siteId)
    {
        try
        {
            SiteOrigins.Require(http, await origins.ForSiteAsync(siteId, http.RequestAborted) ?? SiteOriginList.Unknown);
            return true;
        }
        catch (ParleyException ex)
        {
            await Problems.From(ex).ExecuteAsync(http);
            return false;
        }
    }

    private async Task PreflightAsync(HttpContext http, string origin)
    {
        var response = http.Response;
        response.Headers.Append("Vary", "Origin");
        if (await origins.AnySiteAllowsAsync(origin, http.RequestAborted))
        {
            var asked = http.Request.Headers.AccessControlRequestHeaders.ToString()
                .Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
            response.Headers.AccessControlAllowOrigin = origin;
            response.Headers.AccessControlAllowMethods = "GET, POST";
            response.Headers.AccessControlAllowHeaders = string.Join(", ", asked.Where(h => AllowedRequestHeaders.Contains(h, StringComparer.OrdinalIgnoreCase)));
            response.Headers.AccessControlMaxAge = "600";
        }

        response.StatusCode = StatusCodes.Status204NoContent;
    }

    private Guid? VisitorSite(HttpRequest request)
    {
        string? token = request.Query["access_token"];
        if (string.IsNullOrEmpty(token))
        {
            var header = request.Headers.Authorization.ToString();
            token = header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? header["Bearer ".Length..].Trim() : null;
        }

        return tokens.Validate(token)?.SiteId;
    }
}
