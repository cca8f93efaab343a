using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Playwright;
using Parley.Data;
using Parley.Server.Features.Widget;
using Parley.Server.Messaging;
using Parley.Server.Realtime;
using Parley.Tests.E2E;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Widget;

/// <summary>
/// The widget as visitors meet it: the snippet on a customer page served from another origin (a second loopback
/// server), real Chromium on desktop and phone viewports, a real Parley server, the agent as a hub client.
/// Screenshots go to TestResults/screenshots (<see cref="Screenshots"/>).
/// </summary>
public sealed class WidgetBrowserTests(BrowserFixture browser) : IClassFixture<BrowserFixture>
{
    private static readonly LocatorAssertionsToBeVisibleOptions Visible = new() { Timeout = 20_000 };
    private static readonly LocatorAssertionsToHaveAttributeOptions Attr = new() { Timeout = 20_000 };
    private static readonly LocatorAssertionsToHaveTextOptions Text = new() { Timeout = 20_000 };
    private static readonly LocatorAssertionsToContainTextOptions Contains = new() { Timeout = 20_000 };
    private static readonly string[] ShippingVariants = ["多久发货", "how soon do you ship"];

    [Fact]
    public async Task Snippet_OnAnotherOrigin_PreChat_SendReceive_Typing_Read_Reload()
    {
        await using var env = await Env.StartAsync(browser);
        await WidgetTestKit.PutSettingsAsync(env.Server, new WidgetSettings
        {
            Color = "#0f766e",
            Greeting = "Hi! Questions about your order? We are here.",
            PreChatFields = [new() { Key = "name", Required = true }, new() { Key = "email", Required = true }],
        });
        await using var agent = await AgentClient.ConnectAsync(env.Server); // an agent is online: live chat, not the offline form
        var typing = new Inbox<TypingEvent>();
        agent.Hub.On<TypingEvent>("typing", typing.Add);

        await using var context = await browser.Browser.NewContextAsync(new() { Locale = "en-US", ViewportSize = new() { Width = 1280, Height = 800 } });
        var page = await context.NewPageAsync();
        await page.GotoAsync(env.HostPage);
        Assert.NotEqual(new Uri(env.HostPage).Port, env.Server.BaseAddress.Port); // the page and the chat are different origins
        var widget = page.FrameLocator("iframe[data-testid=parley-frame]");
        await Assertions.Expect(page.GetByTestId("parley-launcher")).ToBeVisibleAsync(Visible);
        await Assertions.Expect(widget.GetByTestId("connection-state")).ToHaveAttributeAsync("data-state", "connected", Attr);
        await page.ScreenshotAsync(new() { Path = Env.Screenshot("widget-closed.png") });

        await page.GetByTestId("parley-launcher").ClickAsync();
        // Pre-chat form first; required fields are enforced in the browser and by the server.
        await Assertions.Expect(widget.GetByTestId("prechat-form")).ToBeVisibleAsync(Visible);
        await Assertions.Expect(widget.GetByTestId("composer-input")).ToBeHiddenAsync();
        await widget.GetByTestId("prechat-form-submit").ClickAsync();
        await Assertions.Expect(widget.GetByTestId("prechat-form-error")).ToBeVisibleAsync(Visible);
        await widget.GetByTestId("field-name").FillAsync("Ada Lovelace");
        await widget.GetByTestId("field-email").FillAsync("ada@example.com");
        await widget.GetByTestId("prechat-form-submit").ClickAsync();
        await Assertions.Expect(widget.GetByTestId("composer-input")).ToBeVisibleAsync(Visible);
        await Assertions.Expect(widget.GetByTestId("notice")).ToHaveTextAsync("Hi! Questions about your order? We are here.", Text);

        // The visitor writes; the message is stored and delivered.
        await widget.GetByTestId("composer-input").PressSequentiallyAsync("Where is my order? See https://shop.example/o/1042");
        await widget.GetByTestId("composer-input").PressAsync("Enter");
        var mine = widget.Locator("[data-testid=message][data-sender-kind=visitor]");
        await Assertions.Expect(mine).ToHaveAttributeAsync("data-state", "sent", Attr);
        var summary = (await agent.Conversations.WaitUntilAsync(c => c.Any(x => x.LastMessagePreview?.Contains("1042", StringComparison.Ordinal) == true)))[^1];
        await agent.JoinAsync(summary.Id);

        // Typing reaches the agent watching the conversation, and stops when the text is cleared.
        await widget.GetByTestId("composer-input").PressSequentiallyAsync("Hello?");
        await typing.WaitUntilAsync(t => t.Any(x => x.Typing && x.Side == "visitor"));
        await widget.GetByTestId("composer-input").FillAsync("");
        await typing.WaitUntilAsync(t => t.Count > 0 && !t[^1].Typing);

        // The link is clickable, safely.
        var link = mine.Locator("a");
        await Assertions.Expect(link).ToHaveAttributeAsync("href", "https://shop.example/o/1042", Attr);
        await Assertions.Expect(link).ToHaveAttributeAsync("rel", "noopener noreferrer nofollow", Attr);

        // The agent types, then answers; the visitor sees both. The agent sees the page and the pre-chat answers.
        await agent.Hub.InvokeAsync("Typing", new TypingRequest { ConversationId = summary.Id.ToString(), Typing = true });
        await Assertions.Expect(widget.GetByTestId("typing-indicator")).ToBeVisibleAsync(Visible);
        await agent.SendAsync(summary.Id, "It ships today. Tracking: https://carrier.example/t/42");
        await Assertions.Expect(widget.Locator("[data-testid=message][data-sender-kind=agent]").GetByTestId("message-body"))
            .ToHaveTextAsync("It ships today. Tracking: https://carrier.example/t/42", Text);
        await Assertions.Expect(widget.GetByTestId("typing-indicator")).ToBeHiddenAsync();
        var visitorContext = await agent.Http.GetFromJsonAsync<VisitorContextDto>($"/api/v1/conversations/{summary.Id}/visitor");
        Assert.Equal(("Ada Lovelace", "ada@example.com"), (visitorContext!.Name, visitorContext.Email));
        Assert.Equal(env.HostPage, visitorContext.Page!.Url);
        Assert.Equal("Acme Shop — Orders", visitorContext.Page.Title);
        Assert.False(string.IsNullOrEmpty(visitorContext.Page.TimeZone));

        // The open widget marks the agent's message read; the agent reading marks the visitor's "read".
        var reads = new Inbox<ReadEvent>();
        agent.Hub.On<ReadEvent>("read", reads.Add);
        await agent.Hub.InvokeAsync("MarkRead", new ReadRequest { ConversationId = summary.Id.ToString(), Seq = 10 });
        await Assertions.Expect(mine).ToHaveAttributeAsync("data-state", "read", Attr);
        await Assertions.Expect(widget.GetByTestId("day-separator")).ToHaveTextAsync("Today", Text);
        await page.ScreenshotAsync(new() { Path = Env.Screenshot("widget-open-desktop.png") });

        // A reload (a navigation on the customer's site) keeps the history, and the form is not asked again.
        await page.ReloadAsync();
        await page.GetByTestId("parley-launcher").ClickAsync();
        await Assertions.Expect(widget.Locator("[data-testid=message][data-sender-kind=agent]").GetByTestId("message-body"))
            .ToHaveTextAsync("It ships today. Tracking: https://carrier.example/t/42", Text);
        await Assertions.Expect(widget.GetByTestId("composer-input")).ToBeVisibleAsync(Visible);
        Assert.Equal(0, await widget.GetByTestId("prechat-form").CountAsync());
    }

