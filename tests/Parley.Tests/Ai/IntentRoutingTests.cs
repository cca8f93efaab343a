using System.Net;
using System.Net.Http.Json;
using Parley.Server.Features.Ai;
using Parley.Server.Features.Conversations;
using Parley.Server.Features.Knowledge;
using Parley.Server.Features.Widget;
using Parley.Server.Infrastructure;
using Parley.Server.Messaging;
using Parley.Server.Routing;
using Parley.Tests.Infrastructure;
using Parley.Tests.Widget;
using static Parley.Tests.Routing.RoutingHarness;

namespace Parley.Tests.Ai;

/// <summary>
/// Intent routing (#17) over real sockets, on both stores: routing waits for the visitor's first message, reads it,
/// sends it to the team mapped from its intent, boosts complaints, skips a bare greeting, and routes as before when
/// the wait runs out; the bot's hand-off routes by the conversation's intent; an agent's correction becomes a
/// training example.
/// </summary>
public sealed class IntentRoutingTests
{
    private const string SalesQuestion = "We'd like to order 300 licences for our company, what price can you offer?";
    private const string Complaint = "你们的服务太差了，客服一直不回复，我要投诉！！";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [BothStores]
    public async Task Routing_WaitsForTheFirstMessage_RoutesByIntent_AndBoostsComplaints(Store store)
    {
        await using var storage = await TestStorage.CreateAsync(store);
        await using var server = await ParleyServer.StartAsync(storage, FastRouting());
        var (admin, _) = await AgentClient.SignInAsync(server);
        using var _admin = admin;
        var sales = await CreateTeamAsync(admin, "Sales");
        var care = await CreateTeamAsync(admin, "Customer care");
        var siteId = await WidgetTestKit.SiteIdAsync(admin);
        await PutSettingsAsync(admin, siteId, new AiSiteSettings
        {
            FirstMessageWaitSeconds = 120,
            IntentTeams = new Dictionary<string, Guid> { ["sales"] = sales, ["complaint"] = care },
            ComplaintPriorityBoost = 7,
        });

        // Opening the chat does not route it: routing waits for what the visitor writes.
        await using var buyer = await VisitorClient.ConnectAsync(server);
        var first = await buyer.StartConversationAsync();
        var waiting = (await ConversationsAsync(server)).Single(c => c.Id == first.Id);
        Assert.Null(waiting.QueuedAt);
        Assert.NotNull(waiting.RoutingWaitUntil);

        // A greeting alone says nothing to route by: the next message decides.
        await buyer.SendAsync(first.Id, "你好");
        await buyer.SendAsync(first.Id, SalesQuestion);
        var routed = (await WaitForStoreAsync(server, rows => rows.Any(c => c.Id == first.Id && c.QueuedAt != null))).Single(c => c.Id == first.Id);
        Assert.Equal(sales, routed.TeamId);
        Assert.Equal(0, routed.Priority);
        Assert.Equal("sales", routed.Intent);
        Assert.Null(routed.RoutingWaitUntil);

        await using var angry = await VisitorClient.ConnectAsync(server);
        var second = await angry.StartConversationAsync();
        await angry.SendAsync(second.Id, Complaint);
        var boosted = (await WaitForStoreAsync(server, rows => rows.Any(c => c.Id == second.Id && c.QueuedAt != null))).Single(c => c.Id == second.Id);
        Assert.Equal(care, boosted.TeamId);
        Assert.Equal(7, boosted.Priority);
        Assert.Equal("complaint", boosted.Intent);

        // The inbox filters by intent.
        var page = await admin.GetFromJsonAsync<ConversationPage>("/api/v1/conversations?intent=complaint", Ct);
        Assert.Equal([second.Id], page!.Items.Select(c => c.Id));
        Assert.Equal("complaint", page.Items[0].Intent);

        // A visitor who writes nothing within the bound is routed as before intent routing existed.
        await PutSettingsAsync(admin, siteId, new AiSiteSettings { FirstMessageWaitSeconds = 1, IntentTeams = new Dictionary<string, Guid> { ["sales"] = sales } });
        await using var silent = await VisitorClient.ConnectAsync(server);
        var third = await silent.StartConversationAsync();
        var timedOut = (await WaitForStoreAsync(server, rows => rows.Any(c => c.Id == third.Id && c.QueuedAt != null))).Single(c => c.Id == third.Id);
        Assert.Null(timedOut.TeamId);
        Assert.Null(timedOut.Intent);
    }

