using System.Net;
using System.Net.Http.Json;
using Parley.Server.Features.Conversations;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Widget;

/// <summary>
/// A truncated replay tells the visitor to page older history over REST; this is the endpoint that accepts the
/// visitor token for it (before it, none did).
/// </summary>
public sealed class VisitorHistoryTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [BothStores]
    public async Task AfterATruncatedReplay_TheVisitorPagesOlderHistory_InTheirNumbering_WithoutNotes(Store store)
    {
        await using var storage = await TestStorage.CreateAsync(store);
        await using var server = await ParleyServer.StartAsync(storage, new Dictionary<string, string?> { ["Parley:Messaging:ReplayLimit"] = "3" });
        await using var visitor = await VisitorClient.ConnectAsync(server);
        await using var agent = await AgentClient.ConnectAsync(server);
        var conversation = await visitor.StartConversationAsync();
        for (var i = 1; i <= 4; i++)
        {
            await visitor.SendAsync(conversation.Id, $"visitor {i}");
            await agent.SendAsync(conversation.Id, $"note {i}", note: true);
        }

        await visitor.SendAsync(conversation.Id, "visitor 5");

        var replay = await visitor.ResumeAsync(conversation.Id, 0);
        Assert.True(replay.Truncated);
        Assert.Equal([3L, 4L, 5L], replay.Messages.Select(m => m.Seq));

        using var http = WidgetTestKit.VisitorHttp(server, visitor.Token);
        var older = await http.GetFromJsonAsync<MessagePage>($"/api/v1/widget/conversations/{conversation.Id}/messages?beforeSeq={replay.Messages[0].Seq}", Ct);
        Assert.Equal([1L, 2L], older!.Items.Select(m => m.Seq));
        Assert.Equal(["visitor 1", "visitor 2"], older.Items.Select(m => m.Body));
        var all = await http.GetFromJsonAsync<MessagePage>($"/api/v1/widget/conversations/{conversation.Id}/messages?afterSeq=0&limit=200", Ct);
        Assert.DoesNotContain(all!.Items, m => m.Kind == "note");
        Assert.Equal([1L, 2L, 3L, 4L, 5L], all.Items.Select(m => m.Seq));

        // Another visitor's token gets the same answer as an unknown conversation; no token, 401.
        await using var stranger = await VisitorClient.ConnectAsync(server);
        using var strangerHttp = WidgetTestKit.VisitorHttp(server, stranger.Token);
        Assert.Equal(HttpStatusCode.NotFound, (await strangerHttp.GetAsync($"/api/v1/widget/conversations/{conversation.Id}/messages", Ct)).StatusCode);
        using var anonymous = server.CreateHttpClient();
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync($"/api/v1/widget/conversations/{conversation.Id}/messages", Ct)).StatusCode);
    }
}