    [Fact]
    public async Task FullQueue_WidgetAndH5Page_ShowPositionAndWait_Live_InEnglishAndChinese()
    {
        await using var env = await Env.StartAsync(browser, Routing.RoutingHarness.FastRouting());
        var agentId = await Routing.RoutingHarness.CreateAgentAsync(env.Server, "solo@test.local", capacity: 1);
        await using var agent = await Routing.RoutingHarness.ConnectAgentAsync(env.Server, "solo@test.local", agentId);

        // The only agent takes the first visitor; two more wait (positions 1 and 2).
        await using var first = await Routing.RoutingHarness.ConnectVisitorAsync(env.Server);
        await Routing.RoutingHarness.WaitForStoreAsync(env.Server, r => r.Any(c => c.Id == first.Conversation.Id && c.AssigneeId == agentId));
        var waiting = new List<Routing.RoutedVisitor>();
        for (var i = 0; i < 2; i++)
        {
            waiting.Add(await Routing.RoutingHarness.ConnectVisitorAsync(env.Server));
            await waiting[^1].Queue.WaitUntilAsync(q => q.Count > 0 && q[^1].Position == i + 1);
        }

        // The embedded widget (English) joins the queue third.
        await using var enContext = await browser.Browser.NewContextAsync(new() { Locale = "en-US", ViewportSize = new() { Width = 1280, Height = 800 } });
        var page = await enContext.NewPageAsync();
        await page.GotoAsync(env.HostPage);
        await page.GetByTestId("parley-launcher").ClickAsync();
        var widget = page.FrameLocator("iframe[data-testid=parley-frame]");
        await widget.GetByTestId("composer-input").FillAsync("Is anyone there?");
        await widget.GetByTestId("composer-input").PressAsync("Enter");
        var enQueue = widget.GetByTestId("queue-status");
        await Assertions.Expect(enQueue).ToHaveAttributeAsync("data-position", "3", Attr);
        await Assertions.Expect(enQueue).ToContainTextAsync("You are number 3 in line", Contains);
        await Assertions.Expect(enQueue).ToContainTextAsync("estimated wait", new() { Timeout = 20_000, IgnoreCase = true });

        // The full-screen H5 page (Chinese) is fourth.
        await using var zhContext = await browser.Browser.NewContextAsync(new() { Locale = "zh-CN", ViewportSize = new() { Width = 390, Height = 844 }, IsMobile = true, HasTouch = true });
        var h5 = await zhContext.NewPageAsync();
        await h5.GotoAsync($"{env.Server.BaseAddress}chat/{ParleyServer.SiteKey}");
        await h5.GetByTestId("composer-input").FillAsync("有人吗？");
        await h5.GetByTestId("composer-input").PressAsync("Enter");
        var zhQueue = h5.GetByTestId("queue-status");
        await Assertions.Expect(zhQueue).ToHaveAttributeAsync("data-position", "4", Attr);
        await Assertions.Expect(zhQueue).ToContainTextAsync("当前第 4 位", Contains);
        await Assertions.Expect(zhQueue).ToContainTextAsync("预计", Contains);

        // The agent finishes the first chat: everyone moves up, live, without a reload.
        var (admin, _) = await AgentClient.SignInAsync(env.Server);
        using var adminHttp = admin;
        (await admin.PostAsync($"/api/v1/conversations/{first.Conversation.Id}/close", null, TestContext.Current.CancellationToken)).EnsureSuccessStatusCode();
        await Assertions.Expect(enQueue).ToHaveAttributeAsync("data-position", "2", Attr);
        await Assertions.Expect(enQueue).ToContainTextAsync("You are number 2 in line", Contains);
        await Assertions.Expect(zhQueue).ToContainTextAsync("当前第 3 位", Contains);

        // Once an agent has the visitor, the line disappears.
        foreach (var v in waiting)
        {
            (await admin.PostAsync($"/api/v1/conversations/{v.Conversation.Id}/close", null, TestContext.Current.CancellationToken)).EnsureSuccessStatusCode();
        }

        await Assertions.Expect(enQueue).ToBeHiddenAsync(new() { Timeout = 20_000 });
        await Assertions.Expect(zhQueue).ToContainTextAsync("当前第 1 位", Contains);
        await Task.WhenAll(waiting.Select(v => v.DisposeAsync().AsTask()));
    }

