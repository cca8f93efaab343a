using System.Net;
using System.Net.Http.Json;
using Parley.Server.Features.Console;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Console;

/// <summary>History search: FTS5 trigram (SQLite) / pg_trgm (PostgreSQL), Chinese included, with highlights and seq to jump to.</summary>
public sealed class SearchTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [BothStores]
    public async Task Search_FindsChineseAndEnglish_WithHighlights_AcrossConversations(Store store)
    {
        await using var storage = await TestStorage.CreateAsync(store);
        await using var server = await ParleyServer.StartAsync(storage);
        await using var admin = await AgentClient.ConnectAsync(server);
        await using var one = await VisitorClient.ConnectAsync(server);
        await using var two = await VisitorClient.ConnectAsync(server);
        var a = await one.StartConversationAsync();
        var b = await two.StartConversationAsync();
        await one.SendAsync(a.Id, "你好，我的订单还没有发货，请帮我查一下物流信息");
        await one.SendAsync(a.Id, "Order #1042 is LATE");
        var note = await admin.SendAsync(a.Id, "内部备注：物流 delayed at customs", note: true);
        await two.SendAsync(b.Id, "请问发票怎么开？物流呢");
        await admin.Http.PostAsync($"/api/v1/conversations/{b.Id}/close", null, Ct); // the "Closed by" event line is not a hit

        // A Chinese phrase of 3+ characters (trigram index on SQLite).
        var hits = await SearchAsync(admin, "查一下物流");
        var hit = Assert.Single(hits.Items);
        Assert.Equal(a.Id, hit.ConversationId);
        Assert.Equal(1, hit.Seq);
        var range = Assert.Single(hit.Highlights);
        Assert.Equal("查一下物流", hit.Snippet.Substring(range.Start, range.Length));

        // Two Chinese characters: below the trigram size, answered by the LIKE fallback; notes are searchable, newest first.
        var shortHits = await SearchAsync(admin, "物流");
        Assert.Equal(3, shortHits.Items.Count);
        Assert.Equal([b.Id, a.Id, a.Id], shortHits.Items.Select(h => h.ConversationId));
        Assert.Equal(note.Seq, shortHits.Items[1].Seq);
        Assert.Equal("note", shortHits.Items[1].Kind);

        // English is case-insensitive; event lines are not results; scoped to one conversation on request.
        var late = Assert.Single((await SearchAsync(admin, "order #1042 is late")).Items);
        Assert.Equal("Order #1042 is LATE", late.Snippet);
        Assert.Empty((await SearchAsync(admin, "Closed by")).Items);
        Assert.Single((await SearchAsync(admin, $"物流&conversationId={b.Id}")).Items);
        Assert.Empty((await SearchAsync(admin, "100%")).Items); // LIKE wildcards are literal

        // Paging by cursor.
        var firstPage = await admin.Http.GetFromJsonAsync<SearchPage>("/api/v1/search/messages?q=" + Uri.EscapeDataString("物流"), Ct);
        Assert.Null(firstPage!.NextCursor);

        var bad = await admin.Http.GetAsync("/api/v1/search/messages?q=", Ct);
        await ConsoleApiTests.AssertProblemAsync(bad, HttpStatusCode.BadRequest, "invalid_query");
    }

    [Fact]
    public void Highlights_AreComputedOnTheSnippet_ForLongBodies()
    {
        var body = new string('a', 200) + " 发货 " + new string('b', 200) + " 发货";
        var hit = MessageSearch.ToHit(new Parley.Data.Message { Body = body, ConversationId = Guid.NewGuid(), Seq = 7 }, null, "发货");
        Assert.StartsWith("…", hit.Snippet, StringComparison.Ordinal);
        Assert.EndsWith("…", hit.Snippet, StringComparison.Ordinal);
        var range = Assert.Single(hit.Highlights);
        Assert.Equal("发货", hit.Snippet.Substring(range.Start, range.Length));
    }

    private static async Task<SearchPage> SearchAsync(AgentClient agent, string query)
    {
        var q = query.Split('&', 2);
        var url = "/api/v1/search/messages?q=" + Uri.EscapeDataString(q[0]) + (q.Length > 1 ? "&" + q[1] : "");
        return (await agent.Http.GetFromJsonAsync<SearchPage>(url, Ct))!;
    }
}
