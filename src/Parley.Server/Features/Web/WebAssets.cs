using Microsoft.Net.Http.Headers;
using Parley.Server.Features.Access;

namespace Parley.Server.Features.Web;

/// <summary>Serves the built front ends (widget loader, widget app, console) with the right caching and framing rules.</summary>
public static class WebAssets
{
    public static WebApplication UseParleyWebAssets(this WebApplication app)
    {
        // Not async on the way through: a hub's WebSocket request passes here and lives for hours; an awaited next
        // would keep this middleware's state machine for all that time.
        app.Use((context, next) =>
        {
            var headers = context.Response.Headers;
            headers.XContentTypeOptions = "nosniff";
            headers["Referrer-Policy"] = "strict-origin-when-cross-origin";
            var path = context.Request.Path;
            if (path.StartsWithSegments("/console") || path == "/")
            {
                // The console is never framed and runs only its own scripts. connect-src 'self' covers the hub's
                // WebSocket to this origin (CSP3); "ws: wss:" would let an injected script reach any host.
                headers.XFrameOptions = "DENY";
                headers.ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";
            }
            else if (path.StartsWithSegments("/widget") || path.StartsWithSegments("/chat"))
            {
                path.StartsWithSegments("/chat", out var rest);
                // The widget is framed by customer sites: only by the site's allowed origins when it lists any.
                var csp = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self'; base-uri 'none'";
                if (WidgetSiteKey(context.Request, rest) is { } siteKey)
                {
                    return FramedWidgetAsync(context, next, siteKey, csp);
                }

                headers.ContentSecurityPolicy = csp;
            }

            return next(context);
        });

        app.UseStaticFiles(new StaticFileOptions
        {
            OnPrepareResponse = ctx =>
            {
                // Vite puts a content hash in every file under assets/: those never change.
                var immutable = ctx.Context.Request.Path.Value?.Contains("/assets/", StringComparison.Ordinal) == true;
                ctx.Context.Response.Headers[HeaderNames.CacheControl] = immutable ? "public, max-age=31536000, immutable" : "no-cache";
            },
        });

        app.MapGet("/", () => Results.Redirect("/console/")).ExcludeFromDescription();
        app.MapFallbackToFile("/widget/{*path:nonfile}", "widget/index.html");
        app.MapFallbackToFile("/console/{*path:nonfile}", "console/index.html");
        return app;
    }

    /// <summary>The site a widget page is for: <c>/widget/?site=KEY</c> (iframe) or <c>/chat/KEY</c> (H5 page).</summary>
    private static async Task FramedWidgetAsync(HttpContext context, RequestDelegate next, string siteKey, string csp)
    {
        var site = await context.RequestServices.GetRequiredService<SiteOrigins>().ForSiteKeyAsync(siteKey, context.RequestAborted);
        var ancestors = site is null ? "frame-ancestors 'none'" : site.FrameAncestors;
        context.Response.Headers.ContentSecurityPolicy = ancestors is null ? csp : $"{csp}; {ancestors}";

        // The page's framing rule follows the site's settings: a cached copy (revalidated by the file's ETag alone)
        // would keep yesterday's frame-ancestors.
        context.Response.OnStarting(() =>
        {
            context.Response.Headers.CacheControl = "no-store";
            return Task.CompletedTask;
        });
        await next(context);
    }

    private static string? WidgetSiteKey(HttpRequest request, PathString chatRest)
    {
        if (chatRest.HasValue)
        {
            var key = chatRest.Value!.TrimStart('/').Split('/')[0];
            return key.Length > 0 ? Uri.UnescapeDataString(key) : null;
        }

        var site = request.Query["site"].ToString();
        return site.Length > 0 ? site : null;
    }
}
