using System.Net;
using System.Net.Http.Json;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Security;

/// <summary>Rate limits key on the real client IP; X-Forwarded-For counts only from configured proxies (Chatwoot PR 13942).</summary>
public sealed class ForwardedHeadersTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task SpoofedForwardedFor_DoesNotBypassTheAnonymousRateLimit()
    {
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage, new Dictionary<string, string?> { ["Parley:Widget:SessionsPerMinutePerIp"] = "3" });
        using var http = server.CreateHttpClient();

        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 5; i++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/widget/session") { Content = JsonContent.Create(new { siteKey = ParleyServer.SiteKey }) };
            request.Headers.Add("X-Forwarded-For", $"203.0.113.{i + 1}");
            statuses.Add((await http.SendAsync(request, Ct)).StatusCode);
        }

        Assert.Equal([HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.TooManyRequests, HttpStatusCode.TooManyRequests], statuses);
    }

    [Fact]
    public async Task BehindAConfiguredProxy_TheForwardedClientIpIsTheKey()
    {
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage, new Dictionary<string, string?>
        {
            ["Parley:Widget:SessionsPerMinutePerIp"] = "2",
            ["Parley:Network:KnownProxies:0"] = "127.0.0.1",
        });
        using var http = server.CreateHttpClient();

        async Task<HttpStatusCode> FromAsync(string client)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/widget/session") { Content = JsonContent.Create(new { siteKey = ParleyServer.SiteKey }) };
            request.Headers.Add("X-Forwarded-For", client);
            return (await http.SendAsync(request, Ct)).StatusCode;
        }

        Assert.Equal(HttpStatusCode.OK, await FromAsync("198.51.100.7"));
        Assert.Equal(HttpStatusCode.OK, await FromAsync("198.51.100.7"));
        Assert.Equal(HttpStatusCode.TooManyRequests, await FromAsync("198.51.100.7"));

        // Another real client behind the same proxy has its own budget; a client cannot prepend a fake hop to reset
        // its own (the proxy appends the address it saw, and only the last, proxy-written hop is trusted).
        Assert.Equal(HttpStatusCode.OK, await FromAsync("198.51.100.8"));
        Assert.Equal(HttpStatusCode.TooManyRequests, await FromAsync("10.9.9.9, 198.51.100.7"));
    }
}