    [Fact]
    public async Task DemoPage_OnAPhone_HasNoHorizontalOverflow_AndTheLauncherIsOnScreen()
    {
        await using var env = await Env.StartAsync(browser);
        await using var context = await browser.Browser.NewContextAsync(new() { Locale = "en-US", ViewportSize = new() { Width = 390, Height = 844 }, IsMobile = true, HasTouch = true });
        var page = await context.NewPageAsync();
        await page.GotoAsync($"{env.Server.BaseAddress}demo");
        var launcher = page.GetByTestId("parley-launcher");
        await Assertions.Expect(launcher).ToBeVisibleAsync(Visible);

        // The snippet line used to stay unwrapped and make the page 619 px wide, pushing the launcher off screen.
        var width = await page.EvaluateAsync<int>("() => document.documentElement.scrollWidth");
        Assert.True(width <= 390, $"the demo page is {width} px wide on a 390 px phone");
        var box = await launcher.BoundingBoxAsync();
        Assert.NotNull(box);
        Assert.True(box.X >= 0 && box.X + box.Width <= 390 && box.Y + box.Height <= 844, $"launcher at {box.X},{box.Y} ({box.Width}x{box.Height}) is outside the 390x844 viewport");
    }

    [Fact]
    public async Task BotFirst_VisitorGetsTheBotsAnswer_AsksForAPerson_AndTheAgentRepliesWithTheExchangeInView()
    {
        await using var env = await Env.StartAsync(browser);
        await WidgetTestKit.PutSettingsAsync(env.Server, new WidgetSettings { BotFirst = true, BotName = "Parley Assistant" });
        await using var agent = await AgentClient.ConnectAsync(env.Server);
        (await agent.Http.PostAsJsonAsync("/api/v1/knowledge", new
        {
            question = "发货时间 / when do you ship",
            variants = ShippingVariants,
            answer = "现货订单48小时内发货。In-stock orders ship within 48 hours.",
            enabled = true,
        })).EnsureSuccessStatusCode();
        await agent.Hub.InvokeAsync("SetStatus", "online");

        await using var context = await browser.Browser.NewContextAsync(new() { Locale = "en-US" });
        var page = await context.NewPageAsync();
        await page.GotoAsync(env.HostPage);
        await page.GetByTestId("parley-launcher").ClickAsync();
        var widget = page.FrameLocator("iframe[data-testid=parley-frame]");
        await Assertions.Expect(widget.GetByTestId("connection-state")).ToHaveAttributeAsync("data-state", "connected", Attr);
        var person = widget.GetByTestId("talk-to-person");
        await Assertions.Expect(person).ToHaveTextAsync("Talk to a person", Text);

        // A known question: the bot answers, with its badge.
        await widget.GetByTestId("composer-input").FillAsync("How soon will my order ship?");
        await widget.GetByTestId("composer-send").ClickAsync();
        var bot = widget.Locator("[data-testid=message][data-sender-kind=bot]");
        await Assertions.Expect(bot.GetByTestId("message-body")).ToContainTextAsync("48 hours", Contains);
        await Assertions.Expect(bot.Locator(".name")).ToHaveTextAsync("Parley Assistant · Bot", Text);
        await page.ScreenshotAsync(new() { Path = Env.Screenshot("widget-bot-answer.png") });

        // The visitor asks for a person with the button: the bot says so, the button goes, the agent gets the chat.
        await person.ClickAsync();
        await Assertions.Expect(bot.Last.GetByTestId("message-body")).ToContainTextAsync("connecting you", new() { Timeout = 20_000, IgnoreCase = true });
        await Assertions.Expect(person).ToBeHiddenAsync(new() { Timeout = 20_000 });
        var summary = (await agent.Conversations.WaitUntilAsync(c => c.Any(x => x.AssigneeId != null)))[^1];
        var replay = await agent.JoinAsync(summary.Id);
        Assert.Contains(replay.Messages, m => m.SenderKind == "visitor" && m.Body == "How soon will my order ship?");
        Assert.Contains(replay.Messages, m => m.SenderKind == "bot" && m.Body.Contains("48 hours", StringComparison.Ordinal));

        await agent.SendAsync(summary.Id, "Hi, I'm Sam. Let me check your order.");
        await Assertions.Expect(widget.Locator("[data-testid=message][data-sender-kind=agent]").GetByTestId("message-body"))
            .ToHaveTextAsync("Hi, I'm Sam. Let me check your order.", Text);
    }

