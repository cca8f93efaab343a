using Microsoft.Extensions.Options;
using Parley.Server.Features.Auth;
using Parley.Server.Infrastructure;

namespace Parley.Server.Features.Access;

/// <summary>
/// Cross-site WebSocket hijacking defence for the agent hub. A browser attaches the console's SameSite=Strict cookie
/// to a connection opened by any page of the same <em>site</em> (www.example.com next to chat.example.com), and
/// neither WebSockets nor SignalR's negotiate are covered by CORS or the anti-forgery header. So a browser request to
/// <c>/hubs/agent</c> (negotiate, long polling and the WebSocket upgrade) that carries an <c>Origin</c> must come from
/// Parley's own origin or one listed in <see cref="TransportOptions.ConsoleOrigins"/>; anything else is answered
/// <c>403 origin_not_allowed</c> before authentication runs. Requests that authenticate with an API token in the
/// <c>Authorization</c> header are not checked: a browser never attaches that header on its own.
/// </summary>
internal sealed class ConsoleOriginsMiddleware(RequestDelegate next, IOptions<TransportOptions> options)
{
    /// <remarks>Not async: a request let through returns next's task, so a WebSocket keeps no state machine of this.</remarks>
    public Task InvokeAsync(HttpContext http)
    {
        var request = http.Request;
        var origin = request.Headers.Origin.ToString();
        if (request.Path.StartsWithSegments("/hubs/agent")
            && origin.Length > 0
            && !request.Headers.Authorization.ToString().StartsWith("Bearer " + ApiTokens.Prefix, StringComparison.Ordinal)
            && !Allowed(request, origin))
        {
            return Problems.Create(ErrorCatalogue.OriginNotAllowed, "This origin may not connect to the agent hub (Parley:Transport:ConsoleOrigins).").ExecuteAsync(http);
        }

        return next(http);
    }

    private bool Allowed(HttpRequest request, string origin)
    {
        if (SiteOrigins.IsSelf(request, origin) || options.Value.ConsoleOrigins.Any(o => string.Equals(SiteOriginList.Normalize(o), origin, StringComparison.OrdinalIgnoreCase)))
        {
            return true;
        }

        // Behind a TLS-terminating proxy that is not listed in KnownProxies the request's scheme is http while the
        // console's origin is https: the same host (and port) is still Parley's own console.
        return Uri.TryCreate(origin, UriKind.Absolute, out var uri)
            && uri.Scheme is "https" or "http"
            && string.Equals(uri.IsDefaultPort ? uri.Host : uri.Authority, request.Host.Value, StringComparison.OrdinalIgnoreCase);
    }
}
