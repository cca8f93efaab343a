using System.Net.Http.Json;
using System.Text.Json;
using Parley.Server.Features.Widget;
using Parley.Server.Routing;
using Parley.Tests.Infrastructure;
using Parley.Tests.Widget;
using static Parley.Tests.Routing.RoutingHarness;

namespace Parley.Tests.Routing;

/// <summary>Route by rule (#5): the visitor's language picks the team whose skills list it.</summary>
public sealed class LanguageRoutingTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData("zh-CN", "zh-CN en", 2)]
    [InlineData("zh-cn", "ZH-CN", 2)]
    [InlineData("zh-TW", "zh-CN, en", 1)]
    [InlineData("zh", "zh-CN", 1)]
    [InlineData("en-GB", "en;fr", 1)]
    [InlineData("fr", "zh-CN en", 0)]
    [InlineData("de", "billing vip", 0)]
    public void Score_ExactTagBeatsPrimaryLanguage(string language, string skills, int expected) =>
        Assert.Equal(expected, LanguageSkillRule.Score(language, skills));

    [Theory]
    [BothStores]
    public async Task VisitorLanguage_PicksTheTeamWithThatSkill_UnlessTheSiteOrTheContactSaysOtherwise(Store store)
    {
        await using var storage = await TestStorage.CreateAsync(store);
        await using var server = await ParleyServer.StartAsync(storage);
        var (admin, _) = await AgentClient.SignInAsync(server);
        using var _admin = admin;
        var english = await CreateTeamAsync(admin, "English desk", "en");
        var chinese = await CreateTeamAsync(admin, "中文客服", "zh zh-CN");
        var taiwan = await CreateTeamAsync(admin, "繁體中文", "zh-TW");
        await CreateTeamAsync(admin, "Billing", null);

        Assert.Equal(chinese, await TeamOfNewConversationAsync(server, "zh-CN"));
        Assert.Equal(taiwan, await TeamOfNewConversationAsync(server, "zh-TW"));
        Assert.Equal(chinese, await TeamOfNewConversationAsync(server, "zh-HK")); // primary language: the older team
        Assert.Equal(english, await TeamOfNewConversationAsync(server, "en-US"));
        Assert.Null(await TeamOfNewConversationAsync(server, "fr-FR")); // nobody speaks it: the general queue
        Assert.Null(await TeamOfNewConversationAsync(server, null));

        // The site's own language (a contact attribute) wins over the browser's; an explicit team wins over both.
        Assert.Equal(english, await TeamOfNewConversationAsync(server, "zh-CN", new() { ["language"] = JsonSerializer.SerializeToElement("en") }));
        Assert.Equal(taiwan, await TeamOfNewConversationAsync(server, "en", new() { ["team"] = JsonSerializer.SerializeToElement("繁體中文") }));

        // A site that offers departments in its widget routes only among them.
        await WidgetTestKit.PutSettingsAsync(server, new WidgetSettings { Departments = [english, taiwan] });
        Assert.Equal(taiwan, await TeamOfNewConversationAsync(server, "zh-CN"));
    }

    private static async Task<Guid> CreateTeamAsync(HttpClient admin, string name, string? skills)
    {
        var response = await admin.PostAsJsonAsync("/api/v1/teams", new { name, skills }, Ct);
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync<TeamDto>(Ct))!.Id;
    }

    /// <summary>A new visitor whose browser reports <paramref name="language"/> starts a chat; the team routing gave it, as stored.</summary>
    private static async Task<Guid?> TeamOfNewConversationAsync(ParleyServer server, string? language, Dictionary<string, JsonElement>? attributes = null)
    {
        using var http = server.CreateHttpClient();
        var user = attributes is null ? null : new WidgetUser(null, null, null, null, attributes, null);
        var page = new VisitorPage("https://shop.example/", "Shop", null, language, null);
        var response = await http.PostAsJsonAsync("/api/v1/widget/session", new WidgetSessionRequest(ParleyServer.SiteKey, null, user, page), Ct);
        response.EnsureSuccessStatusCode();
        var session = (await response.Content.ReadFromJsonAsync<WidgetSessionResponse>(Ct))!;
        await using var visitor = await VisitorClient.ConnectAsync(server, session.VisitorToken);
        var conversation = await visitor.StartConversationAsync();
        return (await ConversationsAsync(server)).Single(c => c.Id == conversation.Id).TeamId;
    }
}
