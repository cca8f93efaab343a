using System.Net.Http.Json;
using Microsoft.Playwright;
using Parley.Server.Features.Ai;
using Parley.Tests.E2E;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Console;

/// <summary>
/// What the offline engines read, shown to the agent in real Chromium: intent and sentiment badges, the takeover
/// banner, and suggested replies from the knowledge base that the agent inserts into the reply box.
/// </summary>
public sealed class CopilotBrowserTests(BrowserFixture browser) : IClassFixture<BrowserFixture>
{
    private const int Timeout = 20_000;
    private const string Question = "How long does a refund take?";
    private const string Answer = "Refunds reach your card within 3-5 business days after we receive the parcel.";
    private static readonly string[] Variants = ["When will I get my refund?"];

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Agent_SeesIntentTakeoverBannerAndSuggestedEntry_AndInsertsTheAnswerForEditing()
    {
        browser.SkipIfUnavailable();
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage);
        await using var admin = await AgentClient.ConnectAsync(server);
        var created = await admin.Http.PostAsJsonAsync("/api/v1/knowledge", new
        {
            question = Question,
            variants = Variants,
            answer = Answer,
            tags = Array.Empty<string>(),
            enabled = true,
        }, Ct);
        created.EnsureSuccessStatusCode();
        var entryId = (await created.Content.ReadFromJsonAsync<IdOnly>(Ct))!.Id;

        // The visitor asks about the refund twice before the agent opens the conversation.
        await using var visitor = await VisitorClient.ConnectAsync(server);
        var conversation = await visitor.StartConversationAsync();
        await visitor.SendAsync(conversation.Id, "When will my refund arrive?");
        await visitor.SendAsync(conversation.Id, "How long until my refund arrives?");

        // The index follows the knowledge base asynchronously: wait until it suggests the entry. Two asks are not
        // yet an alert, so the banner that appears later comes from the live refresh.
        var before = await Eventually.ValueAsync(
            async () => await admin.Http.GetFromJsonAsync<ConversationInsightsDto>($"/api/v1/conversations/{conversation.Id}/insights", Ct),
            i => i!.Suggestions.Any(s => s.EntryId == entryId));
        Assert.False(before!.TakeoverSuggested, before.TakeoverReason);

        await using var context = await browser.Browser.NewContextAsync(new() { Locale = "en-US", ViewportSize = new() { Width = 1440, Height = 860 } });
        var console = await ConsolePage.SignInAsync(context, server);
        await console.GetByTestId("inbox-item").First.ClickAsync(new() { Timeout = Timeout });

        var pane = console.GetByTestId("conversation-pane");
        await Assertions.Expect(pane).ToHaveAttributeAsync("data-insights-read", "2", new() { Timeout = Timeout });
        var intent = console.GetByTestId("intent-badge");
        await Assertions.Expect(intent).ToHaveAttributeAsync("data-intent", "after_sales");
        await Assertions.Expect(intent).ToHaveTextAsync("After-sales");
        await Assertions.Expect(intent).ToHaveAttributeAsync("title", new System.Text.RegularExpressions.Regex(@"^Intent: After-sales \(confidence \d+%\)$"));
        await Assertions.Expect(console.GetByTestId("sentiment-badge")).ToHaveAttributeAsync("title", new System.Text.RegularExpressions.Regex("^Sentiment: "));
        await Assertions.Expect(console.GetByTestId("takeover-banner")).ToHaveCountAsync(0);

        var suggestion = console.Locator($"[data-testid=suggestion][data-entry-id=\"{entryId}\"]");
        await Assertions.Expect(suggestion.GetByTestId("suggestion-question")).ToHaveTextAsync(Question);
        await Assertions.Expect(suggestion.GetByTestId("suggestion-answer")).ToHaveTextAsync(Answer);
        Assert.True(await console.GetByTestId("suggestion").CountAsync() <= 3);

        // The third time: the banner appears without reloading (the console re-reads on the pushed message).
        await visitor.SendAsync(conversation.Id, "I asked twice already: when will my refund arrive??");
        var banner = console.GetByTestId("takeover-banner");
        await Assertions.Expect(banner).ToHaveAttributeAsync("data-reason", "repeated_question", new() { Timeout = Timeout });
        await Assertions.Expect(banner.GetByTestId("takeover-message")).ToHaveTextAsync("The visitor asked the same thing 3 times");
        await Assertions.Expect(banner).ToHaveAttributeAsync("role", "alert");
        await Assertions.Expect(pane).ToHaveAttributeAsync("data-insights-read", "3");
        await console.ScreenshotAsync(new() { Path = Screenshots.PathOf("console-copilot.png") });

