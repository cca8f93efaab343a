using System.Net;
using System.Net.Http.Json;
using Parley.Server.Features.Ai;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Ai;

/// <summary>The agent's view of what the offline engines read in a conversation, over REST, on both stores.</summary>
public sealed class InsightsApiTests
{
    private static readonly string[] RefundVariants = ["退款什么时候到"];

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [BothStores]
    public async Task Insights_ReadIntentSentimentTakeover_AndSuggestAKnowledgeEntry(Store store)
    {
        await using var storage = await TestStorage.CreateAsync(store);
        await using var server = await ParleyServer.StartAsync(storage);
        await using var agent = await AgentClient.ConnectAsync(server);
        var created = await agent.Http.PostAsJsonAsync("/api/v1/knowledge", new
        {
            question = "退款多久到账 / refund timing",
            variants = RefundVariants,
            answer = "退款审核后3-5个工作日退回原支付方式。Refunds reach your card within 3-5 business days.",
            tags = Array.Empty<string>(),
            enabled = true,
        }, Ct);
        created.EnsureSuccessStatusCode();
        var entryId = (await created.Content.ReadFromJsonAsync<IdOnly>(Ct))!.Id;

        await using var visitor = await VisitorClient.ConnectAsync(server);
        var conversation = await visitor.StartConversationAsync();
        await visitor.SendAsync(conversation.Id, "你好");
        await visitor.SendAsync(conversation.Id, "我的退款什么时候到账");
        await visitor.SendAsync(conversation.Id, "退款还没到账");
        await visitor.SendAsync(conversation.Id, "我问了好几次了，退款到底什么时候到账？？");

        // The index follows the knowledge base asynchronously (KnowledgeChanged): wait for the suggestion.
        var insights = await Eventually.ValueAsync(
            async () => await agent.Http.GetFromJsonAsync<ConversationInsightsDto>($"/api/v1/conversations/{conversation.Id}/insights", Ct),
            i => i!.Suggestions.Count > 0);

        Assert.Equal("after_sales", insights!.Intent); // the greeting is skipped
        Assert.True(insights.TakeoverSuggested);
        Assert.Equal("repeated_question", insights.TakeoverReason);
        Assert.True(insights.SentimentScore < 0);
        Assert.Equal(entryId, insights.Suggestions[0].EntryId);
        Assert.Equal(4, insights.VisitorMessages);
    }

    [Theory]
    [BothStores]
    public async Task Insights_OfAConversationTheAgentMayNotSee_IsNotFound(Store store)
    {
        await using var storage = await TestStorage.CreateAsync(store);
        await using var server = await ParleyServer.StartAsync(storage);
        await using var visitor = await VisitorClient.ConnectAsync(server);
        await using var admin = await AgentClient.ConnectAsync(server);
        var conversation = await visitor.StartConversationAsync();

        Assert.Equal(HttpStatusCode.NotFound, (await admin.Http.GetAsync($"/api/v1/conversations/{Guid.NewGuid()}/insights", Ct)).StatusCode);
        using var anonymous = server.CreateHttpClient();
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync($"/api/v1/conversations/{conversation.Id}/insights", Ct)).StatusCode);
    }

    private sealed record IdOnly(Guid Id);
}
