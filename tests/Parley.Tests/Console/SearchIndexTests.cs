using System.Net.Http.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Parley.Data;
using Parley.Server.Features.Console;
using Parley.Tests.Infrastructure;
using Parley.Tests.Security;

namespace Parley.Tests.Console;

/// <summary>
/// #18's bigram index behind history search, on both stores: the indexer runs off the message path up to its
/// watermark, messages above it are still found, erased and deleted messages leave the index, the sandbox holds.
/// </summary>
public sealed class SearchIndexTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [BothStores]
    public async Task Index_FindsTwoCharacterChineseAndMixedTerms_AboveAndBelowTheWatermark_WithinTheSandbox(Store store)
    {
        await using var storage = await TestStorage.CreateAsync(store);
        // The background pass runs once at start; the test drives the rest. Small pages exercise the batch walk.
        await using var server = await ParleyServer.StartAsync(storage, new Dictionary<string, string?>
        {
            ["Parley:Console:SearchIndexIntervalSeconds"] = "3600",
            ["Parley:Console:SearchPageSize"] = "2",
            ["Parley:Console:SearchDirectWindow"] = "0", // PostgreSQL: go to the index at once (the newest ids are read directly otherwise)
        });
        var indexer = server.Services.GetRequiredService<MessageSearchIndexer>();
        var sales = await server.CreateTeamAsync("Sales");
        var billing = await server.CreateTeamAsync("Billing");
        await server.CreateUserAsync("sam@test.local", "agent", sales);
        var (salesVisitor, salesChat) = await server.VisitorInTeamAsync(sales, "我要退款 please");
        var (billingVisitor, billingChat) = await server.VisitorInTeamAsync(billing, "退款 billing secret");
        await using var _ = salesVisitor;
        await using var __ = billingVisitor;
        await salesVisitor.SendAsync(salesChat, "Invoice INV-77 for 退款");
        await billingVisitor.SendAsync(billingChat, "invoice for the billing team");
        await using var admin = await AgentClient.ConnectAsync(server);
        await using var sam = await AgentClient.ConnectAsAsync(server, "sam@test.local", SecurityFixtures.Password);

        await indexer.CatchUpAsync(Ct);
        var indexedUpTo = await WatermarkAsync(server);
        Assert.Equal(await Db(server, db => db.Messages.MaxAsync(m => m.Id, Ct)), indexedUpTo);
        Assert.Equal(3, (await IndexedAsync(server, store, "退款")).Count);

        // Newer than the watermark: found by LIKE before the index is walked, newest first.
        var fresh = await salesVisitor.SendAsync(salesChat, "新的退款申请");
        Assert.True(fresh.Id > indexedUpTo);
        var page = await SearchAsync(admin, "退款");
        Assert.Equal(["新的退款申请", "Invoice INV-77 for 退款"], page.Items.Select(h => h.Snippet));
        var rest = await SearchAsync(admin, "退款", page.NextCursor);
        Assert.Equal(["退款 billing secret", "我要退款 please"], rest.Items.Select(h => h.Snippet));
        Assert.Null(rest.NextCursor);

        // Mixed Chinese and English, ASCII case folded as LIKE does, one character (no index), LIKE wildcards literal.
        Assert.Equal("Invoice INV-77 for 退款", Assert.Single((await SearchAsync(admin, "inv-77 FOR 退款")).Items).Snippet);
        Assert.Equal(2, (await SearchAsync(admin, "INVOICE")).Items.Count);
        Assert.Equal(2, (await SearchAsync(admin, "退")).Items.Count);
        Assert.Empty((await SearchAsync(admin, "退_")).Items);

        // The sandbox: an agent of Sales never gets Billing's hits, above or below the watermark, on any page.
        var samHits = await SearchAsync(sam, "退款");
        Assert.All(samHits.Items, h => Assert.Equal(salesChat, h.ConversationId));
        var samRest = await SearchAsync(sam, "退款", samHits.NextCursor);
        Assert.Equal("我要退款 please", Assert.Single(samRest.Items).Snippet);
        Assert.Null(samRest.NextCursor);
        Assert.Empty((await SearchAsync(sam, "billing")).Items);
        Assert.Empty((await SearchAsync(sam, "secret")).Items);

        // Erasure removes the conversation's index rows with its text; the search no longer finds it.
        await indexer.CatchUpAsync(Ct);
        Assert.Single(await IndexedAsync(server, store, "secret"));
        var contactId = await Db(server, db => db.Conversations.Where(c => c.Id == billingChat).Select(c => c.ContactId).SingleAsync(Ct));
        (await admin.Http.PostAsync($"/api/v1/contacts/{contactId}/erase", null, Ct)).EnsureSuccessStatusCode();
        Assert.Empty(await IndexedAsync(server, store, "secret"));
        Assert.Empty(await IndexedAsync(server, store, "billing"));
        Assert.Empty((await SearchAsync(admin, "secret")).Items);
        Assert.All((await SearchAsync(admin, "退款")).Items, h => Assert.Equal(salesChat, h.ConversationId));
        await indexer.CatchUpAsync(Ct);
        Assert.Empty(await IndexedAsync(server, store, "secret"));

        // Retention's delete (the conversation row; its messages cascade) takes the index rows with it.
        Assert.Equal(3, (await IndexedAsync(server, store, "退款")).Count);
        await Db(server, db => db.Conversations.Where(c => c.Id == salesChat).ExecuteDeleteAsync(Ct));
        Assert.Empty(await IndexedAsync(server, store, "退款"));
        Assert.Empty((await SearchAsync(admin, "退款")).Items);
    }

    [Fact]
    public void SqliteGrams_AreTheDistinctAdjacentPairs_WithAsciiLettersFolded()
    {
        Assert.Equal(["g00610062", "g00620061"], MessageSearchIndexer.SqliteGrams("AbAb").Order(StringComparer.Ordinal));
        Assert.Equal(["g90006b3e"], MessageSearchIndexer.SqliteGrams("退款"));
        Assert.Empty(MessageSearchIndexer.SqliteGrams("退"));
        Assert.NotEqual(MessageSearchIndexer.SqliteGrams("éa"), MessageSearchIndexer.SqliteGrams("Éa")); // SQLite's LIKE folds ASCII only
    }

    private static async Task<SearchPage> SearchAsync(AgentClient agent, string q, string? cursor = null) =>
        (await agent.Http.GetFromJsonAsync<SearchPage>("/api/v1/search/messages?q=" + Uri.EscapeDataString(q) + (cursor is null ? "" : "&cursor=" + cursor), Ct))!;

    private static Task<long> WatermarkAsync(ParleyServer server) => Db(server, db => MessageSearchIndexer.WatermarkAsync(db, Ct));

    /// <summary>The message ids the index itself holds for every bigram of the term (no LIKE, no sandbox).</summary>
    private static Task<List<long>> IndexedAsync(ParleyServer server, Store store, string term) => Db(server, db => store == Store.Postgres
        ? db.Database.SqlQuery<long>($"""SELECT "MessageId" AS "Value" FROM "MessageSearchGrams" WHERE "Grams" @> parley_search_grams({term})""").ToListAsync(Ct)
        : db.Database.SqlQuery<long>($"""SELECT rowid AS "Value" FROM "MessageSearchFts" WHERE "MessageSearchFts" MATCH {string.Join(' ', MessageSearchIndexer.SqliteGrams(term))}""").ToListAsync(Ct));

    private static async Task<T> Db<T>(ParleyServer server, Func<ParleyDbContext, Task<T>> query)
    {
        await using var scope = server.Services.CreateAsyncScope();
        return await query(scope.ServiceProvider.GetRequiredService<ParleyDbContext>());
    }
}
