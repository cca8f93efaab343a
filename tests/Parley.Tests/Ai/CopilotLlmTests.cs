using System.Net.Http.Json;
using Microsoft.AspNetCore.SignalR.Client;
using Parley.Server.Features.Ai;
using Parley.Server.Features.Widget;
using Parley.Tests.Infrastructure;
using Parley.Tests.Widget;

namespace Parley.Tests.Ai;

/// <summary>
/// The agent's copilot with and without a provider (a fake OpenAI-compatible server over real HTTP): a drafted reply
/// written from the retrieved entries, falling back to the best entry when the provider is slow, fails or is off; and
/// the summary of the bot's exchange that agents (never the visitor) get on hand-off — extracted offline, written by
/// the provider when there is one.
/// </summary>
public sealed class CopilotLlmTests
{
    private const string Question = "How long does a refund take?";
    private const string Answer = "Refunds reach your card within 3-5 business days.";
    private static readonly string[] Variants = ["When will I get my refund?"];

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [BothStores]
    public async Task DraftReply_IsWrittenByTheProvider_AndFallsBackToTheBestEntry(Store store)
    {
        await using var fake = await FakeOpenAi.StartAsync();
        fake.Content = """{"decision":"answer","reply":"(LLM) Hi! Your refund reaches your card within 3-5 business days.","entries":["E1"]}""";
        await using var storage = await TestStorage.CreateAsync(store);
        await using var server = await ParleyServer.StartAsync(storage, Llm(fake));
        await using var agent = await AgentClient.ConnectAsync(server);
        var entry = await CreateEntryAsync(agent);
        await using var visitor = await VisitorClient.ConnectAsync(server);
        var conversation = await visitor.StartConversationAsync();

        // Nothing from the visitor yet: nothing to draft.
        Assert.Equal("none", (await DraftAsync(agent, conversation.Id)).Source);

        await visitor.SendAsync(conversation.Id, "when will I get my refund?");
        var drafted = await Eventually.ValueAsync(() => DraftAsync(agent, conversation.Id), d => d.Source == "llm");
        Assert.StartsWith("(LLM)", drafted.Reply, StringComparison.Ordinal);
        Assert.Equal([entry], drafted.EntryIds);
        Assert.Equal(150, drafted.Tokens);
        Assert.Contains(Answer, fake.ChatRequests.Last(), StringComparison.Ordinal);

        // 500, malformed output and a provider slower than the time budget: the knowledge base's answer, in time.
        fake.Status = 500;
        await AssertFallsBackAsync(agent, conversation.Id, entry);
        fake.Status = 200;
        fake.Content = "Sure, about a week.";
        await AssertFallsBackAsync(agent, conversation.Id, entry);
        fake.Delay = TimeSpan.FromSeconds(10);
        await AssertFallsBackAsync(agent, conversation.Id, entry);

        // Provider off: the knowledge base, and no call at all.
        fake.Delay = TimeSpan.Zero;
        (await agent.Http.PutAsJsonAsync("/api/v1/ai/provider", new LlmProviderRequest(Enabled: false), Ct)).EnsureSuccessStatusCode();
        var calls = fake.ChatRequests.Count;
        await AssertFallsBackAsync(agent, conversation.Id, entry);
        Assert.Equal(calls, fake.ChatRequests.Count);

        // A message the knowledge base does not answer: nothing to draft.
        await visitor.SendAsync(conversation.Id, "Can I bring my dog to your office?");
        Assert.Equal("none", (await Eventually.ValueAsync(() => DraftAsync(agent, conversation.Id), d => d.Source != "knowledge")).Source);
    }

