using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.Extensions.Options;
using Parley.Server.Features.Widget;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Widget;

/// <summary>
/// Visitor location from the client IP (#4). Test clients connect from loopback, so the server trusts 127.0.0.1
/// as a proxy and each request names its client in X-Forwarded-For, as a reverse proxy would.
/// </summary>
public sealed class GeoIpServerTests
{
    private const string London = "81.2.69.142";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static readonly VisitorPage Page = new("https://shop.example/cart", "Cart", null, "en-GB", null);

    [Theory]
    [BothStores]
    public async Task VisitorFromAMappedIp_AgentSeesCityCountryAndTimeZone_AndPageChangesCarryTheLocation(Store store)
    {
        await using var storage = await TestStorage.CreateAsync(store);
        await using var server = await StartWithGeoIpAsync(storage);
        await using var agent = await AgentClient.ConnectAsync(server);

        var (conversationId, token) = await StartChatFromAsync(server, London);

        var location = (await PageSeenByAsync(agent, conversationId))?.Location;
        Assert.NotNull(location);
        Assert.Equal("GB", location.CountryCode);
        Assert.Equal("United Kingdom", location.Country!["en"]);
        Assert.Equal("英国", location.Country["zh-CN"]);
        Assert.Equal("England", location.Region!["en"]);
        Assert.Equal("London", location.City!["en"]);
        Assert.Equal("伦敦", location.City["zh-CN"]);
        Assert.Equal("Europe/London", location.TimeZone);

        // The visitor moves networks (mobile): the next page carries the new location to the agents watching.
        var pages = new Inbox<JsonElement>();
        agent.Hub.On<JsonElement>("visitorPage", pages.Add);
        await agent.JoinAsync(conversationId);
        using var visitorHttp = WidgetTestKit.VisitorHttp(server, token);
        (await PostPageFromAsync(visitorHttp, "2001:db8:1::5", new { url = "https://shop.example/checkout" })).EnsureSuccessStatusCode();
        var pushed = await pages.WaitUntilAsync(p => p.Any(x => x.GetProperty("page").GetProperty("url").GetString() == "https://shop.example/checkout"));
        var pushedLocation = pushed[^1].GetProperty("page").GetProperty("location");
        Assert.Equal("CN", pushedLocation.GetProperty("countryCode").GetString());
        Assert.Equal("上海", pushedLocation.GetProperty("city").GetProperty("zh-CN").GetString());
        Assert.Equal("Asia/Shanghai", pushedLocation.GetProperty("timeZone").GetString());
    }

    [Fact]
    public async Task UnmappedAndPrivateAddresses_HaveNoLocation_AndAForgedOneIsIgnored()
    {
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await StartWithGeoIpAsync(storage);
        await using var agent = await AgentClient.ConnectAsync(server);

        foreach (var client in new[] { "198.51.100.7", "10.1.2.3", "192.168.0.20" })
        {
            var (conversationId, _) = await StartChatFromAsync(server, client);
            var page = await PageSeenByAsync(agent, conversationId);
            Assert.Equal("https://shop.example/cart", page!.Url);
            Assert.Null(page.Location);
        }

        // The location is the server's finding: whatever a visitor claims is replaced (here: nothing is known).
        var (chat, token) = await StartChatFromAsync(server, London);
        using var visitorHttp = WidgetTestKit.VisitorHttp(server, token);
        var forged = new { url = "https://shop.example/", location = new { countryCode = "US", city = new Dictionary<string, string> { ["en"] = "Washington" } } };
        (await PostPageFromAsync(visitorHttp, "10.9.9.9", forged)).EnsureSuccessStatusCode();
        var after = await PageSeenByAsync(agent, chat);
        Assert.Equal("https://shop.example/", after!.Url);
        Assert.Null(after.Location);
    }

    [Fact]
    public async Task WithoutADatabase_PagesHaveNoLocation()
    {
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage, new Dictionary<string, string?> { ["Parley:Network:KnownProxies:0"] = "127.0.0.1" });
        await using var agent = await AgentClient.ConnectAsync(server);
        var (conversationId, _) = await StartChatFromAsync(server, London);

        var page = await PageSeenByAsync(agent, conversationId);
        Assert.Equal("https://shop.example/cart", page!.Url);
        Assert.Null(page.Location);
    }

    [Fact]
    public async Task AConfiguredDatabaseThatIsMissing_StopsTheServerAtStart_WithTheSettingAndPathInTheError()
    {
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        var missing = Path.Combine(storage.DataDirectory, "GeoLite2-City.mmdb");

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() =>
            ParleyServer.StartAsync(storage, new Dictionary<string, string?> { ["Parley:GeoIp:DatabasePath"] = missing }));

        Assert.Contains("Parley:GeoIp:DatabasePath", error.Message);
        Assert.Contains($"'{missing}' does not exist", error.Message);
    }

    /// <summary>A server with a City database (London, Shanghai) that trusts loopback as its reverse proxy.</summary>
    internal static async Task<ParleyServer> StartWithGeoIpAsync(TestStorage storage)
    {
        var path = Path.Combine(storage.DataDirectory, "GeoLite2-City.mmdb");
        new MmdbWriter("GeoLite2-City")
            .Add("81.2.69.0/24", MmdbWriter.CityRecord("GB", "United Kingdom", "英国", "ENG", "England", "London", "伦敦", "Europe/London"))
            .Add("2001:db8:1::/48", MmdbWriter.CityRecord("CN", "China", "中国", "SH", "Shanghai", "Shanghai", "上海", "Asia/Shanghai"))
            .Add("10.0.0.0/8", MmdbWriter.CityRecord("ZZ", "Private", null, null, null, "Private", null, "UTC")) // must never be used
            .Save(path);
        return await ParleyServer.StartAsync(storage, new Dictionary<string, string?>
        {
            ["Parley:GeoIp:DatabasePath"] = path,
            ["Parley:Network:KnownProxies:0"] = "127.0.0.1",
        });
    }

    /// <summary>A visitor at <paramref name="client"/> loads <see cref="Page"/> and starts a conversation.</summary>
    private static async Task<(Guid ConversationId, string Token)> StartChatFromAsync(ParleyServer server, string client)
    {
        using var http = server.CreateHttpClient();
        var session = await SessionFromAsync(http, client);
        await using var visitor = await VisitorClient.ConnectAsync(server, session.VisitorToken);
        var conversation = await visitor.StartConversationAsync();
        return (conversation.Id, session.VisitorToken);
    }

    /// <summary>The visitor's page as the agent's context panel gets it.</summary>
    private static async Task<VisitorPage?> PageSeenByAsync(AgentClient agent, Guid conversationId) =>
        (await agent.Http.GetFromJsonAsync<VisitorContextDto>($"/api/v1/conversations/{conversationId}/visitor", Ct))!.Page;

    private static async Task<WidgetSessionResponse> SessionFromAsync(HttpClient http, string client)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/widget/session")
        {
            Content = JsonContent.Create(new WidgetSessionRequest(ParleyServer.SiteKey, null, null, Page)),
        };
        request.Headers.Add("X-Forwarded-For", client);
        var response = await http.SendAsync(request, Ct);
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync<WidgetSessionResponse>(Ct))!;
    }

    private static async Task<HttpResponseMessage> PostPageFromAsync(HttpClient visitorHttp, string client, object page)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/widget/page") { Content = JsonContent.Create(page) };
        request.Headers.Add("X-Forwarded-For", client);
        return await visitorHttp.SendAsync(request, Ct);
    }
}