    [Fact]
    public async Task Upload_ImageIsShown_DisguisedExecutableIsRefused()
    {
        await using var env = await Env.StartAsync(browser);
        await using var agent = await AgentClient.ConnectAsync(env.Server);
        await using var context = await browser.Browser.NewContextAsync(new() { Locale = "en-US" });
        var page = await context.NewPageAsync();
        await page.GotoAsync(env.HostPage);
        await page.GetByTestId("parley-launcher").ClickAsync();
        var widget = page.FrameLocator("iframe[data-testid=parley-frame]");
        await Assertions.Expect(widget.GetByTestId("connection-state")).ToHaveAttributeAsync("data-state", "connected", Attr);

        await widget.GetByTestId("file-input").SetInputFilesAsync(new FilePayload { Name = "receipt.png", MimeType = "image/png", Buffer = WidgetTestKit.Png });
        var image = widget.GetByTestId("attachment-image");
        await Assertions.Expect(image).ToBeVisibleAsync(Visible);
        Assert.True(await image.EvaluateAsync<bool>("img => img.complete && img.naturalWidth === 1"));
        var stored = (await agent.Conversations.WaitUntilAsync(c => c.Any(x => x.LastMessagePreview == "📎 receipt.png")))[^1];
        Assert.Equal("attachment", Assert.Single(await env.Server.MessagesAsync(stored.Id)).Kind.ToString().ToLowerInvariant());

        // An executable renamed to .png (and labelled image/png by the browser) is refused by its bytes.
        await widget.GetByTestId("file-input").SetInputFilesAsync(new FilePayload { Name = "invoice.png", MimeType = "image/png", Buffer = WidgetTestKit.Executable });
        var failed = widget.Locator("[data-testid=message][data-state=failed]");
        await Assertions.Expect(failed.GetByTestId("message-meta")).ToContainTextAsync("This type of file cannot be sent", new() { Timeout = 20_000 });
        Assert.Single(await env.Server.MessagesAsync(stored.Id));
    }