    [Theory]
    [BothStores]
    public async Task AgentCorrection_StoresTheIntent_AndBecomesATrainingExample(Store store)
    {
        await using var storage = await TestStorage.CreateAsync(store);
        await using var server = await ParleyServer.StartAsync(storage);
        await using var agent = await AgentClient.ConnectAsync(server);
        await using var visitor = await VisitorClient.ConnectAsync(server);
        var conversation = await visitor.StartConversationAsync();
        await visitor.SendAsync(conversation.Id, "hi");
        var ack = await visitor.SendAsync(conversation.Id, "Do you ship the blue model to Canada?");
        await WaitForStoreAsync(server, rows => rows.Any(c => c.Id == conversation.Id && c.Intent != null));

        var response = await agent.Http.PutAsJsonAsync($"/api/v1/conversations/{conversation.Id}/intent", new IntentCorrectionRequest("sales"), Ct);
        response.EnsureSuccessStatusCode();
        Assert.Equal("sales", (await response.Content.ReadFromJsonAsync<ConversationSummary>(Ct))!.Intent);
        Assert.Equal("sales", (await ConversationsAsync(server)).Single(c => c.Id == conversation.Id).Intent);

        // The example is the message the intent was read from (not the greeting), linked to it.
        var examples = await agent.Http.GetFromJsonAsync<Page<IntentExampleDto>>("/api/v1/knowledge/intent-examples?intent=sales", Ct);
        var example = Assert.Single(examples!.Items);
        Assert.Equal("Do you ship the blue model to Canada?", example.Text);
        Assert.Equal(ack.Id, example.MessageId);

        var bad = await agent.Http.PutAsJsonAsync($"/api/v1/conversations/{conversation.Id}/intent", new IntentCorrectionRequest("Not An Intent!"), Ct);
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.Equal("intent_example_invalid", await ErrorCodeAsync(bad));
    }

    [Theory]
    [BothStores]
    public async Task BotHandOff_RoutesByTheConversationsIntent(Store store)
    {
        await using var storage = await TestStorage.CreateAsync(store);
        await using var server = await ParleyServer.StartAsync(storage, FastRouting());
        var (admin, _) = await AgentClient.SignInAsync(server);
        using var _admin = admin;
        var sales = await CreateTeamAsync(admin, "Sales");
        var siteId = await WidgetTestKit.SiteIdAsync(admin);
        await PutSettingsAsync(admin, siteId, new AiSiteSettings { IntentTeams = new Dictionary<string, Guid> { ["sales"] = sales } });
        await WidgetTestKit.PutSettingsAsync(server, new WidgetSettings { BotFirst = true });

        await using var visitor = await VisitorClient.ConnectAsync(server);
        var conversation = await visitor.StartConversationAsync();
        await visitor.SendAsync(conversation.Id, SalesQuestion);
        await WaitForStoreAsync(server, rows => rows.Any(c => c.Id == conversation.Id && c.Intent == "sales"));
        await visitor.SendAsync(conversation.Id, "转人工");

        var handedOff = (await WaitForStoreAsync(server, rows => rows.Any(c => c.Id == conversation.Id && !c.BotActive && c.QueuedAt != null))).Single(c => c.Id == conversation.Id);
        Assert.Equal(sales, handedOff.TeamId);
    }

    [Theory]
    [InlineData(Store.Sqlite)]
    public async Task Settings_RefuseBadValues(Store store)
    {
        await using var storage = await TestStorage.CreateAsync(store);
        await using var server = await ParleyServer.StartAsync(storage);
        var (admin, _) = await AgentClient.SignInAsync(server);
        using var _admin = admin;
        var siteId = await WidgetTestKit.SiteIdAsync(admin);
        foreach (var bad in new object[]
        {
            new { firstMessageWaitSeconds = 301 },
            new { complaintPriorityBoost = -1 },
            new { intentTeams = new Dictionary<string, Guid> { ["Sales Team"] = Guid.NewGuid() } },
            new { intentTeams = new Dictionary<string, Guid> { ["sales"] = Guid.NewGuid() } }, // no such team
            new { takeover = new { repeatCount = 1 } },
        })
        {
            var response = await admin.PutAsJsonAsync($"/api/v1/sites/{siteId}/ai-settings", bad, Ct);
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            Assert.Equal("invalid_settings", await ErrorCodeAsync(response));
        }

        var saved = await admin.GetFromJsonAsync<AiSiteSettings>($"/api/v1/sites/{siteId}/ai-settings", Ct);
        Assert.Equal(0, saved!.FirstMessageWaitSeconds);
        Assert.Equal(5, saved.ComplaintPriorityBoost);
    }

    internal static async Task PutSettingsAsync(HttpClient admin, Guid siteId, AiSiteSettings settings) =>
        (await admin.PutAsJsonAsync($"/api/v1/sites/{siteId}/ai-settings", settings, Ct)).EnsureSuccessStatusCode();

    internal static async Task<Guid> CreateTeamAsync(HttpClient admin, string name)
    {
        var response = await admin.PostAsJsonAsync("/api/v1/teams", new { name }, Ct);
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync<TeamDto>(Ct))!.Id;
    }
}
