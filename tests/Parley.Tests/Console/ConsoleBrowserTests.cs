using System.Net.Http.Json;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.Playwright;
using Parley.Server.Features.Console;
using Parley.Server.Features.Conversations;
using Parley.Server.Realtime;
using Parley.Tests.E2E;
using Parley.Tests.Infrastructure;
using Parley.Tests.Widget;

namespace Parley.Tests.Console;

/// <summary>The agent console in real Chromium against a real server: several visitors at once, canned replies, notes, transfer, search.</summary>
public sealed class ConsoleBrowserTests(BrowserFixture browser) : IClassFixture<BrowserFixture>
{
    private const int Timeout = 20_000;
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Agent_HandlesThreeVisitorsAtOnce_WithCannedRepliesAndANoteTheVisitorNeverSees()
    {
        browser.SkipIfUnavailable();
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage);
        await using var admin = await AgentClient.ConnectAsync(server);
        var canned = await admin.Http.PostAsJsonAsync("/api/v1/canned-replies", new { shortcut = "hi", body = "Hello {{visitor.name|there}}, this is {{agent.name}}. How can I help?", shared = true }, Ct);
        canned.EnsureSuccessStatusCode();

        // Three visitors, each in their own browser context, write at the same time.
        var names = new[] { "Alice Chen", "Bob Li", "Carol Wang" };
        var visitors = new List<(IBrowserContext Context, IFrameLocator Widget)>();
        foreach (var name in names)
        {
            var context = await browser.Browser.NewContextAsync(new() { Locale = "en-US" });
            var page = await context.NewPageAsync();
            await page.GotoAsync(new Uri(server.BaseAddress, $"/demo?site={ParleyServer.SiteKey}").ToString());
            await page.GetByTestId("parley-launcher").ClickAsync();
            var widget = page.FrameLocator("iframe[data-testid=parley-frame]");
            await Assertions.Expect(widget.GetByTestId("connection-state")).ToHaveAttributeAsync("data-state", "connected", new() { Timeout = Timeout });
            visitors.Add((context, widget));
        }

        await Task.WhenAll(visitors.Select(async (v, i) =>
        {
            await v.Widget.GetByTestId("composer-input").FillAsync($"Question from {names[i]}");
            await v.Widget.GetByTestId("composer-send").ClickAsync();
            await Assertions.Expect(v.Widget.Locator("[data-testid=message][data-sender-kind=visitor][data-state=sent]")).ToHaveCountAsync(1, new() { Timeout = Timeout });
        }));

        // Give each contact its name (as a pre-chat form or setUser would).
        var inbox = (await admin.Http.GetFromJsonAsync<ConversationPage>("/api/v1/conversations", Ct))!;
        foreach (var (name, i) in names.Select((n, i) => (n, i)))
        {
            var id = inbox.Items.Single(c => c.LastMessagePreview == $"Question from {name}").Id;
            (await admin.Http.PatchAsJsonAsync($"/api/v1/conversations/{id}/contact", new { name }, Ct)).EnsureSuccessStatusCode();
        }

        await using var agentContext = await browser.Browser.NewContextAsync(new() { Locale = "en-US", ViewportSize = new() { Width = 1440, Height = 860 } });
        var console = await ConsolePage.SignInAsync(agentContext, server);
        await Assertions.Expect(console.GetByTestId("inbox-item")).ToHaveCountAsync(3, new() { Timeout = Timeout });
        await Assertions.Expect(console.GetByTestId("wait-timer")).ToHaveCountAsync(3);
        await Assertions.Expect(console.GetByTestId("unread-count")).ToHaveCountAsync(3);

        for (var i = 0; i < names.Length; i++)
        {
            await console.GetByTestId("inbox-item").Filter(new() { HasText = names[i] }).ClickAsync();
            await Assertions.Expect(console.Locator("[data-testid=message][data-sender-kind=visitor]").GetByTestId("message-body"))
                .ToHaveTextAsync($"Question from {names[i]}", new() { Timeout = Timeout });
            var input = console.GetByTestId("composer-input");
            await input.FillAsync("/h");
            await Assertions.Expect(console.Locator("[data-testid=canned-item][data-shortcut=hi]")).ToBeVisibleAsync(new() { Timeout = Timeout });
            await input.PressAsync("Enter"); // picks the highlighted canned reply, variables already expanded
            var expected = $"Hello {names[i]}, this is Admin. How can I help?";
            await Assertions.Expect(input).ToHaveValueAsync(expected);
            await input.PressAsync("Enter"); // sends
            await Assertions.Expect(visitors[i].Widget.Locator("[data-testid=message][data-sender-kind=agent]").GetByTestId("message-body"))
                .ToHaveTextAsync(expected, new() { Timeout = Timeout });
        }