    [Fact]
    public async Task OfflineQueue_MessagesWrittenWithoutNetwork_AreDeliveredOnceInOrder()
    {
        await using var env = await Env.StartAsync(browser);
        await using var agent = await AgentClient.ConnectAsync(env.Server);
        await using var context = await browser.Browser.NewContextAsync(new() { Locale = "en-US" });
        var page = await context.NewPageAsync();
        await page.GotoAsync(env.HostPage);
        await page.GetByTestId("parley-launcher").ClickAsync();
        var widget = page.FrameLocator("iframe[data-testid=parley-frame]");
        var state = widget.GetByTestId("connection-state");
        await Assertions.Expect(state).ToHaveAttributeAsync("data-state", "connected", Attr);
        var input = widget.GetByTestId("composer-input");
        await input.FillAsync("first, while online");
        await input.PressAsync("Enter");
        await Assertions.Expect(widget.Locator("[data-testid=message][data-state=sent]")).ToHaveCountAsync(1, new() { Timeout = 20_000 });

        await context.SetOfflineAsync(true);
        await Assertions.Expect(state).Not.ToHaveAttributeAsync("data-state", "connected", Attr);
        foreach (var text in new[] { "second, offline", "third, offline", "fourth, offline" })
        {
            await input.FillAsync(text);
            await input.PressAsync("Enter");
        }

        await Assertions.Expect(widget.Locator("[data-testid=message][data-state=sending]")).ToHaveCountAsync(3, new() { Timeout = 20_000 });
        await context.SetOfflineAsync(false);
        await Assertions.Expect(state).ToHaveAttributeAsync("data-state", "connected", Attr);
        await Assertions.Expect(widget.Locator("[data-testid=message][data-state=sent]")).ToHaveCountAsync(4, new() { Timeout = 30_000 });

        var conversation = (await agent.Conversations.WaitUntilAsync(c => c.Any(x => x.LastMessagePreview == "fourth, offline")))[^1];
        var stored = await env.Server.MessagesAsync(conversation.Id);
        Assert.Equal(["first, while online", "second, offline", "third, offline", "fourth, offline"], stored.OrderBy(m => m.Seq).Select(m => m.Body));
    }

