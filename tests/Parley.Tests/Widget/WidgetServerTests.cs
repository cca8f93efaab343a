using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Parley.Data;
using Parley.Server.Features.Attachments;
using Parley.Server.Features.Csat;
using Parley.Server.Features.Widget;
using Parley.Server.Messaging;
using Parley.Server.Realtime;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Widget;

/// <summary>Server side of the widget (#3): settings, identity, profile, page tracking, typing, receipts, files, CSAT, transcripts.</summary>
public sealed class WidgetServerTests
{
    [Theory]
    [BothStores]
    public async Task Settings_SavedByAdmin_ReachTheWidgetSession_AndBadValuesAreRefused(Store store)
    {
        await using var storage = await TestStorage.CreateAsync(store);
        await using var server = await ParleyServer.StartAsync(storage);
        var (admin, _) = await AgentClient.SignInAsync(server);
        using var _admin = admin;
        var siteId = await WidgetTestKit.SiteIdAsync(admin);

        var defaults = await admin.GetFromJsonAsync<WidgetSettingsDto>($"/api/v1/sites/{siteId}/widget-settings");
        Assert.Equal("#2563eb", defaults!.Settings.Color);

        var settings = new WidgetSettings
        {
            Color = "#0f766e",
            Greeting = "Hello from the shop",
            Position = "left",
            PreChatFields = [new PreChatField { Key = "email", Required = true }, new PreChatField { Key = "order", Label = "Order number" }],
            OfflineForm = true,
            IdentityVerification = "optional",
        };
        var put = await admin.PutAsJsonAsync($"/api/v1/sites/{siteId}/widget-settings", new WidgetSettingsDto(settings, ["https://shop.example"]));
        put.EnsureSuccessStatusCode();

        var session = await VisitorClient.CreateSessionAsync(server);
        Assert.Equal("#0f766e", session.Settings.Color);
        Assert.Equal("left", session.Settings.Position);
        Assert.Equal("Hello from the shop", session.Settings.Greeting);
        Assert.Equal(["email", "order"], session.Settings.PreChatFields.Select(f => f.Key));
        Assert.False(session.Settings.AgentsAvailable);
        Assert.False(session.Settings.TranscriptAvailable);
        Assert.Equal(["email"], session.Profile.MissingFields);

        var again = await admin.GetFromJsonAsync<WidgetSettingsDto>($"/api/v1/sites/{siteId}/widget-settings");
        Assert.Equal(["https://shop.example"], again!.AllowedOrigins);

        var bad = await admin.PutAsJsonAsync($"/api/v1/sites/{siteId}/widget-settings", new WidgetSettingsDto(settings with { Color = "red; background:url(x)" }, []));
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.Equal("invalid_settings", await WidgetTestKit.ProblemCodeAsync(bad));
        var badOrigin = await admin.PutAsJsonAsync($"/api/v1/sites/{siteId}/widget-settings", new WidgetSettingsDto(settings, ["https://shop.example/path"]));
        Assert.Equal("invalid_settings", await WidgetTestKit.ProblemCodeAsync(badOrigin));
    }

    [Fact]
    public async Task SetUser_WithValidHash_BindsTheContact_WrongHashOrMissingHashWhenRequired_IsRejected()
    {
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage);
        var secret = await SecretAsync(server);
        using var http = server.CreateHttpClient();

        var user = new WidgetUser("cust-42", "Ada", "ada@example.com", null, new() { ["plan"] = JsonSerializer.SerializeToElement("pro") }, VisitorProfiles.Sign(secret, "cust-42"));
        var first = await SessionAsync(http, null, user);
        Assert.True(first.Profile.Verified);
        Assert.Equal("Ada", first.Profile.Name);

        // Another browser (no token) with the same signed id lands on the same contact: history follows the user.
        var second = await SessionAsync(http, null, user);
        Assert.Equal(first.ContactId, second.ContactId);

