using Microsoft.Net.Http.Headers;

namespace Parley.Server.Features.Web;

/// <summary>Serves the built front ends (widget loader, widget app, console) with the right caching and framing rules.</summary>
public static class WebAssets
{
    public static WebApplication UseParleyWebAssets(this WebApplication app)
    {
        app.Use(async (context, next) =>
        {
            var headers = context.Response.Headers;
            headers.XContentTypeOptions = "nosniff";
            headers["Referrer-Policy"] = "strict-origin-when-cross-origin";
            var path = context.Request.Path;
            if (path.StartsWithSegments("/console") || path == "/")
            {
                // The console is never framed and runs only its own scripts.
                headers.XFrameOptions = "DENY";
                headers.ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";
            }
            else if (path.StartsWithSegments("/widget") || path.StartsWithSegments("/chat"))
            {
                // The widget is framed by customer sites (per-site allow-lists tighten frame-ancestors later).
                headers.ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self' ws: wss:; base-uri 'none'";
            }

            await next(context);
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
}