    [Fact]
    public async Task MobileZhCn_RendersChinese_FullScreen_ClosedConversationAsksForRating()
    {
        await using var env = await Env.StartAsync(browser);
        await using var agent = await AgentClient.ConnectAsync(env.Server);
        await using var context = await browser.Browser.NewContextAsync(new()
        {
            Locale = "zh-CN",
            ViewportSize = new() { Width = 390, Height = 844 },
            DeviceScaleFactor = 2,
            IsMobile = true,
            HasTouch = true,
        });
        var page = await context.NewPageAsync();
        await page.GotoAsync(env.HostPage);
        await page.GetByTestId("parley-launcher").TapAsync();
        var widget = page.FrameLocator("iframe[data-testid=parley-frame]");
        await Assertions.Expect(widget.GetByTestId("connection-state")).ToHaveTextAsync("在线", Text);
        await Assertions.Expect(widget.GetByTestId("composer-input")).ToHaveAttributeAsync("placeholder", "输入消息…", Attr);

        // Full screen on a phone: the iframe covers the viewport and the composer is inside it.
        var box = await page.GetByTestId("parley-frame").BoundingBoxAsync();
        Assert.Equal((0f, 390f), (box!.X, box.Width));
        var composer = await widget.GetByTestId("composer-input").BoundingBoxAsync();
        Assert.True(composer!.Y + composer.Height <= 844, "the composer is visible");

        await widget.GetByTestId("composer-input").FillAsync("你好，我的订单什么时候发货？");
        await widget.GetByTestId("composer-send").TapAsync();
        var summary = (await agent.Conversations.WaitUntilAsync(c => c.Any(x => x.LastMessagePreview == "你好，我的订单什么时候发货？")))[^1];
        await agent.SendAsync(summary.Id, "今天发货，请放心。");
        await Assertions.Expect(widget.Locator("[data-testid=message][data-sender-kind=agent]").GetByTestId("message-body")).ToHaveTextAsync("今天发货，请放心。", Text);
        await Assertions.Expect(widget.GetByTestId("day-separator")).ToHaveTextAsync("今天", Text);
        await page.ScreenshotAsync(new() { Path = Env.Screenshot("widget-open-mobile.png") });

        // The agent closes the conversation: the visitor is asked for a rating (CSAT), in Chinese.
        (await agent.Http.PostAsync($"/api/v1/conversations/{summary.Id}/close", null)).EnsureSuccessStatusCode();
        // The system line is stored as a code ({"code":"closed","by":...}) and shown in the visitor's language.
        var closedLine = widget.Locator("[data-testid=message][data-kind=event]").GetByTestId("message-body");
        await Assertions.Expect(closedLine).ToContainTextAsync("关闭了会话", Contains);
        Assert.DoesNotContain("Closed by", await closedLine.InnerTextAsync(), StringComparison.Ordinal);
        var csat = widget.GetByTestId("csat-form");
        await Assertions.Expect(csat).ToContainTextAsync("您对本次服务满意吗？", new() { Timeout = 20_000 });
        await page.ScreenshotAsync(new() { Path = Env.Screenshot("widget-zh-CN.png") });
        await widget.GetByTestId("csat-5").TapAsync();
        await widget.GetByTestId("csat-comment").FillAsync("很快，谢谢！");
        await widget.GetByTestId("csat-submit").TapAsync();
        await Assertions.Expect(widget.GetByTestId("csat-thanks")).ToHaveTextAsync("感谢您的反馈！", Text);

        await using var scope = env.Server.Services.CreateAsyncScope();
        var rating = await scope.ServiceProvider.GetRequiredService<ParleyDbContext>().ConversationRatings.SingleAsync(TestContext.Current.CancellationToken);
        Assert.Equal((5, "很快，谢谢！"), (rating.Score, rating.Comment));
    }