        var wrong = await http.PostAsJsonAsync("/api/v1/widget/session", new WidgetSessionRequest(ParleyServer.SiteKey, null, user with { Hash = new string('0', 64) }));
        Assert.Equal(HttpStatusCode.Forbidden, wrong.StatusCode);
        Assert.Equal("identity_invalid", await WidgetTestKit.ProblemCodeAsync(wrong));

        // Optional: an unsigned id is not bound (claiming somebody's id must not reveal their chats); name/email are kept.
        var unsigned = await SessionAsync(http, null, user with { Hash = null, Name = "Mallory" });
        Assert.NotEqual(first.ContactId, unsigned.ContactId);
        Assert.False(unsigned.Profile.Verified);
        Assert.Equal("Mallory", unsigned.Profile.Name);

        await WidgetTestKit.PutSettingsAsync(server, new WidgetSettings { IdentityVerification = "required" });
        var refused = await http.PostAsJsonAsync("/api/v1/widget/session", new WidgetSessionRequest(ParleyServer.SiteKey, null, user with { Hash = null }));
        Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        Assert.Equal("identity_required", await WidgetTestKit.ProblemCodeAsync(refused));
        Assert.Equal(first.ContactId, (await SessionAsync(http, null, user)).ContactId);
    }

    [Fact]
    public async Task PreChatAndPage_ReachTheAgent_AndRequiredFieldsAreEnforced()
    {
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage);
        await WidgetTestKit.PutSettingsAsync(server, new WidgetSettings { PreChatFields = [new() { Key = "name", Required = true }, new() { Key = "email", Required = true }, new() { Key = "order" }] });
        await using var agent = await AgentClient.ConnectAsync(server);
        using var http = server.CreateHttpClient();
        http.DefaultRequestHeaders.UserAgent.ParseAdd("Mozilla/5.0 (X11; Linux x86_64) Chrome/156.0");
        var page = new VisitorPage("https://shop.example/cart?item=3", "Cart — Shop", "https://search.example/?q=shoes", "zh-CN", "Asia/Shanghai");
        var session = await SessionAsync(http, null, null, page);
        Assert.True(session.Settings.AgentsAvailable); // an agent console is connected
        Assert.Equal(["name", "email"], session.Profile.MissingFields);

        using var visitorHttp = WidgetTestKit.VisitorHttp(server, session.VisitorToken);
        var missing = await visitorHttp.PostAsJsonAsync("/api/v1/widget/profile", new ProfileRequest("Ada", null, null, null));
        Assert.Equal("field_required", await WidgetTestKit.ProblemCodeAsync(missing));
        var badEmail = await visitorHttp.PostAsJsonAsync("/api/v1/widget/profile", new ProfileRequest("Ada", "not-an-email", null, null));
        Assert.Equal("invalid_email", await WidgetTestKit.ProblemCodeAsync(badEmail));
        var ok = await visitorHttp.PostAsJsonAsync("/api/v1/widget/profile", new ProfileRequest("Ada", "ada@example.com", null, new() { ["order"] = "#1042", ["unknown"] = "ignored" }));
        ok.EnsureSuccessStatusCode();
        Assert.Empty((await ok.Content.ReadFromJsonAsync<VisitorProfile>())!.MissingFields);

        await using var visitor = await VisitorClient.ConnectAsync(server, session.VisitorToken);
        var conversation = await visitor.StartConversationAsync();
        var context = await agent.Http.GetFromJsonAsync<VisitorContextDto>($"/api/v1/conversations/{conversation.Id}/visitor");
        Assert.Equal("Ada", context!.Name);
        Assert.Equal("ada@example.com", context.Email);
        Assert.Equal("#1042", context.Attributes!["order"]);
        Assert.False(context.Attributes.ContainsKey("unknown"));
        Assert.Equal("https://shop.example/cart?item=3", context.Page!.Url);
        Assert.Equal("Asia/Shanghai", context.Page.TimeZone);
        Assert.Equal("zh-CN", context.Page.Language);
        Assert.Contains("Chrome/156", context.Page.Browser);

        // A new page load with an open conversation is pushed to the agents watching it.
        var pages = new Inbox<JsonElement>();
        agent.Hub.On<JsonElement>("visitorPage", pages.Add);
        await agent.JoinAsync(conversation.Id);
        await SessionAsync(http, session.VisitorToken, null, page with { Url = "https://shop.example/checkout", Title = "Checkout" });
        await pages.WaitUntilAsync(p => p.Any(x => x.GetProperty("page").GetProperty("url").GetString() == "https://shop.example/checkout"));

        // In-page navigation of a single-page app is reported without a new session; non-http URLs are dropped.
        (await visitorHttp.PostAsJsonAsync("/api/v1/widget/page", page with { Url = "https://shop.example/checkout#pay", Title = "Pay" })).EnsureSuccessStatusCode();
        await pages.WaitUntilAsync(p => p.Any(x => x.GetProperty("page").GetProperty("url").GetString() == "https://shop.example/checkout#pay"));
        (await visitorHttp.PostAsJsonAsync("/api/v1/widget/page", page with { Url = "javascript:alert(1)" })).EnsureSuccessStatusCode();
        var latest = await agent.Http.GetFromJsonAsync<VisitorContextDto>($"/api/v1/conversations/{conversation.Id}/visitor");
        Assert.Null(latest!.Page!.Url);
    }

    [Theory]
    [BothStores]
    public async Task PageTrail_HasEachPageOpened_NotReloads_NewestFirst_AndKeepsOnlyTheNewest(Store store)
    {
        await using var storage = await TestStorage.CreateAsync(store);
        await using var server = await ParleyServer.StartAsync(storage);
        var (admin, _) = await AgentClient.SignInAsync(server);
        using var _admin = admin;
        using var http = server.CreateHttpClient();
        var home = new VisitorPage("https://shop.example/", "Home", null, "en", null);
        var session = await SessionAsync(http, null, null, home);
        using var visitorHttp = WidgetTestKit.VisitorHttp(server, session.VisitorToken);
        await using var visitor = await VisitorClient.ConnectAsync(server, session.VisitorToken);
        var conversation = await visitor.StartConversationAsync();

        await SessionAsync(http, session.VisitorToken, null, home); // a reload: not a new step
        foreach (var (url, title) in new[] { ("https://shop.example/shoes", "Shoes"), ("https://shop.example/cart", "Cart"), ("javascript:alert(1)", "x"), ("https://shop.example/", "Home") })
        {
            (await visitorHttp.PostAsJsonAsync("/api/v1/widget/page", home with { Url = url, Title = title })).EnsureSuccessStatusCode();
        }

        var context = await admin.GetFromJsonAsync<VisitorContextDto>($"/api/v1/conversations/{conversation.Id}/visitor");
        Assert.Equal(["Home", "Cart", "Shoes", "Home"], context!.Trail.Select(p => p.Title));
        Assert.Equal("https://shop.example/", context.Trail[0].Url);
        Assert.True(context.Trail.Zip(context.Trail.Skip(1)).All(p => p.First.At >= p.Second.At), "newest first");

        for (var i = 0; i < PageView.Retained + 10; i++)
        {
            (await visitorHttp.PostAsJsonAsync("/api/v1/widget/page", home with { Url = $"https://shop.example/item/{i}", Title = $"Item {i}" })).EnsureSuccessStatusCode();
        }

        var trail = (await admin.GetFromJsonAsync<VisitorContextDto>($"/api/v1/conversations/{conversation.Id}/visitor"))!.Trail;
        Assert.Equal(20, trail.Count);
        Assert.Equal($"Item {PageView.Retained + 9}", trail[0].Title);
        await using var scope = server.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ParleyDbContext>();
        var kept = await db.PageViews.Where(v => v.ContactId == session.ContactId).OrderBy(v => v.Id).Select(v => v.Title).ToListAsync(TestContext.Current.CancellationToken);
        Assert.Equal(Enumerable.Range(10, PageView.Retained).Select(i => $"Item {i}"), kept);
    }

    [Theory]
    [BothStores]
    public async Task TypingAndReadReceipts_FlowBothWays_ReadStateIsPersisted(Store store)
    {
        await using var storage = await TestStorage.CreateAsync(store);
        await using var server = await ParleyServer.StartAsync(storage);
        await using var visitor = await VisitorClient.ConnectAsync(server);
        await using var agent = await AgentClient.ConnectAsync(server);
        var visitorTyping = new Inbox<TypingEvent>();
        var agentTyping = new Inbox<TypingEvent>();
        var visitorReads = new Inbox<ReadEvent>();
        var agentReads = new Inbox<ReadEvent>();
        visitor.Hub.On<TypingEvent>("typing", visitorTyping.Add);
        visitor.Hub.On<ReadEvent>("read", visitorReads.Add);
        agent.Hub.On<TypingEvent>("typing", agentTyping.Add);
        agent.Hub.On<ReadEvent>("read", agentReads.Add);

        var conversation = await visitor.StartConversationAsync();
        await agent.JoinAsync(conversation.Id);

        await visitor.Hub.InvokeAsync("Typing", new TypingRequest { ConversationId = conversation.Id.ToString(), Typing = true });
        // Repeats inside the interval are dropped (rate limit), "stopped" always goes through.
        await visitor.Hub.InvokeAsync("Typing", new TypingRequest { ConversationId = conversation.Id.ToString(), Typing = true });
        await visitor.Hub.InvokeAsync("Typing", new TypingRequest { ConversationId = conversation.Id.ToString(), Typing = false });
        var typed = await agentTyping.WaitForCountAsync(2);
        Assert.Equal([true, false], typed.Select(t => t.Typing));
        Assert.All(typed, t => Assert.Equal("visitor", t.Side));

        await agent.Hub.InvokeAsync("Typing", new TypingRequest { ConversationId = conversation.Id.ToString(), Typing = true });
        var agentTyped = Assert.Single(await visitorTyping.WaitForCountAsync(1));
        Assert.Equal("agent", agentTyped.Side);
        Assert.False(string.IsNullOrEmpty(agentTyped.Name));

        // A note takes an agent seq but no visitor seq: receipts are translated between the numberings.
        await agent.SendAsync(conversation.Id, "internal", note: true);
        var reply = await agent.SendAsync(conversation.Id, "Hi, how can I help?");
        var question = await visitor.SendAsync(conversation.Id, "Where is my order?");
        Assert.Equal(2, reply.Seq);
        Assert.Equal(1, (await visitor.Messages.WaitForCountAsync(1))[0].Seq);

        await visitor.Hub.InvokeAsync("MarkRead", new ReadRequest { ConversationId = conversation.Id.ToString(), Seq = 1 });
        var visitorRead = Assert.Single(await agentReads.WaitForCountAsync(1));
        Assert.Equal(("visitor", 2L), (visitorRead.Side, visitorRead.Seq)); // agent numbering: the reply is seq 2

        await agent.Hub.InvokeAsync("MarkRead", new ReadRequest { ConversationId = conversation.Id.ToString(), Seq = 4 });
        var agentRead = (await visitorReads.WaitUntilAsync(r => r.Any(x => x.Side == "agent")))[^1];
        Assert.Equal(question.Seq, agentRead.Seq); // visitor numbering

        // Going backwards changes nothing; a reload sees the peer's read position in the replay.
        await agent.Hub.InvokeAsync("MarkRead", new ReadRequest { ConversationId = conversation.Id.ToString(), Seq = 1 });
        Assert.Equal(question.Seq, (await visitor.ResumeAsync(conversation.Id, 0)).PeerReadSeq);
        Assert.Equal(2, (await agent.JoinAsync(conversation.Id)).PeerReadSeq);

        // Only participants can signal: another visitor gets the not-found answer.
        await using var stranger = await VisitorClient.ConnectAsync(server);
        var refused = await Assert.ThrowsAsync<HubException>(() => stranger.Hub.InvokeAsync("Typing", new TypingRequest { ConversationId = conversation.Id.ToString(), Typing = true }));
        Assert.Contains("HubException: conversation_not_found", refused.Message);
        var refusedRead = await Assert.ThrowsAsync<HubException>(() => stranger.Hub.InvokeAsync("MarkRead", new ReadRequest { ConversationId = conversation.Id.ToString(), Seq = 1 }));
        Assert.Contains("HubException: conversation_not_found", refusedRead.Message);
    }

    [Theory]
    [BothStores]
    public async Task Attachments_FlowThroughTheMessagePath_TypeIsCheckedByMagicBytes(Store store)
    {
        await using var storage = await TestStorage.CreateAsync(store);
        await using var server = await ParleyServer.StartAsync(storage, new Dictionary<string, string?> { ["Parley:Attachments:MaxBytes"] = "4096" });
        await using var visitor = await VisitorClient.ConnectAsync(server);
        await using var agent = await AgentClient.ConnectAsync(server);
        var conversation = await visitor.StartConversationAsync();
        await agent.JoinAsync(conversation.Id);
        using var visitorHttp = WidgetTestKit.VisitorHttp(server, visitor.Token);
        var path = $"/api/v1/widget/conversations/{conversation.Id}/attachments";

        var clientId = Guid.NewGuid();
        var upload = await WidgetTestKit.UploadAsync(visitorHttp, path, WidgetTestKit.Png, "../../etc/cat photo.PNG", clientId);
        upload.EnsureSuccessStatusCode();
        var ack = (await upload.Content.ReadFromJsonAsync<SendAck>())!;
        Assert.Equal(1, ack.Seq);
        var retry = await WidgetTestKit.UploadAsync(visitorHttp, path, WidgetTestKit.Png, "cat.png", clientId);
        Assert.True((await retry.Content.ReadFromJsonAsync<SendAck>())!.Duplicate);

        var message = (await agent.Messages.WaitUntilAsync(m => m.Any(x => x.Kind == "attachment")))[0];
        var info = JsonSerializer.Deserialize<AttachmentInfo>(message.Body, JsonSerializerOptions.Web)!;
        Assert.Equal(("cat photo.png", "image/png", true), (info.Name, info.ContentType, info.Image));
        Assert.Equal(WidgetTestKit.Png.Length, info.Size);
        await agent.Conversations.WaitUntilAsync(c => c.Any(x => x.LastMessagePreview == "📎 cat photo.png"));

        using var anonymous = server.CreateHttpClient();
        var image = await anonymous.GetAsync(info.Url);
        image.EnsureSuccessStatusCode();
        Assert.Equal("image/png", image.Content.Headers.ContentType!.MediaType);
        Assert.Equal("inline", image.Content.Headers.ContentDisposition!.DispositionType);
        Assert.Equal("nosniff", string.Join(",", image.Headers.GetValues("X-Content-Type-Options")));
        Assert.Equal(WidgetTestKit.Png, await image.Content.ReadAsByteArrayAsync());
        Assert.Equal(HttpStatusCode.NotFound, (await anonymous.GetAsync($"/api/v1/attachments/{info.Id}?k={new string('0', 32)}")).StatusCode);

        // Disguised executable, oversized file, markup pretending to be text: refused before anything is stored.
        var exe = await WidgetTestKit.UploadAsync(visitorHttp, path, WidgetTestKit.Executable, "invoice.png");
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, exe.StatusCode);
        Assert.Equal("attachment_type_not_allowed", await WidgetTestKit.ProblemCodeAsync(exe));
        var svg = await WidgetTestKit.UploadAsync(visitorHttp, path, "<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>"u8.ToArray(), "logo.txt");
        Assert.Equal("attachment_type_not_allowed", await WidgetTestKit.ProblemCodeAsync(svg));
        var big = await WidgetTestKit.UploadAsync(visitorHttp, path, [.. WidgetTestKit.Png, .. new byte[5000]], "big.png");
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, big.StatusCode);
        Assert.Equal("attachment_too_large", await WidgetTestKit.ProblemCodeAsync(big));

        // Agents upload too; a text file is served as a download, never inline.
        var text = await WidgetTestKit.UploadAsync(agent.Http, $"/api/v1/conversations/{conversation.Id}/attachments", "order 1042: shipped\n发货了\n"u8.ToArray(), "notes.exe");
        text.EnsureSuccessStatusCode();
        var textMessage = (await visitor.Messages.WaitUntilAsync(m => m.Any(x => x.Kind == "attachment" && x.SenderKind == "agent"))).Last(x => x.SenderKind == "agent");
        var textInfo = JsonSerializer.Deserialize<AttachmentInfo>(textMessage.Body, JsonSerializerOptions.Web)!;
        Assert.Equal("notes.txt", textInfo.Name);
        var download = await anonymous.GetAsync(textInfo.Url);
        Assert.Equal("attachment", download.Content.Headers.ContentDisposition!.DispositionType);

        // Another visitor cannot upload into this conversation.
        await using var stranger = await VisitorClient.ConnectAsync(server);
        using var strangerHttp = WidgetTestKit.VisitorHttp(server, stranger.Token);
        Assert.Equal(HttpStatusCode.NotFound, (await WidgetTestKit.UploadAsync(strangerHttp, path, WidgetTestKit.Png, "x.png")).StatusCode);
        await using var scope = server.Services.CreateAsyncScope();
        Assert.Equal(2, await scope.ServiceProvider.GetRequiredService<ParleyDbContext>().Attachments.CountAsync(TestContext.Current.CancellationToken));
    }

    [Theory]
    [BothStores]
    public async Task Csat_OnlyAfterClose_OncePerConversation_AgentsSeeIt(Store store)
    {
        await using var storage = await TestStorage.CreateAsync(store);
        await using var server = await ParleyServer.StartAsync(storage);
        await using var visitor = await VisitorClient.ConnectAsync(server);
        await using var agent = await AgentClient.ConnectAsync(server);
        var conversation = await visitor.StartConversationAsync();
        await visitor.SendAsync(conversation.Id, "Thanks!");
        var rated = new Inbox<RatingDto>();
        agent.Hub.On<RatingDto>("rated", rated.Add);
        await agent.JoinAsync(conversation.Id);
        using var visitorHttp = WidgetTestKit.VisitorHttp(server, visitor.Token);
        var path = $"/api/v1/widget/conversations/{conversation.Id}/rating";

        var early = await visitorHttp.PostAsJsonAsync(path, new RatingRequest(5, null));
        Assert.Equal("conversation_not_closed", await WidgetTestKit.ProblemCodeAsync(early));
        (await agent.Http.PostAsync($"/api/v1/conversations/{conversation.Id}/close", null)).EnsureSuccessStatusCode();
        Assert.Equal("invalid_score", await WidgetTestKit.ProblemCodeAsync(await visitorHttp.PostAsJsonAsync(path, new RatingRequest(6, null))));

        var ok = await visitorHttp.PostAsJsonAsync(path, new RatingRequest(4, "  Quick and friendly  "));
        ok.EnsureSuccessStatusCode();
        Assert.Equal("Quick and friendly", (await rated.WaitForCountAsync(1))[0].Comment);
        var twice = await visitorHttp.PostAsJsonAsync(path, new RatingRequest(1, null));
        Assert.Equal(HttpStatusCode.Conflict, twice.StatusCode);
        Assert.Equal("already_rated", await WidgetTestKit.ProblemCodeAsync(twice));
        var stored = await agent.Http.GetFromJsonAsync<RatingDto>($"/api/v1/conversations/{conversation.Id}/rating");
        Assert.Equal(4, stored!.Score);
    }

    [Fact]
    public async Task OfflineForm_StoresTheMessage_Transcript_IsSentOverSmtp_OrUnavailableWithoutIt()
    {
        await using var smtp = new SmtpSink();
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage, new Dictionary<string, string?>
        {
            ["Parley:Smtp:Host"] = "127.0.0.1",
            ["Parley:Smtp:Port"] = smtp.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Parley:Smtp:EnableSsl"] = "false",
            ["Parley:Smtp:From"] = "support@shop.example",
        });
        var session = await VisitorClient.CreateSessionAsync(server);
        Assert.True(session.Settings.TranscriptAvailable);
        Assert.False(session.Settings.AgentsAvailable);
        using var visitorHttp = WidgetTestKit.VisitorHttp(server, session.VisitorToken);

        var noEmail = await visitorHttp.PostAsJsonAsync("/api/v1/widget/offline", new OfflineMessageRequest("Ada", null, null, null, "Call me back", Guid.NewGuid().ToString()));
        Assert.Equal("field_required", await WidgetTestKit.ProblemCodeAsync(noEmail));
        var clientId = Guid.NewGuid().ToString();
        var left = await visitorHttp.PostAsJsonAsync("/api/v1/widget/offline", new OfflineMessageRequest("Ada", "ada@example.com", null, null, "Please call me back about order 1042", clientId));
        left.EnsureSuccessStatusCode();
        var offline = (await left.Content.ReadFromJsonAsync<OfflineMessageResponse>())!;
        var stored = Assert.Single(await server.MessagesAsync(offline.Conversation.Id));
        Assert.Equal("Please call me back about order 1042", stored.Body);

        // Once the conversation is closed the visitor confirms the address (WidgetAbuseTests), then gets the transcript.
        var (admin, _) = await AgentClient.SignInAsync(server);
        using (admin)
        {
            (await admin.PostAsync($"/api/v1/conversations/{offline.Conversation.Id}/close", null)).EnsureSuccessStatusCode();
        }

        var sent = await visitorHttp.PostAsync($"/api/v1/widget/conversations/{offline.Conversation.Id}/transcript", JsonContent.Create(new TranscriptRequest(null)));
        Assert.Equal(HttpStatusCode.NoContent, sent.StatusCode);
        var confirmation = SmtpSink.BodyOf((await smtp.Mails.WaitForCountAsync(1))[0]);
        var link = new Uri(confirmation.Split('\n').Single(l => l.Contains("/transcripts/confirm?token=", StringComparison.Ordinal)).Trim());
        using (var browser = server.CreateHttpClient())
        {
            (await browser.GetAsync(link.PathAndQuery)).EnsureSuccessStatusCode();
        }

        var mail = (await smtp.Mails.WaitForCountAsync(2))[1];
        Assert.Contains("ada@example.com", mail);
        Assert.Contains("order 1042", SmtpSink.BodyOf(mail));

        await using var plainStorage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var plain = await ParleyServer.StartAsync(plainStorage);
        var plainSession = await VisitorClient.CreateSessionAsync(plain);
        Assert.False(plainSession.Settings.TranscriptAvailable);
        using var plainHttp = WidgetTestKit.VisitorHttp(plain, plainSession.VisitorToken);
        var unavailable = await plainHttp.PostAsync($"/api/v1/widget/conversations/{Guid.NewGuid()}/transcript", JsonContent.Create(new TranscriptRequest("a@b.example")));
        Assert.Equal("transcript_unavailable", await WidgetTestKit.ProblemCodeAsync(unavailable));
    }

    private static async Task<WidgetSessionResponse> SessionAsync(HttpClient http, string? token, WidgetUser? user, VisitorPage? page = null)
    {
        var response = await http.PostAsJsonAsync("/api/v1/widget/session", new WidgetSessionRequest(ParleyServer.SiteKey, token, user, page));
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync<WidgetSessionResponse>())!;
    }


    private static async Task<string> SecretAsync(ParleyServer server)
    {
        await using var scope = server.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ParleyDbContext>();
        return (await db.Sites.SingleAsync(s => s.Key == ParleyServer.SiteKey, TestContext.Current.CancellationToken)).Secret;
    }
}
