using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.WebSockets;
using Microsoft.AspNetCore.SignalR.Client;
using Parley.Server.Features.Widget;
using Parley.Server.Messaging;
using Parley.Tests.Infrastructure;
using Parley.Tests.Widget;

namespace Parley.Tests.Security;

/// <summary>
/// Allowed widget origins per site, over real loopback HTTP and WebSockets: CORS on the visitor endpoints, the
/// visitor hub's Origin check, <c>frame-ancestors</c> on the widget pages, and HSTS behind TLS.
/// </summary>
public sealed class TransportOriginsTests
{
    private const string Shop = "https://shop.example";
    private const string Evil = "https://evil.example";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task VisitorEndpoints_AnswerCorsOnlyForTheSitesOrigins()
    {
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage);
        await WidgetTestKit.PutSettingsAsync(server, WidgetSettings.Default, Shop);
        using var http = server.CreateHttpClient();

        // The session endpoint names its site in the body.
        using (var allowed = await SessionAsync(http, Shop))
        {
            Assert.Equal(HttpStatusCode.OK, allowed.StatusCode);
            Assert.Equal(Shop, AllowOrigin(allowed));
            Assert.Contains("Origin", allowed.Headers.Vary);
        }

        using (var refused = await SessionAsync(http, Evil))
        {
            Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
            Assert.Equal("origin_not_allowed", await WidgetTestKit.ProblemCodeAsync(refused));
            Assert.Null(AllowOrigin(refused));
        }

        // Not a browser (no Origin) and Parley's own origin (the widget iframe, the H5 page) always pass.
        using (var noOrigin = await SessionAsync(http, null))
        {
            Assert.Equal(HttpStatusCode.OK, noOrigin.StatusCode);
        }

        using (var self = await SessionAsync(http, server.BaseAddress.GetLeftPart(UriPartial.Authority)))
        {
            Assert.Equal(HttpStatusCode.OK, self.StatusCode);
            Assert.Null(AllowOrigin(self));
        }

        // Preflights carry no token and no body: they are answered for origins some site allows.
        using (var preflight = await PreflightAsync(http, "/api/v1/widget/session", Shop))
        {
            Assert.Equal(HttpStatusCode.NoContent, preflight.StatusCode);
            Assert.Equal(Shop, AllowOrigin(preflight));
            Assert.Equal("content-type, authorization", string.Join(", ", preflight.Headers.GetValues("Access-Control-Allow-Headers")));
        }

        using (var preflight = await PreflightAsync(http, "/api/v1/widget/session", Evil))
        {
            Assert.Null(AllowOrigin(preflight));
        }

        // Endpoints that take the visitor token are checked against the token's site.
        var session = await VisitorClient.CreateSessionAsync(server);
        using var visitor = WidgetTestKit.VisitorHttp(server, session.VisitorToken);
        using (var page = await PostPageAsync(visitor, Shop))
        {
            Assert.Equal(HttpStatusCode.NoContent, page.StatusCode);
            Assert.Equal(Shop, AllowOrigin(page));
        }