        // An internal note in Alice's conversation: shown to agents, visually distinct, never delivered to her.
        await console.GetByTestId("inbox-item").Filter(new() { HasText = names[0] }).ClickAsync();
        await console.GetByTestId("composer-note").ClickAsync();
        await console.GetByTestId("composer-input").FillAsync("Internal: Alice is a gold customer");
        await console.GetByTestId("composer-input").PressAsync("Enter");
        var note = console.Locator("[data-testid=message][data-kind=note][data-state=sent]");
        await Assertions.Expect(note.GetByTestId("note-label")).ToBeVisibleAsync(new() { Timeout = Timeout });
        await console.GetByTestId("composer-note").ClickAsync();
        await console.GetByTestId("composer-input").FillAsync("Anything else?");
        await console.GetByTestId("composer-input").PressAsync("Enter");
        var alice = visitors[0].Widget;
        await Assertions.Expect(alice.Locator("[data-testid=message][data-sender-kind=agent]").Last.GetByTestId("message-body")).ToHaveTextAsync("Anything else?", new() { Timeout = Timeout });
        // The later reply arrived, so the note (sent before it) would have too: it did not.
        await Assertions.Expect(alice.GetByText("gold customer")).ToHaveCountAsync(0);
        Assert.DoesNotContain(await alice.GetByTestId("message-body").AllTextContentsAsync(), b => b.Contains("gold customer", StringComparison.Ordinal));

