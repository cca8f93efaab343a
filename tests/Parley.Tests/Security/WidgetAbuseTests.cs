using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.RegularExpressions;
using Parley.Data;
using Parley.Server.Features.Widget;
using Parley.Tests.Infrastructure;
using Parley.Tests.Widget;

namespace Parley.Tests.Security;

/// <summary>
/// The widget's REST actions that reach people outside the conversation are held to limits (penetration test, #15):
/// the offline form (agents, webhooks, search) and transcripts (mail to an outside address).
/// </summary>
public sealed partial class WidgetAbuseTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [BothStores]
    public async Task OfflineForm_RefusesASecondMessageWhileOneIsUnanswered_AndIsLimitedPerVisitorAndPerIp(Store store)
    {
        await using var storage = await TestStorage.CreateAsync(store);
        await using var server = await ParleyServer.StartAsync(storage, new Dictionary<string, string?>
        {
            ["Parley:Widget:OfflineMessagesPerHourPerVisitor"] = "2",
            ["Parley:Widget:OfflineMessagesPerHourPerIp"] = "6",
        });
        var (admin, _) = await AgentClient.SignInAsync(server);
        using var _admin = admin;
        var session = await VisitorClient.CreateSessionAsync(server);
        using var visitor = WidgetTestKit.VisitorHttp(server, session.VisitorToken);

        // Request 1: stored. Request 2, a retry with the same client id, returns the original without a second row.
        var clientId = Guid.NewGuid().ToString();
        var first = await OfflineAsync(visitor, "Please call me back", clientId);
        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        var offline = (await first.Content.ReadFromJsonAsync<OfflineMessageResponse>(Ct))!;
        var retry = await OfflineAsync(visitor, "Please call me back", clientId);
        Assert.Equal(HttpStatusCode.OK, retry.StatusCode);
        Assert.Equal(offline.Ack.Id, (await retry.Content.ReadFromJsonAsync<OfflineMessageResponse>(Ct))!.Ack.Id);

        // Request 3: another message while the first is unanswered is refused.
        var pending = await OfflineAsync(visitor, "spam 1");
        Assert.Equal(HttpStatusCode.Conflict, pending.StatusCode);
        Assert.Equal("offline_pending", await WidgetTestKit.ProblemCodeAsync(pending));

        // An agent answers: request 4 is the visitor's second (and last) of the hour; request 5 exceeds it.
        await ReplyAsync(admin, offline.Conversation.Id);
        Assert.Equal(HttpStatusCode.OK, (await OfflineAsync(visitor, "One more thing")).StatusCode);
        await ReplyAsync(admin, offline.Conversation.Id);
        var overVisitor = await OfflineAsync(visitor, "spam 2");
        Assert.Equal(HttpStatusCode.TooManyRequests, overVisitor.StatusCode);
        Assert.Equal("rate_limited", await WidgetTestKit.ProblemCodeAsync(overVisitor));

        // A fresh visitor token from the same address: request 6 passes, request 7 is over the per-IP budget.
        var other = await VisitorClient.CreateSessionAsync(server);
        using var otherHttp = WidgetTestKit.VisitorHttp(server, other.VisitorToken);
        Assert.Equal(HttpStatusCode.OK, (await OfflineAsync(otherHttp, "hello")).StatusCode);
        var third = await VisitorClient.CreateSessionAsync(server);
        using var thirdHttp = WidgetTestKit.VisitorHttp(server, third.VisitorToken);
        var overIp = await OfflineAsync(thirdHttp, "spam 3");
        Assert.Equal(HttpStatusCode.TooManyRequests, overIp.StatusCode);

        var stored = await server.MessagesAsync(offline.Conversation.Id);
        Assert.Equal(["Please call me back", "One more thing"], stored.Where(m => m.SenderKind == SenderKind.Visitor).Select(m => m.Body));
    }

    [Theory]
    [BothStores]
    public async Task Transcript_OnlyOfTheVisitorsOwnClosedConversation_AfterTheAddressConfirms_AndRateLimited(Store store)
    {
        await using var smtp = new SmtpSink();
        await using var storage = await TestStorage.CreateAsync(store);
        await using var server = await ParleyServer.StartAsync(storage, new Dictionary<string, string?>
        {
            ["Parley:Smtp:Host"] = "127.0.0.1",
            ["Parley:Smtp:Port"] = smtp.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Parley:Smtp:EnableSsl"] = "false",
            ["Parley:Smtp:From"] = "support@shop.example",
            ["Parley:Widget:TranscriptsPerHourPerVisitor"] = "3",
        });
        var (admin, _) = await AgentClient.SignInAsync(server);
        using var _admin = admin;
        const string Spam = "BUY CHEAP WATCHES at https://spam.example";
        var session = await VisitorClient.CreateSessionAsync(server);
        using var visitor = WidgetTestKit.VisitorHttp(server, session.VisitorToken);
        var left = await visitor.PostAsJsonAsync("/api/v1/widget/offline", new OfflineMessageRequest(Spam, "me@visitor.example", null, null, Spam, Guid.NewGuid().ToString()), Ct);
        left.EnsureSuccessStatusCode();
        var conversation = (await left.Content.ReadFromJsonAsync<OfflineMessageResponse>(Ct))!.Conversation.Id;
        var path = $"/api/v1/widget/conversations/{conversation}/transcript";

        // Open: refused (the test's first request of the visitor's three).
        var open = await visitor.PostAsJsonAsync(path, new TranscriptRequest("victim@outside.example"), Ct);
        Assert.Equal(HttpStatusCode.Conflict, open.StatusCode);
        Assert.Equal("conversation_open", await WidgetTestKit.ProblemCodeAsync(open));

        // Another visitor's conversation is an unknown id.
        var stranger = await VisitorClient.CreateSessionAsync(server);
        using var strangerHttp = WidgetTestKit.VisitorHttp(server, stranger.VisitorToken);
        Assert.Equal(HttpStatusCode.NotFound, (await strangerHttp.PostAsJsonAsync(path, new TranscriptRequest("victim@outside.example"), Ct)).StatusCode);

        // Closed: the outside address gets a fixed confirmation text (no visitor text), not the transcript.
        (await admin.PostAsync($"/api/v1/conversations/{conversation}/close", null, Ct)).EnsureSuccessStatusCode();
        Assert.Equal(HttpStatusCode.NoContent, (await visitor.PostAsJsonAsync(path, new TranscriptRequest("victim@outside.example"), Ct)).StatusCode);
        var confirmation = (await smtp.Mails.WaitForCountAsync(1))[0];
        Assert.Contains("victim@outside.example", confirmation);
        Assert.DoesNotContain("BUY CHEAP", confirmation, StringComparison.OrdinalIgnoreCase);
        var text = SmtpSink.BodyOf(confirmation);
        Assert.DoesNotContain("BUY CHEAP", text, StringComparison.OrdinalIgnoreCase);
        var link = new Uri(LinkPattern().Match(text).Value);

        using var anonymous = server.CreateHttpClient();
        var forged = await anonymous.GetAsync(link.PathAndQuery[..^4] + "AAAA", Ct);
        Assert.Equal(HttpStatusCode.BadRequest, forged.StatusCode);
        Assert.Equal("confirmation_invalid", await WidgetTestKit.ProblemCodeAsync(forged));

        // Opening the link sends the transcript to that address.
        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync(link.PathAndQuery, Ct)).StatusCode);
        var transcript = (await smtp.Mails.WaitForCountAsync(2))[1];
        Assert.Contains("victim@outside.example", transcript);
        Assert.Contains("BUY CHEAP", SmtpSink.BodyOf(transcript), StringComparison.Ordinal);

        // The visitor's budget (3 an hour) is spent by the refused and the accepted requests.
        Assert.Equal(HttpStatusCode.NoContent, (await visitor.PostAsJsonAsync(path, new TranscriptRequest(null), Ct)).StatusCode);
        var limited = await visitor.PostAsJsonAsync(path, new TranscriptRequest(null), Ct);
        Assert.Equal(HttpStatusCode.TooManyRequests, limited.StatusCode);
        Assert.Equal("rate_limited", await WidgetTestKit.ProblemCodeAsync(limited));
    }

    private static Task<HttpResponseMessage> OfflineAsync(HttpClient visitor, string message, string? clientId = null) =>
        visitor.PostAsJsonAsync("/api/v1/widget/offline", new OfflineMessageRequest("Ada", "ada@example.com", null, null, message, clientId ?? Guid.NewGuid().ToString()), Ct);

    private static async Task ReplyAsync(HttpClient admin, Guid conversation) =>
        (await admin.PostAsJsonAsync($"/api/v1/conversations/{conversation}/messages", new { clientId = Guid.NewGuid(), body = "We will call you." }, Ct)).EnsureSuccessStatusCode();

    [GeneratedRegex(@"https?://\S+/api/v1/widget/transcripts/confirm\?token=\S+")]
    private static partial Regex LinkPattern();
}