        using (var page = await PostPageAsync(visitor, Evil))
        {
            Assert.Equal(HttpStatusCode.Forbidden, page.StatusCode);
            Assert.Equal("origin_not_allowed", await WidgetTestKit.ProblemCodeAsync(page));
        }
    }

    [Fact]
    public async Task ASiteWithoutOrigins_AllowsAnyOrigin_AndAChangeAppliesAtOnce()
    {
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage);
        using var http = server.CreateHttpClient();

        using (var any = await SessionAsync(http, Evil))
        {
            Assert.Equal(HttpStatusCode.OK, any.StatusCode);
            Assert.Equal(Evil, AllowOrigin(any));
        }

        await WidgetTestKit.PutSettingsAsync(server, WidgetSettings.Default, Shop);
        using (var now = await SessionAsync(http, Evil))
        {
            Assert.Equal(HttpStatusCode.Forbidden, now.StatusCode);
        }

        await WidgetTestKit.PutSettingsAsync(server, WidgetSettings.Default);
        using (var again = await SessionAsync(http, Evil))
        {
            Assert.Equal(HttpStatusCode.OK, again.StatusCode);
        }
    }

    [Fact]
    public async Task VisitorHub_RefusesAConnectFromAForeignOrigin_BeforeTheUpgrade()
    {
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage);
        await WidgetTestKit.PutSettingsAsync(server, WidgetSettings.Default, Shop);
        var session = await VisitorClient.CreateSessionAsync(server);
        using var http = server.CreateHttpClient();

        // Negotiate (token as Bearer): a readable problem.
        using (var negotiate = new HttpRequestMessage(HttpMethod.Post, "/hubs/visitor/negotiate?negotiateVersion=1"))
        {
            negotiate.Headers.Authorization = new AuthenticationHeaderValue("Bearer", session.VisitorToken);
            negotiate.Headers.Add("Origin", Evil);
            using var response = await http.SendAsync(negotiate, Ct);
            Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
            Assert.Equal("origin_not_allowed", await WidgetTestKit.ProblemCodeAsync(response));
        }

        // The WebSocket upgrade itself (token in the query, as browsers send it) is refused with 403.
        var wsUri = new UriBuilder(server.BaseAddress) { Scheme = "ws", Path = "/hubs/visitor", Query = $"access_token={Uri.EscapeDataString(session.VisitorToken)}" }.Uri;
        using (var socket = new ClientWebSocket())
        {
            socket.Options.SetRequestHeader("Origin", Evil);
            socket.Options.CollectHttpResponseDetails = true;
            await Assert.ThrowsAsync<WebSocketException>(() => socket.ConnectAsync(wsUri, Ct));
            Assert.Equal(HttpStatusCode.Forbidden, socket.HttpStatusCode);
        }

        // An allowed origin gets a working hub; so does a refused one's twin without an Origin (not a browser).
        await using (var allowed = Hub(server, session.VisitorToken, Shop))
        {
            await allowed.StartAsync(Ct);
            var conversation = await allowed.InvokeAsync<ConversationInfo>("StartConversation", Ct);
            Assert.NotEqual(Guid.Empty, conversation.Id);
        }

        await using (var refused = Hub(server, session.VisitorToken, Evil))
        {
            await Assert.ThrowsAnyAsync<Exception>(() => refused.StartAsync(Ct));
            Assert.Equal(HubConnectionState.Disconnected, refused.State);
        }

        await using (var native = Hub(server, session.VisitorToken, null))
        {
            await native.StartAsync(Ct);
        }
    }

    [Fact]
    public async Task AgentHub_RefusesACookieConnectFromAnotherOrigin_OnNegotiateAndUpgrade()
    {
        const string Www = "https://www.example.test";
        const string Listed = "https://console.example.test";
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage, new Dictionary<string, string?> { ["Parley:Transport:ConsoleOrigins:0"] = Listed });
        var (session, cookies) = await AgentClient.SignInAsync(server);
        session.Dispose();

        // Negotiate with the console's cookie from a page of another origin of the same site: refused, readable.
        using var http = new HttpClient(new HttpClientHandler { CookieContainer = cookies }) { BaseAddress = server.BaseAddress };
        async Task<HttpResponseMessage> NegotiateAsync(string origin)
        {
            using var negotiate = new HttpRequestMessage(HttpMethod.Post, "/hubs/agent/negotiate?negotiateVersion=1");
            negotiate.Headers.Add("Origin", origin);
            return await http.SendAsync(negotiate, Ct);
        }

        using (var refused = await NegotiateAsync(Www))
        {
            Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
            Assert.Equal("origin_not_allowed", await WidgetTestKit.ProblemCodeAsync(refused));
        }

        using (var own = await NegotiateAsync(server.BaseAddress.GetLeftPart(UriPartial.Authority)))
        {
            Assert.Equal(HttpStatusCode.OK, own.StatusCode);
        }

        using (var listed = await NegotiateAsync(Listed))
        {
            Assert.Equal(HttpStatusCode.OK, listed.StatusCode);
        }

        // The WebSocket upgrade itself, as `new WebSocket('wss://chat.../hubs/agent')` on www would send it.
        var wsUri = new UriBuilder(server.BaseAddress) { Scheme = "ws", Path = "/hubs/agent" }.Uri;
        using (var socket = new ClientWebSocket())
        {
            socket.Options.Cookies = cookies;
            socket.Options.SetRequestHeader("Origin", Www);
            socket.Options.CollectHttpResponseDetails = true;
            await Assert.ThrowsAsync<WebSocketException>(() => socket.ConnectAsync(wsUri, Ct));
            Assert.Equal(HttpStatusCode.Forbidden, socket.HttpStatusCode);
        }

        await using (var hijack = HubFactory.Build(server.BaseAddress, "/hubs/agent", messagePack: false, o => { o.Cookies = cookies; o.Headers["Origin"] = Www; }))
        {
            await Assert.ThrowsAnyAsync<Exception>(() => hijack.StartAsync(Ct));
        }

        // The console itself (own origin) and a non-browser client (no Origin) connect.
        await using (var console = HubFactory.Build(server.BaseAddress, "/hubs/agent", messagePack: false, o => { o.Cookies = cookies; o.Headers["Origin"] = server.BaseAddress.GetLeftPart(UriPartial.Authority); }))
        {
            await console.StartAsync(Ct);
            await console.InvokeAsync("SetStatus", "away", Ct);
        }
    }

    [Fact]
    public async Task WidgetPages_MayBeFramedOnlyByTheSitesOrigins_AndTheConsoleByNoOne()
    {
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage);
        using var http = server.CreateHttpClient();

        // Default (no list): any site may frame the widget.
        Assert.DoesNotContain("frame-ancestors", await CspAsync(http, $"/widget/?site={ParleyServer.SiteKey}&embed=1"));

        await WidgetTestKit.PutSettingsAsync(server, WidgetSettings.Default, Shop, "http://localhost:8080");
        var expected = $"frame-ancestors 'self' {Shop} http://localhost:8080";
        Assert.EndsWith(expected, await CspAsync(http, $"/widget/?site={ParleyServer.SiteKey}&embed=1"));
        Assert.EndsWith(expected, await CspAsync(http, $"/chat/{ParleyServer.SiteKey}"));
        Assert.EndsWith("frame-ancestors 'none'", await CspAsync(http, "/widget/?site=no-such-site"));

        var console = await CspAsync(http, "/console/");
        Assert.Contains("frame-ancestors 'none'", console);
        Assert.DoesNotContain("unsafe-inline", console);
    }

    [Fact]
    public async Task Hsts_IsSentOnHttpsBehindAConfiguredProxy_NotOnPlainHttp()
    {
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage, new Dictionary<string, string?> { ["Parley:Network:KnownProxies:0"] = "127.0.0.1" });
        using var http = server.CreateHttpClient();

        async Task<string?> HstsAsync(string? proto)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/health/live");
            request.Headers.Host = "chat.example.test";
            if (proto is not null)
            {
                request.Headers.Add("X-Forwarded-Proto", proto);
            }

            using var response = await http.SendAsync(request, Ct);
            return response.Headers.TryGetValues("Strict-Transport-Security", out var values) ? values.Single() : null;
        }

        Assert.Equal("max-age=31536000", await HstsAsync("https"));
        Assert.Null(await HstsAsync(null));
        Assert.Null(await HstsAsync("http"));
    }

    private static HubConnection Hub(ParleyServer server, string token, string? origin) =>
        HubFactory.Build(server.BaseAddress, "/hubs/visitor", messagePack: false, o =>
        {
            o.AccessTokenProvider = () => Task.FromResult<string?>(token);
            if (origin is not null)
            {
                o.Headers["Origin"] = origin;
            }
        });

    private static Task<HttpResponseMessage> SessionAsync(HttpClient http, string? origin)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/widget/session") { Content = JsonContent.Create(new { siteKey = ParleyServer.SiteKey }) };
        if (origin is not null)
        {
            request.Headers.Add("Origin", origin);
        }

        return http.SendAsync(request, Ct);
    }

    private static Task<HttpResponseMessage> PostPageAsync(HttpClient visitor, string origin)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/widget/page") { Content = JsonContent.Create(new { url = "https://shop.example/cart", title = "Cart" }) };
        request.Headers.Add("Origin", origin);
        return visitor.SendAsync(request, Ct);
    }

    private static Task<HttpResponseMessage> PreflightAsync(HttpClient http, string path, string origin)
    {
        var request = new HttpRequestMessage(HttpMethod.Options, path);
        request.Headers.Add("Origin", origin);
        request.Headers.Add("Access-Control-Request-Method", "POST");
        request.Headers.Add("Access-Control-Request-Headers", "content-type, authorization, x-evil");
        return http.SendAsync(request, Ct);
    }

    private static string? AllowOrigin(HttpResponseMessage response) =>
        response.Headers.TryGetValues("Access-Control-Allow-Origin", out var values) ? values.Single() : null;

    private static async Task<string> CspAsync(HttpClient http, string path)
    {
        using var response = await http.GetAsync(path, Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return response.Headers.GetValues("Content-Security-Policy").Single();
    }
}