        await console.ScreenshotAsync(new() { Path = Screenshot("console-inbox.png") });
        foreach (var v in visitors)
        {
            await v.Context.DisposeAsync();
        }
    }

    [Fact]
    public async Task Transfer_ToAnotherAgent_WhoSeesItLive_WithTheNote()
    {
        browser.SkipIfUnavailable();
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage);
        await server.CreateUserAsync("bo@test.local", "Bo Zhang");

        // The admin is online first, so routing hands the visitor's chat to the admin.
        await using var adminContext = await browser.Browser.NewContextAsync(new() { Locale = "en-US", ViewportSize = new() { Width = 1440, Height = 860 } });
        var admin = await ConsolePage.SignInAsync(adminContext, server);
        await using var visitor = await VisitorClient.ConnectAsync(server);
        var conversation = await visitor.StartConversationAsync();
        await visitor.SendAsync(conversation.Id, "I need a refund for order 77");
        await admin.GetByTestId("inbox-view-mine").ClickAsync();
        await admin.GetByTestId("inbox-item").First.ClickAsync(new() { Timeout = Timeout });
        await Assertions.Expect(admin.GetByTestId("conversation-assignee")).ToContainTextAsync("Admin", new() { Timeout = Timeout });

        await using var boContext = await browser.Browser.NewContextAsync(new() { Locale = "en-US", ViewportSize = new() { Width = 1440, Height = 860 } });
        var bo = await ConsolePage.SignInAsync(boContext, server, "bo@test.local", UserSeeding.Password);
        await bo.GetByTestId("inbox-view-mine").ClickAsync();
        await Assertions.Expect(bo.GetByTestId("inbox-item")).ToHaveCountAsync(0, new() { Timeout = Timeout });

        await admin.GetByTestId("transfer").ClickAsync();
        await admin.GetByTestId("transfer-agent").SelectOptionAsync(new SelectOptionValue { Label = "Bo Zhang" });
        await admin.GetByTestId("transfer-note").FillAsync("VIP: please handle the refund today");
        await admin.GetByTestId("transfer-confirm").ClickAsync();
        await Assertions.Expect(admin.GetByTestId("conversation-assignee")).ToContainTextAsync("Bo Zhang", new() { Timeout = Timeout });

        // Bo's "Mine" view gets it without a reload, and the note is there for Bo.
        var item = bo.GetByTestId("inbox-item");
        await Assertions.Expect(item).ToHaveCountAsync(1, new() { Timeout = Timeout });
        await item.ClickAsync();
        await Assertions.Expect(bo.Locator("[data-testid=message][data-kind=note]").GetByTestId("message-body"))
            .ToHaveTextAsync("VIP: please handle the refund today", new() { Timeout = Timeout });

        // Both have it open: each sees the other in the collision indicator.
        await Assertions.Expect(admin.GetByTestId("collision-names")).ToHaveTextAsync("Bo Zhang", new() { Timeout = Timeout });
        await Assertions.Expect(bo.GetByTestId("collision-names")).ToHaveTextAsync("Admin", new() { Timeout = Timeout });
        await bo.ScreenshotAsync(new() { Path = Screenshot("console-transfer.png") });

        // The visitor never saw the note.
        Assert.DoesNotContain(visitor.Messages.Snapshot(), m => m.Body.Contains("VIP", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Agent_SeesTypingAndReadReceipts_SendsFiles_AndSeesTheVisitorsImageInline()
    {
        browser.SkipIfUnavailable();
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage);
        await using var visitor = await VisitorClient.ConnectAsync(server);
        var agentTyping = new Inbox<TypingEvent>();
        visitor.Hub.On<TypingEvent>("typing", agentTyping.Add);
        var conversation = await visitor.StartConversationAsync();
        await visitor.SendAsync(conversation.Id, "Here is a photo of the damaged box");
        using var visitorHttp = WidgetTestKit.VisitorHttp(server, visitor.Token);
        (await WidgetTestKit.UploadAsync(visitorHttp, $"/api/v1/widget/conversations/{conversation.Id}/attachments", WidgetTestKit.Png, "box.png")).EnsureSuccessStatusCode();

        await using var context = await browser.Browser.NewContextAsync(new() { Locale = "en-US" });
        var console = await ConsolePage.SignInAsync(context, server);
        await console.GetByTestId("inbox-item").First.ClickAsync(new() { Timeout = Timeout });

        // The visitor's upload is a picture in the log, not its JSON.
        var image = console.Locator("[data-testid=message][data-kind=attachment][data-sender-kind=visitor]");
        await Assertions.Expect(image.GetByTestId("attachment-image")).ToBeVisibleAsync(new() { Timeout = Timeout });
        await Assertions.Expect(image.GetByTestId("message-body")).ToHaveTextAsync("box.png");
        Assert.True(await image.GetByTestId("attachment-image").EvaluateAsync<bool>("img => img.complete && img.naturalWidth === 1"), "the image loads from the attachment URL");

        // The visitor types: the agent sees it; a message from the visitor ends it.
        await visitor.Hub.InvokeAsync("Typing", new TypingRequest { ConversationId = conversation.Id.ToString(), Typing = true }, Ct);
        await Assertions.Expect(console.GetByTestId("typing-indicator")).ToContainTextAsync("is typing", new() { Timeout = Timeout });
        await visitor.SendAsync(conversation.Id, "Can you help?");
        await Assertions.Expect(console.GetByTestId("typing-indicator")).ToHaveCountAsync(0, new() { Timeout = Timeout });

        // The agent types (the visitor hears it) and replies; once the visitor has read it, it says so.
        await console.GetByTestId("composer-input").PressSequentiallyAsync("Sorry to hear that");
        await agentTyping.WaitUntilAsync(e => e.Any(x => x.Side == "agent" && x.Typing));
        await console.GetByTestId("composer-input").PressAsync("Enter");
        var reply = (await visitor.Messages.WaitUntilAsync(m => m.Any(x => x.Body == "Sorry to hear that"))).Single(x => x.Body == "Sorry to hear that");
        var sent = console.Locator("[data-testid=message][data-sender-kind=agent]").Filter(new() { HasText = "Sorry to hear that" });
        await Assertions.Expect(sent.Locator(".meta")).Not.ToContainTextAsync("Read", new() { Timeout = Timeout });
        await visitor.Hub.InvokeAsync("MarkRead", new ReadRequest { ConversationId = conversation.Id.ToString(), Seq = reply.Seq }, Ct);
        await Assertions.Expect(sent.Locator(".meta")).ToContainTextAsync("Read", new() { Timeout = Timeout });

        // A file from the agent reaches the visitor; a disguised executable is refused with the reason.
        await console.GetByTestId("composer-file").SetInputFilesAsync(new FilePayload { Name = "label.png", MimeType = "image/png", Buffer = WidgetTestKit.Png });
        await Assertions.Expect(console.Locator("[data-testid=message][data-kind=attachment][data-sender-kind=agent]").GetByTestId("attachment-image")).ToBeVisibleAsync(new() { Timeout = Timeout });
        await visitor.Messages.WaitUntilAsync(m => m.Any(x => x.Kind == "attachment" && x.SenderKind == "agent" && x.Body.Contains("label.png", StringComparison.Ordinal)));
        await console.GetByTestId("composer-file").SetInputFilesAsync(new FilePayload { Name = "invoice.pdf", MimeType = "application/pdf", Buffer = WidgetTestKit.Executable });
        await Assertions.Expect(console.GetByTestId("upload")).ToContainTextAsync("This type of file cannot be sent", new() { Timeout = Timeout });
        Assert.DoesNotContain(visitor.Messages.Snapshot(), m => m.Body.Contains("invoice", StringComparison.Ordinal));
    }

    [Fact]
    public async Task OpeningALongConversation_ShowsTheNewestMessage_WhateverTheRowHeights()
    {
        browser.SkipIfUnavailable();
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage);
        await using var visitor = await VisitorClient.ConnectAsync(server);
        var conversation = await visitor.StartConversationAsync();
        await visitor.SendAsync(conversation.Id, "hello");
        await using var agent = await AgentClient.ConnectAsync(server);

        // Rows of one to eight lines: most are far taller than the list's height estimate.
        for (var i = 1; i <= 300; i += 50)
        {
            await Task.WhenAll(Enumerable.Range(i, 50).Select(n =>
                agent.SendAsync(conversation.Id, $"reply {n}: " + string.Join(' ', Enumerable.Repeat("tracking number and delivery address", n % 8 * 3)))));
        }

        var newest = (await server.MessagesAsync(conversation.Id))[^1];
        await using var context = await browser.Browser.NewContextAsync(new() { Locale = "en-US", ViewportSize = new() { Width = 1280, Height = 800 } });
        var console = await ConsolePage.SignInAsync(context, server);
        await console.GetByTestId("inbox-item").First.ClickAsync(new() { Timeout = Timeout });
        await Assertions.Expect(console.Locator($"[data-testid=message][data-seq=\"{newest.Seq}\"]")).ToBeInViewportAsync(new() { Timeout = Timeout });
    }

    [Fact]
    public async Task Search_ForAChinesePhrase_LandsOnTheMessageInContext()
    {
        browser.SkipIfUnavailable();
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage);
        await using var agent = await AgentClient.ConnectAsync(server);
        await using var visitor = await VisitorClient.ConnectAsync(server);
        var conversation = await visitor.StartConversationAsync();
        // A long conversation: the hit is far above the newest page, so landing on it means loading history.
        const int Total = 600;
        const int Target = 37;
        for (var i = 1; i <= Total; i += 50)
        {
            await Task.WhenAll(Enumerable.Range(i, 50).Select(n => n == Target
                ? visitor.SendAsync(conversation.Id, "你好，我的包裹三天了还没到，请帮我查一下物流信息")
                : n % 2 == 0 ? agent.SendAsync(conversation.Id, $"回复 {n}: 好的") : visitor.SendAsync(conversation.Id, $"message {n}")));
        }

        var target = (await server.MessagesAsync(conversation.Id)).Single(m => m.Body.Contains("物流信息", StringComparison.Ordinal));

        await using var context = await browser.Browser.NewContextAsync(new() { Locale = "zh-CN", ViewportSize = new() { Width = 1440, Height = 860 } });
        var console = await ConsolePage.SignInAsync(context, server);
        await console.GetByTestId("search-input").FillAsync("查一下物流");
        await console.GetByTestId("search-input").PressAsync("Enter");
        var hit = console.GetByTestId("search-hit");
        await Assertions.Expect(hit).ToHaveCountAsync(1, new() { Timeout = Timeout });
        await Assertions.Expect(hit.Locator("mark")).ToHaveTextAsync("查一下物流");
        await console.ScreenshotAsync(new() { Path = Screenshot("console-search.png") });
        await hit.ClickAsync();

        var landed = console.Locator($"[data-testid=message][data-seq=\"{target.Seq}\"]");
        await Assertions.Expect(landed).ToBeInViewportAsync(new() { Timeout = Timeout });
        await Assertions.Expect(landed).ToHaveClassAsync(new System.Text.RegularExpressions.Regex("msg--hit"));
        await Assertions.Expect(landed.GetByTestId("message-body")).ToContainTextAsync("请帮我查一下物流信息");
        Assert.Contains($"/m/{target.Seq}", console.Url, StringComparison.Ordinal);
        // Virtualized: far fewer message nodes than messages loaded.
        Assert.True(await console.GetByTestId("message").CountAsync() < 150);
        await console.ScreenshotAsync(new() { Path = Screenshot("console-search-landed.png") });

        // The visitor never gave a name: the generated default is shown in the reader's language, not in English.
        var tag = visitor.Session.ContactId.ToString("N")[^6..].ToUpperInvariant();
        await Assertions.Expect(console.GetByTestId("conversation-title")).ToHaveTextAsync($"访客 {tag}", new() { Timeout = Timeout });
        Assert.Equal(0, await console.GetByText($"Visitor {tag}").CountAsync());
    }

    private static string Screenshot(string name) => Screenshots.PathOf(name);
}
