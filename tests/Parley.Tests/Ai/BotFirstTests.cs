using System.Net.Http.Json;
using Microsoft.AspNetCore.SignalR.Client;
using Parley.Server.Features.Widget;
using Parley.Server.Messaging;
using Parley.Tests.Infrastructure;
using Parley.Tests.Widget;

namespace Parley.Tests.Ai;

/// <summary>Bot-first conversations over real sockets, on both stores: the bot answers from the knowledge base and
/// hands the visitor to a person when asked, after two misses, or from the "Talk to a person" button.</summary>
public sealed class BotFirstTests
{
    private static readonly string[] RefundVariants = ["退款什么时候到", "when will I get my refund"];

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [BothStores]
    public async Task Bot_AnswersAKnownQuestion_ThenHandsOffWhenAskedForAPerson(Store store)
    {
        await using var storage = await TestStorage.CreateAsync(store);
        await using var server = await ParleyServer.StartAsync(storage);
        await using var agent = await SetUpAsync(server);
        await using var visitor = await VisitorClient.ConnectAsync(server);
        var conversation = await visitor.StartConversationAsync();

        await visitor.SendAsync(conversation.Id, "我的退款什么时候能到账");
        var answer = (await visitor.Messages.WaitUntilAsync(m => m.Any(x => x.SenderKind == "bot"))).First(x => x.SenderKind == "bot");
        Assert.Contains("3-5", answer.Body, StringComparison.Ordinal);
        Assert.Equal("Helper", answer.SenderName);

        // The bot has it: nobody is assigned, and the visitor never sees the bot's internal note.
        // (The note naming the entry is written right after the answer.)
        await Eventually.ValueAsync(
            () => server.MessagesAsync(conversation.Id),
            stored => stored.Any(m => m.SenderKind == Parley.Data.SenderKind.Bot && m.Kind == Parley.Data.MessageKind.Note && m.Body.Contains("退款多久到账", StringComparison.Ordinal)));
        Assert.DoesNotContain(visitor.Messages.Snapshot(), m => m.Kind == "note");
        Assert.Null((await agent.Http.GetFromJsonAsync<ConversationSummary>($"/api/v1/conversations/{conversation.Id}", Ct))!.AssigneeId);

        await visitor.SendAsync(conversation.Id, "转人工");
        await visitor.Messages.WaitUntilAsync(m => m.Any(x => x.SenderKind == "bot" && x.Body.Contains("人工客服", StringComparison.Ordinal)));

        // Routing takes it: the online agent gets it, and sees the bot's exchange when joining.
        await agent.Conversations.WaitUntilAsync(items => items.Any(c => c.Id == conversation.Id && c.AssigneeId != null));
        var replay = await agent.JoinAsync(conversation.Id);
        Assert.Contains(replay.Messages, m => m.SenderKind == "bot" && m.Body.Contains("3-5", StringComparison.Ordinal));
        Assert.Contains(replay.Messages, m => m.Kind == "note" && m.Body.StartsWith("机器人已转人工（访客要求人工服务）", StringComparison.Ordinal)); // a Chinese conversation: Chinese notes

        // From now on people answer: a new question gets no bot reply.
        var botReplies = visitor.Messages.Snapshot().Count(x => x.SenderKind == "bot");
        var ack = await visitor.SendAsync(conversation.Id, "退款什么时候到账");
        var reply = await agent.SendAsync(conversation.Id, "我来帮您查一下。");
        await visitor.Messages.WaitUntilAsync(m => m.Any(x => x.Id == reply.Id));
        Assert.Equal(botReplies, visitor.Messages.Snapshot().Count(x => x.SenderKind == "bot"));
        Assert.True(ack.Seq < reply.Seq);
    }

    [Theory]
    [BothStores]
    public async Task Bot_HandsOff_AfterTwoQuestionsItCannotAnswer(Store store)
    {
        await using var storage = await TestStorage.CreateAsync(store);
        await using var server = await ParleyServer.StartAsync(storage);
        await using var agent = await SetUpAsync(server);
        await using var visitor = await VisitorClient.ConnectAsync(server);
        var conversation = await visitor.StartConversationAsync();

        await visitor.SendAsync(conversation.Id, "Do you sell gift wrapping?");
        await visitor.Messages.WaitUntilAsync(m => m.Count(x => x.SenderKind == "bot") == 1);
        Assert.Contains("another way", visitor.Messages.Snapshot().Single(x => x.SenderKind == "bot").Body, StringComparison.Ordinal);

        await visitor.SendAsync(conversation.Id, "Can I bring my dog to your office?");
        await visitor.Messages.WaitUntilAsync(m => m.Any(x => x.SenderKind == "bot" && x.Body.Contains("connecting you", StringComparison.OrdinalIgnoreCase)));
        await agent.Conversations.WaitUntilAsync(items => items.Any(c => c.Id == conversation.Id && c.AssigneeId != null));
    }

    [Theory]
    [BothStores]
    public async Task TalkToAPersonButton_HandsOff_Once(Store store)
    {
        await using var storage = await TestStorage.CreateAsync(store);
        await using var server = await ParleyServer.StartAsync(storage);
        await using var agent = await SetUpAsync(server);
        await using var visitor = await VisitorClient.ConnectAsync(server);
        var conversation = await visitor.StartConversationAsync();

        Assert.True(await visitor.Hub.InvokeAsync<bool>("RequestPerson", conversation.Id.ToString(), Ct));
        Assert.False(await visitor.Hub.InvokeAsync<bool>("RequestPerson", conversation.Id.ToString(), Ct)); // people have it already
        await agent.Conversations.WaitUntilAsync(items => items.Any(c => c.Id == conversation.Id && c.AssigneeId != null));

        // Another visitor cannot hand off (or probe) someone else's conversation.
        await using var mallory = await VisitorClient.ConnectAsync(server);
        var refused = await Assert.ThrowsAsync<Microsoft.AspNetCore.SignalR.HubException>(() => mallory.Hub.InvokeAsync<bool>("RequestPerson", conversation.Id.ToString(), Ct));
        Assert.Contains("conversation_not_found", refused.Message, StringComparison.Ordinal);
    }

    /// <summary>Bot-first on, one knowledge entry, and an online agent for the hand-off.</summary>
    private static async Task<AgentClient> SetUpAsync(ParleyServer server)
    {
        await WidgetTestKit.PutSettingsAsync(server, new WidgetSettings { BotFirst = true, BotName = "Helper" });
        var agent = await AgentClient.ConnectAsync(server);
        (await agent.Http.PostAsJsonAsync("/api/v1/knowledge", new
        {
            question = "退款多久到账 / refund timing",
            variants = RefundVariants,
            answer = "退款审核后3-5个工作日退回原支付方式。Refunds reach your card within 3-5 business days.",
            enabled = true,
        }, Ct)).EnsureSuccessStatusCode();
        await agent.Hub.InvokeAsync("SetStatus", "online", Ct);
        return agent;
    }
}
