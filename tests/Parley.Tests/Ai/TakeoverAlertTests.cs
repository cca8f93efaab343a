using System.Net.Http.Json;
using System.Text.Json;
using Parley.Server.Features.Ai;
using Parley.Tests.Infrastructure;
using Parley.Tests.Integration;
using static Parley.Tests.Routing.RoutingHarness;

namespace Parley.Tests.Ai;

/// <summary>
/// Human-takeover alerts (#17) over real sockets, on both stores: the same question three times raises one alert
/// (Chinese and English), three different questions do not; an alert fires once per episode and again only on new
/// evidence after a person answered; it reaches agents on the summary, the alerts list and the
/// <c>conversation.takeover_suggested</c> webhook; per-site thresholds apply.
/// </summary>
public sealed class TakeoverAlertTests
{
    private static readonly string[] TakeoverOnly = ["conversation.takeover_suggested"];

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static Dictionary<string, string?> Settings() => new()
    {
        ["Parley:Webhooks:Jitter"] = "0",
        ["Parley:Webhooks:PollInterval"] = "00:00:00.200",
        ["Parley:Webhooks:AllowPrivateTargets"] = "true",
    };

    [Theory]
    [BothStores]
    public async Task SameQuestionThreeTimes_RaisesOneAlertPerEpisode_InEnglishAndChinese_WithAWebhook(Store store)
    {
        await using var storage = await TestStorage.CreateAsync(store);
        await using var server = await ParleyServer.StartAsync(storage, Settings());
        await using var receiver = await WebhookReceiver.StartAsync();
        await using var agent = await AgentClient.ConnectAsync(server);
        await WebhookTests.CreateEndpointAsync(agent.Http, receiver.Url, TakeoverOnly);

        await using var english = await VisitorClient.ConnectAsync(server);
        var en = (await english.StartConversationAsync()).Id;
        await english.SendAsync(en, "When will my refund arrive?");
        await english.SendAsync(en, "How long until my refund arrives?");
        await english.SendAsync(en, "When does my refund arrive?");
        var first = (await receiver.Requests.WaitForCountAsync(1)).Single();
        using (var doc = JsonDocument.Parse(first.Body))
        {
            Assert.Equal("conversation.takeover_suggested", doc.RootElement.GetProperty("type").GetString());
            Assert.Equal(en, doc.RootElement.GetProperty("data").GetProperty("conversationId").GetGuid());
            Assert.Equal("repeated_question", doc.RootElement.GetProperty("data").GetProperty("reason").GetString());
        }

        // Agents see it on the pushed summary and in the supervisors' list.
        await agent.Conversations.WaitUntilAsync(items => items.Any(c => c.Id == en && c.TakeoverReason == "repeated_question"));
        var alerts = await agent.Http.GetFromJsonAsync<List<TakeoverAlertDto>>("/api/v1/ai/takeover-alerts", Ct);
        Assert.Equal("repeated_question", Assert.Single(alerts!).Reason);

        // The same episode: a fourth ask raises nothing new. (Messages are read in commit order, so the Chinese
        // conversation's alert below arrives only after this one was read.)
        await english.SendAsync(en, "When will my refund arrive??");

        await using var chinese = await VisitorClient.ConnectAsync(server);
        var zh = (await chinese.StartConversationAsync()).Id;
        await chinese.SendAsync(zh, "我的快递怎么还没到");
        await chinese.SendAsync(zh, "快递什么时候能到");
        await chinese.SendAsync(zh, "我的快递到底什么时候到");
        var two = await receiver.Requests.WaitForCountAsync(2);
        Assert.Contains(zh.ToString(), two[1].Text, StringComparison.Ordinal);
        Assert.Equal("repeated_question", (await ConversationsAsync(server)).Single(c => c.Id == zh).TakeoverReason);

        // A person answers: the episode is over. It takes new evidence (three more asks) to alert again.
        await agent.SendAsync(en, "Refunds take 3-5 business days.");
        await WaitForStoreAsync(server, rows => rows.Any(c => c.Id == en && c.TakeoverReason == null));
        await agent.Conversations.WaitUntilAsync(items => items.Any(c => c.Id == en && c.TakeoverReason == null));
        await english.SendAsync(en, "When will my refund arrive?");
        await english.SendAsync(en, "How long until my refund arrives?");
        await english.SendAsync(en, "When does my refund arrive?");
        var three = await receiver.Requests.WaitForCountAsync(3);
        Assert.Contains(en.ToString(), three[2].Text, StringComparison.Ordinal);
        Assert.Equal(3, receiver.Requests.Snapshot().Count);
    }

    [Theory]
    [BothStores]
    public async Task ThreeDifferentQuestions_RaiseNoAlert_AndSiteThresholdsApply(Store store)
    {
        await using var storage = await TestStorage.CreateAsync(store);
        await using var server = await ParleyServer.StartAsync(storage, Settings());
        await using var agent = await AgentClient.ConnectAsync(server);

        await using var visitor = await VisitorClient.ConnectAsync(server);
        var id = (await visitor.StartConversationAsync()).Id;
        await visitor.SendAsync(id, "When will my refund arrive?");
        await visitor.SendAsync(id, "Do you ship to Canada?");
        await visitor.SendAsync(id, "发票怎么开？");
        // Asking for a person does raise one: had the three questions raised it, its reason would be another.
        await visitor.SendAsync(id, "I want to talk to a human");
        var row = (await WaitForStoreAsync(server, rows => rows.Any(c => c.Id == id && c.TakeoverReason != null))).Single(c => c.Id == id);
        Assert.Equal("asked_for_person", row.TakeoverReason);

        // A site that asks for two repeats instead of three.
        var siteId = await Widget.WidgetTestKit.SiteIdAsync(agent.Http);
        await IntentRoutingTests.PutSettingsAsync(agent.Http, siteId, new AiSiteSettings { Takeover = new TakeoverSettings { RepeatCount = 2 } });
        await using var second = await VisitorClient.ConnectAsync(server);
        var other = (await second.StartConversationAsync()).Id;
        await second.SendAsync(other, "我的快递怎么还没到");
        await second.SendAsync(other, "快递什么时候能到");
        var two = (await WaitForStoreAsync(server, rows => rows.Any(c => c.Id == other && c.TakeoverReason != null))).Single(c => c.Id == other);
        Assert.Equal("repeated_question", two.TakeoverReason);
    }
}