    [Fact]
    public async Task ConsoleSettingsPage_AdminChangesTheColour_TheWidgetFollows()
    {
        await using var env = await Env.StartAsync(browser);
        await using var context = await browser.Browser.NewContextAsync(new() { Locale = "en-US" });
        var console = await context.NewPageAsync();
        await console.GotoAsync(new Uri(env.Server.BaseAddress, "/console/").ToString());
        await console.GetByTestId("login-email").FillAsync(ParleyServer.AdminEmail);
        await console.GetByTestId("login-password").FillAsync(ParleyServer.AdminPassword);
        await console.GetByTestId("login-submit").ClickAsync();
        await ConsolePage.NavigateAsync(console, "nav-widget-settings");
        await console.GetByTestId("ws-color").FillAsync("#be123c");
        await console.GetByTestId("ws-greeting").FillAsync("Welcome to Acme!");
        await console.GetByTestId("ws-save").ClickAsync();
        await Assertions.Expect(console.GetByTestId("ws-status")).ToHaveTextAsync("Saved.", Text);

        var page = await context.NewPageAsync();
        await page.GotoAsync(env.HostPage);
        var widget = page.FrameLocator("iframe[data-testid=parley-frame]");
        await Assertions.Expect(widget.GetByTestId("notice")).ToHaveTextAsync("Welcome to Acme!", Text);
        await Assertions.Expect(page.GetByTestId("parley-launcher")).ToHaveCSSAsync("background-color", "rgb(190, 18, 60)", new() { Timeout = 20_000 });
    }

    /// <summary>A Parley server plus a customer's page on a second loopback server (another origin) that embeds the snippet.</summary>
    private sealed class Env : IAsyncDisposable
    {
        private Env(TestStorage storage, ParleyServer server, WebApplication host, string hostPage)
        {
            Storage = storage;
            Server = server;
            Host = host;
            HostPage = hostPage;
        }

        public TestStorage Storage { get; }

        public ParleyServer Server { get; }

        public WebApplication Host { get; }

        public string HostPage { get; }

        public static string Screenshot(string name) => Screenshots.PathOf(name);

        public static async Task<Env> StartAsync(BrowserFixture browser, IReadOnlyDictionary<string, string?>? overrides = null)
        {
            browser.SkipIfUnavailable();
            Assert.True(
                File.Exists(Path.Combine(ParleyServer.RepositoryRoot, "src", "Parley.Server", "wwwroot", "widget.js")),
                "web assets are not built: run `npm ci && npm run build` in web/");
            var storage = await TestStorage.CreateAsync(Store.Sqlite);
            var server = await ParleyServer.StartAsync(storage, overrides);

            var builder = WebApplication.CreateSlimBuilder();
            builder.WebHost.UseUrls("http://127.0.0.1:0");
            builder.Logging.SetMinimumLevel(LogLevel.Warning);
            var host = builder.Build();
            var parley = server.BaseAddress.ToString().TrimEnd('/');
            var html = $$"""
                <!doctype html>
                <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
                <title>Acme Shop — Orders</title>
                <style>body{font-family:sans-serif;margin:0;padding:32px;background:#fafafa;color:#222} div{outline:3px solid red}
                .hero{height:240px;border-radius:12px;background:linear-gradient(120deg,#fde68a,#fca5a5);margin:16px 0}</style></head>
                <body><h1>Acme Shop</h1><p>Your orders. Questions? Use the chat button.</p><section class="hero"></section>
                <script>
                  window.Parley = window.Parley || { q: [] };
                  ['open','close','toggle','setLocale','setUser','setAttributes','on'].forEach(function (m) {
                    Parley[m] = Parley[m] || function () { Parley.q.push([m].concat([].slice.call(arguments))); };
                  });
                  Parley.setAttributes({ plan: 'pro' });
                </script>
                <script src="{{parley}}/widget.js" data-site="{{ParleyServer.SiteKey}}" async></script>
                </body></html>
                """;
            host.MapGet("/shop/orders", () => Results.Content(html, "text/html; charset=utf-8"));
            await host.StartAsync(TestContext.Current.CancellationToken);
            var address = host.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            return new Env(storage, server, host, address.TrimEnd('/') + "/shop/orders");
        }

        public async ValueTask DisposeAsync()
        {
            await Host.StopAsync(CancellationToken.None);
            await Host.DisposeAsync();
            await Server.DisposeAsync();
            await Storage.DisposeAsync();
        }
    }
}