        // Dismissed for this episode: focus goes to the reply box, and a fourth ask does not bring it back.
        await banner.GetByTestId("takeover-dismiss").ClickAsync();
        await Assertions.Expect(banner).ToHaveCountAsync(0);
        var input = console.GetByTestId("composer-input");
        await Assertions.Expect(input).ToBeFocusedAsync();
        await visitor.SendAsync(conversation.Id, "Hello?? When will my refund arrive?");
        await Assertions.Expect(pane).ToHaveAttributeAsync("data-insights-read", "4", new() { Timeout = Timeout });
        var still = await admin.Http.GetFromJsonAsync<ConversationInsightsDto>($"/api/v1/conversations/{conversation.Id}/insights", Ct);
        Assert.True(still!.TakeoverSuggested); // the alert is still on: only the agent's dismissal hides it
        await Assertions.Expect(banner).ToHaveCountAsync(0);

        // Insert (from the keyboard) fills the reply box for editing and sends nothing; Enter sends the edited text.
        await input.FillAsync("Hi!");
        await suggestion.GetByTestId("suggestion-insert").FocusAsync();
        await console.Keyboard.PressAsync("Enter");
        await Assertions.Expect(input).ToHaveValueAsync($"Hi!\n{Answer}");
        await Assertions.Expect(input).ToBeFocusedAsync();
        await Assertions.Expect(console.Locator("[data-testid=message][data-sender-kind=agent]")).ToHaveCountAsync(0);
        Assert.DoesNotContain(visitor.Messages.Snapshot(), m => m.SenderKind == "agent");

        await input.PressAsync("Enter");
        var received = await visitor.Messages.WaitUntilAsync(m => m.Any(x => x.SenderKind == "agent"));
        Assert.Equal($"Hi!\n{Answer}", received.Single(x => x.SenderKind == "agent").Body);
    }

    [Fact]
    public async Task InChinese_AskingForAPerson_RaisesTheBanner_AndAfterTheEpisodeEndsItAlertsAgain()
    {
        browser.SkipIfUnavailable();
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage);
        await using var visitor = await VisitorClient.ConnectAsync(server);
        var conversation = await visitor.StartConversationAsync();
        await visitor.SendAsync(conversation.Id, "你好，我的订单还没发货");

        await using var context = await browser.Browser.NewContextAsync(new() { Locale = "zh-CN", ViewportSize = new() { Width = 1440, Height = 860 } });
        var console = await ConsolePage.SignInAsync(context, server);
        await console.GetByTestId("inbox-item").First.ClickAsync(new() { Timeout = Timeout });
        var pane = console.GetByTestId("conversation-pane");
        await Assertions.Expect(pane).ToHaveAttributeAsync("data-insights-read", "1", new() { Timeout = Timeout });
        var intent = console.GetByTestId("intent-badge");
        await Assertions.Expect(intent).ToHaveAttributeAsync("data-intent", "after_sales");
        await Assertions.Expect(intent).ToHaveTextAsync("售后");
        await Assertions.Expect(intent).ToHaveAttributeAsync("title", new System.Text.RegularExpressions.Regex(@"^意图：售后（置信度 \d+%）$"));
        await Assertions.Expect(console.GetByTestId("sentiment-badge")).ToHaveAttributeAsync("title", new System.Text.RegularExpressions.Regex("^情绪："));
        var banner = console.GetByTestId("takeover-banner");
        await Assertions.Expect(banner).ToHaveCountAsync(0);

        await visitor.SendAsync(conversation.Id, "转人工");
        await Assertions.Expect(banner).ToHaveAttributeAsync("data-reason", "asked_for_person", new() { Timeout = Timeout });
        await Assertions.Expect(banner.GetByTestId("takeover-message")).ToHaveTextAsync("访客要求转人工");
        await banner.GetByTestId("takeover-dismiss").PressAsync("Enter");
        await Assertions.Expect(banner).ToHaveCountAsync(0);

        // "Found it, thanks" ends the episode; asking for a person again is a new alert.
        await visitor.SendAsync(conversation.Id, "找到了，谢谢");
        await Assertions.Expect(pane).ToHaveAttributeAsync("data-insights-read", "3", new() { Timeout = Timeout });
        await visitor.SendAsync(conversation.Id, "我还是要人工客服");
        await Assertions.Expect(banner).ToHaveAttributeAsync("data-reason", "asked_for_person", new() { Timeout = Timeout });
        await Assertions.Expect(pane).ToHaveAttributeAsync("data-insights-read", "4");
    }

    private sealed record IdOnly(Guid Id);
}