    [Theory]
    [BothStores]
    public async Task Handoff_LeavesAgentsASummaryOfTheBotsExchange_ExtractedOffline(Store store)
    {
        await using var storage = await TestStorage.CreateAsync(store);
        await using var server = await ParleyServer.StartAsync(storage);
        var (visitor, conversation, agent) = await BotConversationAsync(server);
        await using var _visitor = visitor;
        await using var _agent = agent;

        var note = await HandOffAsync(server, visitor, conversation, agent);

        Assert.StartsWith("Bot handed off (the visitor asked for a person)", note, StringComparison.Ordinal);
        Assert.Contains("Visitor asked: “When will I get my refund?” / “转人工”", note, StringComparison.Ordinal);
        Assert.Contains("Bot answered: “Refunds reach your card within 3-5 business days.”", note, StringComparison.Ordinal);
        Assert.Contains("Intent: ", note, StringComparison.Ordinal);
        Assert.DoesNotContain(visitor.Messages.Snapshot(), m => m.Kind == "note");
        Assert.DoesNotContain(await server.MessagesAsync(conversation), m => m.Body.StartsWith("Summary (language model", StringComparison.Ordinal));
    }

    [Theory]
    [BothStores]
    public async Task Handoff_WithAProvider_AddsAWrittenSummary_AfterTheHandoff_AndNotWhenTheProviderFails(Store store)
    {
        await using var fake = await FakeOpenAi.StartAsync();
        // Not a grounded decision, so the bot's answer comes from the knowledge base; the summary call gets this text.
        fake.Content = "The visitor wants to know when their refund arrives; the bot said 3-5 business days.";
        await using var storage = await TestStorage.CreateAsync(store);
        await using var server = await ParleyServer.StartAsync(storage, Llm(fake));
        var (visitor, conversation, agent) = await BotConversationAsync(server);
        await using var _visitor = visitor;
        await using var _agent = agent;

        await HandOffAsync(server, visitor, conversation, agent);
        var stored = await Eventually.ValueAsync(
            () => server.MessagesAsync(conversation), m => m.Any(x => x.Kind == Parley.Data.MessageKind.Note && x.Body.StartsWith("Summary (language model", StringComparison.Ordinal)));
        var written = stored.Single(x => x.Body.StartsWith("Summary (language model", StringComparison.Ordinal));
        Assert.EndsWith(fake.Content, written.Body, StringComparison.Ordinal);
        Assert.Contains("150 tokens", written.Body, StringComparison.Ordinal);
        // What was sent: the exchange as data, without the bot's fixed lines.
        var request = fake.ChatRequests.Last();
        Assert.Contains("Visitor: When will I get my refund?", request, StringComparison.Ordinal);
        Assert.Contains("Bot: Refunds reach your card", request, StringComparison.Ordinal);
        Assert.DoesNotContain("connecting you", request, StringComparison.Ordinal);
        Assert.DoesNotContain(visitor.Messages.Snapshot(), m => m.Kind == "note");

        // The provider fails: the extracted summary is all there is, and the hand-off happened anyway.
        fake.Status = 500;
        var (visitor2, conversation2, _) = await BotConversationAsync(server, connectAgent: false, agent);
        await using var _visitor2 = visitor2;
        var note = await HandOffAsync(server, visitor2, conversation2, agent);
        Assert.StartsWith("Bot handed off", note, StringComparison.Ordinal);
        await agent.Conversations.WaitUntilAsync(items => items.Any(c => c.Id == conversation2 && c.AssigneeId != null));
        Assert.DoesNotContain(await server.MessagesAsync(conversation2), m => m.Body.StartsWith("Summary (language model", StringComparison.Ordinal));
    }

    [Fact]
    public void ExtractiveSummary_QuotesTheVisitorAndTheBotsAnswers_NotItsFixedLines()
    {
        HashSet<string> canned = ["Sorry, could you put it another way?"];
        ExchangeLine[] exchange =
        [
            new(true, "hi"),
            new(true, "Do you ship to Canada?"),
            new(false, "Sorry, could you put it another way?"),
            new(true, "shipping to canada\nhow long"),
            new(false, "We ship to Canada in 7-10 days."),
            new(true, new string('x', 300)),
        ];

        var summary = HandoffSummary.Extract(exchange, "no answer twice", "consult", "negative", canned);

        Assert.StartsWith("Bot handed off (no answer twice). Intent: consult; sentiment: negative.", summary, StringComparison.Ordinal);
        Assert.Contains("“Do you ship to Canada?” / “shipping to canada how long” / “" + new string('x', 120) + "…”", summary, StringComparison.Ordinal);
        Assert.Contains("Bot answered: “We ship to Canada in 7-10 days.”", summary, StringComparison.Ordinal);
        Assert.DoesNotContain("another way", summary, StringComparison.Ordinal);
        Assert.Contains("Bot answered: nothing from the knowledge base", HandoffSummary.Extract([new(true, "help")], "x", null, null, canned), StringComparison.Ordinal);
    }

