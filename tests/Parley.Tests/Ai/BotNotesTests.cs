using System.Net.Http.Json;
using Microsoft.AspNetCore.SignalR.Client;
using Parley.Data;
using Parley.Server.Features.Ai;
using Parley.Server.Features.Widget;
using Parley.Tests.Infrastructure;
using Parley.Tests.Widget;

namespace Parley.Tests.Ai;

/// <summary>
/// The bot's internal notes (which entry answered, the hand-off summary, the language model's summary) are written in
/// the conversation's language: Simplified Chinese when the visitor writes Chinese, English when they write English,
/// and the browser's language before they wrote anything.
/// </summary>
public sealed class BotNotesTests
{
    private static readonly string[] Variants = ["退款什么时候到", "How long does a refund take?"];

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public void Language_IsWhatTheVisitorWrites_ElseTheBrowsers()
    {
        Assert.Equal("en", BotNotes.Language(["When will I get my refund?", "转人工"], "zh-CN"));
        Assert.Equal("zh-CN", BotNotes.Language(["我的退款什么时候到账", "refund"], "en-US"));
        Assert.Equal("zh-CN", BotNotes.Language(["", "123 ？"], "zh-TW"));
        Assert.Equal("en", BotNotes.Language([], "en-GB"));
        Assert.Equal("en", BotNotes.Language([], null));
    }

    [Fact]
    public void Notes_InChineseAndEnglish()
    {
        ExchangeLine[] exchange = [new(true, "退款多久到账"), new(false, "退款3-5个工作日到账。"), new(true, "转人工")];
        var zh = HandoffSummary.Extract(exchange, "asked_for_person", "consult", "negative", new HashSet<string>(), "zh-CN");
        Assert.StartsWith("机器人已转人工（访客要求人工服务）。意图：consult；情绪：负面。", zh, StringComparison.Ordinal);
        Assert.Contains("访客问：“退款多久到账” / “转人工”", zh, StringComparison.Ordinal);
        Assert.Contains("机器人答：“退款3-5个工作日到账。”", zh, StringComparison.Ordinal);
        Assert.Contains("机器人答：未从知识库作答", HandoffSummary.Extract([new(true, "在吗")], "bot_failed", null, null, new HashSet<string>(), "zh-CN"), StringComparison.Ordinal);
        Assert.Contains("意图：未知；情绪：中性", HandoffSummary.Extract([], "bot_failed", null, null, new HashSet<string>(), "zh-CN"), StringComparison.Ordinal);

        var en = HandoffSummary.Extract(exchange, "asked_for_person", "consult", "very_negative", new HashSet<string>(), "en");
        Assert.StartsWith("Bot handed off (the visitor asked for a person). Intent: consult; sentiment: very negative.", en, StringComparison.Ordinal);
        Assert.Contains("Visitor asked: ", en, StringComparison.Ordinal);

        Assert.Equal("机器人根据知识库条目“退款多久到账？”作答（置信度 0.87）。", BotNotes.Answered("zh-CN", "退款多久到账？", 0.8712));
        Assert.Equal("Bot answered from knowledge entry “Refunds?” (confidence 0.87).", BotNotes.Answered("en", "Refunds?", 0.8712));
        Assert.Equal("机器人通过大语言模型根据知识库条目 “甲”、“乙” 作答（150 个 token）。", BotNotes.AnsweredByModel("zh-CN", ["甲", "乙"], 150));
        Assert.Equal("摘要（大语言模型，150 个 token）：访客想退款。", BotNotes.WrittenSummary("zh-CN", 150, "访客想退款。"));
        Assert.Equal("Summary (language model, 150 tokens): wants a refund.", BotNotes.WrittenSummary("en", 150, "wants a refund."));
    }

    [Theory]
    [BothStores]
    public async Task ChineseConversation_GetsChineseNotes_EnglishOneEnglishNotes(Store store)
    {
        await using var storage = await TestStorage.CreateAsync(store);
        await using var server = await ParleyServer.StartAsync(storage);
        await using var agent = await AgentClient.ConnectAsync(server);
        await WidgetTestKit.PutSettingsAsync(server, new WidgetSettings { BotFirst = true });
        (await agent.Http.PostAsJsonAsync("/api/v1/knowledge", new { question = "退款多久到账？", variants = Variants, answer = "退款3-5个工作日到账。", enabled = true }, Ct)).EnsureSuccessStatusCode();
        await agent.Hub.InvokeAsync("SetStatus", "online", Ct);

        async Task<List<string>> NotesAsync(string first)
        {
            await using var visitor = await VisitorClient.ConnectAsync(server);
            var conversation = await visitor.StartConversationAsync();
            await visitor.SendAsync(conversation.Id, first);
            await visitor.Messages.WaitUntilAsync(m => m.Any(x => x.SenderKind == "bot"));
            await visitor.SendAsync(conversation.Id, "转人工");
            var stored = await Eventually.ValueAsync(() => server.MessagesAsync(conversation.Id), m => m.Count(x => x.Kind == MessageKind.Note) >= 2);
            return stored.Where(x => x.Kind == MessageKind.Note).Select(x => x.Body).ToList();
        }

        var zh = await NotesAsync("请问退款多久能到账？");
        Assert.Equal("机器人根据知识库条目“退款多久到账？”作答", zh[0][..^"（置信度 0.00）。".Length]);
        Assert.StartsWith("机器人已转人工（访客要求人工服务）。意图：", zh[1], StringComparison.Ordinal);
        Assert.Contains("访客问：“请问退款多久能到账？” / “转人工”", zh[1], StringComparison.Ordinal);

        var en = await NotesAsync("How long does a refund take?");
        Assert.StartsWith("Bot answered from knowledge entry “退款多久到账？” (confidence ", en[0], StringComparison.Ordinal);
        Assert.StartsWith("Bot handed off (the visitor asked for a person). Intent: ", en[1], StringComparison.Ordinal);
    }
}