    private static Dictionary<string, string?> Llm(FakeOpenAi fake) => new()
    {
        ["Parley:Ai:Llm:Enabled"] = "true",
        ["Parley:Ai:Llm:BaseUrl"] = fake.BaseUrl,
        ["Parley:Ai:Llm:ApiKey"] = "sk-test",
        ["Parley:Ai:Llm:TimeoutMilliseconds"] = "1000",
    };

    private static async Task<Guid> CreateEntryAsync(AgentClient agent)
    {
        var created = await agent.Http.PostAsJsonAsync("/api/v1/knowledge", new { question = Question, variants = Variants, answer = Answer, enabled = true }, Ct);
        created.EnsureSuccessStatusCode();
        return (await created.Content.ReadFromJsonAsync<IdOnly>(Ct))!.Id;
    }

    private static async Task<DraftReplyDto> DraftAsync(AgentClient agent, Guid conversationId)
    {
        var response = await agent.Http.PostAsync($"/api/v1/conversations/{conversationId}/draft-reply", null, Ct);
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync<DraftReplyDto>(Ct))!;
    }

    private static async Task AssertFallsBackAsync(AgentClient agent, Guid conversationId, Guid entry)
    {
        var started = System.Diagnostics.Stopwatch.StartNew();
        var draft = await DraftAsync(agent, conversationId);
        Assert.Equal("knowledge", draft.Source);
        Assert.Equal(Answer, draft.Reply);
        Assert.Equal([entry], draft.EntryIds);
        Assert.True(started.Elapsed < TimeSpan.FromSeconds(5), $"took {started.Elapsed}");
    }

    /// <summary>Bot-first on, the refund entry, an online agent; the visitor asks and the bot answers from the knowledge base.</summary>
    private static async Task<(VisitorClient Visitor, Guid Conversation, AgentClient Agent)> BotConversationAsync(ParleyServer server, bool connectAgent = true, AgentClient? existing = null)
    {
        var agent = existing ?? await AgentClient.ConnectAsync(server);
        if (connectAgent)
        {
            await WidgetTestKit.PutSettingsAsync(server, new WidgetSettings { BotFirst = true });
            await CreateEntryAsync(agent);
            await agent.Hub.InvokeAsync("SetStatus", "online", Ct);
        }

        var visitor = await VisitorClient.ConnectAsync(server);
        var conversation = await visitor.StartConversationAsync();
        await visitor.SendAsync(conversation.Id, "When will I get my refund?");
        await visitor.Messages.WaitUntilAsync(m => m.Any(x => x.SenderKind == "bot" && x.Body == Answer));
        return (visitor, conversation.Id, agent);
    }

    /// <summary>The visitor asks for a person; returns the bot's hand-off note once the conversation is with people.</summary>
    private static async Task<string> HandOffAsync(ParleyServer server, VisitorClient visitor, Guid conversation, AgentClient agent)
    {
        await visitor.SendAsync(conversation, "转人工");
        await agent.Conversations.WaitUntilAsync(items => items.Any(c => c.Id == conversation && c.AssigneeId != null));
        var stored = await Eventually.ValueAsync(
            () => server.MessagesAsync(conversation), m => m.Any(x => x.Kind == Parley.Data.MessageKind.Note && x.Body.StartsWith("Bot handed off", StringComparison.Ordinal)));
        return stored.Single(x => x.Kind == Parley.Data.MessageKind.Note && x.Body.StartsWith("Bot handed off", StringComparison.Ordinal)).Body;
    }

    private sealed record IdOnly(Guid Id);
}
