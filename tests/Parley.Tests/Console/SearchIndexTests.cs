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

    [Theory]
    [BothStores]
    public async Task DepartmentPostings_FollowATransfer_AndAnAssignmentOutsideTheDepartment_BeforeAndAfterTheRetag(Store store)
    {
        await using var storage = await TestStorage.CreateAsync(store);
        await using var server = await ParleyServer.StartAsync(storage, new Dictionary<string, string?>
        {
            ["Parley:Console:SearchIndexIntervalSeconds"] = "3600",
            ["Parley:Console:SearchDirectWindow"] = "0",
        });
        var indexer = server.Services.GetRequiredService<MessageSearchIndexer>();
        var sales = await server.CreateTeamAsync("Sales");
        var billing = await server.CreateTeamAsync("Billing");
        var samId = (await server.CreateUserAsync("sam@test.local", "agent", sales)).Id;
        await server.CreateUserAsync("bea@test.local", "agent", billing);
        var (moving, movingChat) = await server.VisitorInTeamAsync(billing, "退款 moved to sales");
        var (assigned, assignedChat) = await server.VisitorInTeamAsync(billing, "退款 assigned to sam");
        var (staying, stayingChat) = await server.VisitorInTeamAsync(billing, "退款 stays in billing");
        var (unteamed, unteamedChat) = await server.VisitorInTeamAsync(null, "退款 in the general queue");
        await using var _ = moving;
        await using var __ = assigned;
        await using var ___ = staying;
        await using var ____ = unteamed;
        // Signed in over HTTP only: nobody is online, so routing assigns nothing and only the departments decide.
        using var admin = await server.SignInAsync(ParleyServer.AdminEmail, ParleyServer.AdminPassword);
        using var sam = await server.SignInAsync("sam@test.local");
        using var bea = await server.SignInAsync("bea@test.local");

        await indexer.CatchUpAsync(Ct);
        Assert.Equal(0, await RetagQueueAsync(server));
        Assert.Equal(0, await Db(server, db => db.Conversations.CountAsync(c => c.AssigneeId != null, Ct)));
        Assert.Equal([unteamedChat], (await SearchAsync(sam, "退款")).Items.Select(h => h.ConversationId));
        Assert.Equal([unteamedChat, stayingChat, assignedChat, movingChat], (await SearchAsync(bea, "退款")).Items.Select(h => h.ConversationId));

        // The postings carry the department: Billing's key holds the three Billing messages, Sales' none of them.
        Assert.Equal(3, (await IndexedAsync(server, store, "退款", billing)).Count);
        Assert.Empty(await IndexedAsync(server, store, "退款", sales));
        Assert.Single(await IndexedAsync(server, store, "退款", null));

        // A transfer through the API and an assignment to Sam outside his department.
        (await admin.PutAsJsonAsync($"/api/v1/routing/conversations/{movingChat}", new { teamId = sales }, Ct)).EnsureSuccessStatusCode();
        (await admin.PostAsJsonAsync($"/api/v1/conversations/{assignedChat}/assign", new { userId = samId }, Ct)).EnsureSuccessStatusCode();
        Assert.Equal(1, await RetagQueueAsync(server)); // the department changed for one; an assignment keeps it

        // Before the indexer re-tags: the queued conversation and the one assigned outside Sales are read directly.
        Assert.Equal([unteamedChat, assignedChat, movingChat], (await SearchAsync(sam, "退款")).Items.Select(h => h.ConversationId));
        Assert.Equal([unteamedChat, stayingChat, assignedChat], (await SearchAsync(bea, "退款")).Items.Select(h => h.ConversationId));

        // After: the moved conversation's postings are Sales', the queue is empty, and the searches say the same.
        await indexer.CatchUpAsync(Ct);
        Assert.Equal(0, await RetagQueueAsync(server));
        Assert.Single(await IndexedAsync(server, store, "退款", sales));
        Assert.Equal(2, (await IndexedAsync(server, store, "退款", billing)).Count);
        Assert.Equal([unteamedChat, assignedChat, movingChat], (await SearchAsync(sam, "退款")).Items.Select(h => h.ConversationId));
        Assert.Equal([unteamedChat, stayingChat, assignedChat], (await SearchAsync(bea, "退款")).Items.Select(h => h.ConversationId));
        Assert.Equal(4, (await SearchAsync(admin, "退款")).Items.Count);
        Assert.Empty((await SearchAsync(sam, "billing")).Items); // the Billing conversation that stayed

        // A message sent after the move is indexed under Sales straight away.
        await moving.SendAsync(movingChat, "又一个退款");
        await indexer.CatchUpAsync(Ct);
        Assert.Equal(2, (await IndexedAsync(server, store, "退款", sales)).Count);
        Assert.Equal("又一个退款", (await SearchAsync(sam, "退款")).Items[0].Snippet);
    }

    [Fact]
    public async Task Postgres_WalksTheIdBucketsNewestFirst_PastEmptyOnes_ForAdminsAndDepartments()
    {
        await using var storage = await TestStorage.CreateAsync(Store.Postgres);
        await using var server = await ParleyServer.StartAsync(storage, new Dictionary<string, string?>
        {
            ["Parley:Console:SearchIndexIntervalSeconds"] = "3600",
            ["Parley:Console:SearchPageSize"] = "2",
            ["Parley:Console:SearchDirectWindow"] = "0",
        });
        var sales = await server.CreateTeamAsync("Sales");
        await server.CreateUserAsync("sam@test.local", "agent", sales);
        var (visitor, chat) = await server.VisitorInTeamAsync(sales, "退款 in bucket 0");
        await using var _ = visitor;
        var (other, otherChat) = await server.VisitorInTeamAsync(null, "nothing to find");
        await using var __ = other;

        // Messages placed in id buckets 1, 3 (two) and 5; buckets 2 and 4 hold none of the term.
        const long bucket = 1L << MessageSearchIndexer.PostgresBucketBits;
        long[] ids = [bucket + 5, 2 * bucket + 7, 3 * bucket + 1, 3 * bucket + 9, 4 * bucket + 3, 5 * bucket + 2];
        await Db(server, async db =>
        {
            var seq = 100;
            foreach (var id in ids)
            {
                var inSales = id % bucket != 7 && id % bucket != 3;
                db.Messages.Add(new Parley.Data.Message
                {
                    Id = id,
                    ConversationId = inSales ? chat : otherChat,
                    Seq = seq++,
                    ClientId = Guid.NewGuid(),
                    SenderKind = Parley.Data.SenderKind.Visitor,
                    Kind = Parley.Data.MessageKind.Text,
                    Body = inSales ? $"退款 {id}" : $"unrelated {id}",
                    CreatedAt = DateTime.UnixEpoch,
                });
            }

            return await db.SaveChangesAsync(Ct);
        });
        await server.Services.GetRequiredService<MessageSearchIndexer>().CatchUpAsync(Ct);
        Assert.Equal(ids[^1], await WatermarkAsync(server));

        using var admin = await server.SignInAsync(ParleyServer.AdminEmail, ParleyServer.AdminPassword);
        using var sam = await server.SignInAsync("sam@test.local");
        foreach (var who in new[] { admin, sam })
        {
            var found = new List<long>();
            string? cursor = null;
            do
            {
                var page = await SearchAsync(who, "退款", cursor);
                found.AddRange(page.Items.Select(h => h.MessageId));
                cursor = page.NextCursor;
            }
            while (cursor is not null);

            Assert.Equal(5, found.Count);
            Assert.Equal([5 * bucket + 2, 3 * bucket + 9, 3 * bucket + 1, bucket + 5], found.Take(4));
            Assert.True(found[4] < bucket);
        }
    }

    [Fact]
    public async Task PostgresScopeAndKeys_AreWhatTheDatabaseComputes()
    {
        await using var storage = await TestStorage.CreateAsync(Store.Postgres);
        await using var server = await ParleyServer.StartAsync(storage);
        foreach (var team in new Guid?[] { null, Guid.CreateVersion7(), Guid.NewGuid(), Guid.Parse("ffffffff-ffff-ffff-ffff-ffffffffffff"), Guid.Empty })
        {
            var computed = await Db(server, db => db.Database.SqlQuery<int>($"""SELECT parley_search_scope({team}) AS "Value" """).SingleAsync(Ct));
            Assert.Equal(MessageSearchIndexer.PostgresScopeKey(team), computed);
            Assert.InRange(computed, 0, (1 << 28) + 1);
        }

        // The search computes the qualified keys itself from the database's bigram hashes: the same as the index's.
        var grams = await Db(server, db => db.Database.SqlQuery<int>($"""SELECT unnest(parley_search_grams('订单号 #1 Refund')) AS "Value" """).ToListAsync(Ct));
        Assert.NotEmpty(grams);
        foreach (var (scope, bucket) in new[] { (MessageSearchIndexer.PostgresAllDepartments, 0), (0, 7), ((1 << 28) + 1, 4095), (12345, 1 << 20) })
        {
            var keys = await Db(server, db => db.Database.SqlQuery<int>($"""SELECT unnest(parley_search_qualified({grams.ToArray()}, {scope}, {bucket})) AS "Value" """).ToListAsync(Ct));
            Assert.Equal(keys, MessageSearchIndexer.PostgresKeys(grams, scope, bucket));
            Assert.All(keys, k => Assert.True(k < 0));
        }
    }

    [Fact]
    public void SqliteGrams_AreTheDistinctAdjacentPairs_WithAsciiLettersFolded()
    {
        Assert.Equal(["g00610062", "g00620061"], MessageSearchIndexer.SqliteGrams("AbAb").Order(StringComparer.Ordinal));
        Assert.Equal(["g90006b3e"], MessageSearchIndexer.SqliteGrams("退款"));
        Assert.Empty(MessageSearchIndexer.SqliteGrams("退"));
        Assert.NotEqual(MessageSearchIndexer.SqliteGrams("éa"), MessageSearchIndexer.SqliteGrams("Éa")); // SQLite's LIKE folds ASCII only
    }

    private static Task<SearchPage> SearchAsync(AgentClient agent, string q, string? cursor = null) => SearchAsync(agent.Http, q, cursor);

    [Theory]
    [BothStores]
    public async Task Indexer_AsksForAnotherPassAtOnce_OnlyAfterAFullBatch(Store store)
    {
        await using var storage = await TestStorage.CreateAsync(store);
        await using var server = await ParleyServer.StartAsync(storage, new Dictionary<string, string?>
        {
            ["Parley:Console:SearchIndexIntervalSeconds"] = "3600", // the background pass runs once at start; the test drives the rest
            ["Parley:Console:SearchIndexBatch"] = "100",
            ["Parley:Console:SearchIndexSqliteBatch"] = "100",
        });
        var indexer = server.Services.GetRequiredService<MessageSearchIndexer>();
        var (visitor, chat) = await server.VisitorInTeamAsync(null, "退款 first");
        await using var _ = visitor;
        await indexer.CatchUpAsync(Ct);

        // A trickle: the pass takes what there is and does not ask for another (it used to, 20 ms later, for ever).
        await visitor.SendAsync(chat, "退款 second");
        var trickle = await indexer.PassAsync(Ct);
        Assert.True(trickle.Done > 0);
        Assert.False(trickle.More);
        Assert.Equal((0, false), await indexer.PassAsync(Ct));

        // A backlog of more than a batch: a full pass asks for the next one at once, the one that empties it does not.
        var top = await Db(server, async db =>
        {
            var last = await db.Messages.MaxAsync(m => m.Id, Ct);
            for (var i = 1; i <= 130; i++)
            {
                db.Messages.Add(new Parley.Data.Message
                {
                    Id = last + i,
                    ConversationId = chat,
                    Seq = 1000 + i,
                    ClientId = Guid.NewGuid(),
                    SenderKind = Parley.Data.SenderKind.Visitor,
                    Kind = Parley.Data.MessageKind.Text,
                    Body = $"退款 backlog {i}",
                    CreatedAt = DateTime.UnixEpoch,
                });
            }

            await db.SaveChangesAsync(Ct);
            return last + 130;
        });
        Assert.Equal((100, true), await indexer.PassAsync(Ct));
        Assert.Equal((30, false), await indexer.PassAsync(Ct));
        Assert.Equal(top, await WatermarkAsync(server));
        Assert.Equal(132, (await IndexedAsync(server, store, "退款")).Count);
    }

    private static async Task<SearchPage> SearchAsync(HttpClient http, string q, string? cursor = null) =>
        (await http.GetFromJsonAsync<SearchPage>("/api/v1/search/messages?q=" + Uri.EscapeDataString(q) + (cursor is null ? "" : "&cursor=" + cursor), Ct))!;

    private static Task<int> RetagQueueAsync(ParleyServer server) =>
        Db(server, db => db.Database.SqlQuery<int>($"""SELECT count(*) AS "Value" FROM "MessageSearchRetag" """).SingleAsync(Ct));

    /// <summary>The message ids the index holds for every bigram of the term under one department's posting.</summary>
    private static Task<List<long>> IndexedAsync(ParleyServer server, Store store, string term, Guid? department) => Db(server, db => store == Store.Postgres
        ? db.Database.SqlQuery<long>($"""SELECT "MessageId" AS "Value" FROM "MessageSearchGrams" WHERE "Grams" @> parley_search_qualified(parley_search_grams({term}), {MessageSearchIndexer.PostgresScopeKey(department)}, 0)""").ToListAsync(Ct)
        : db.Database.SqlQuery<long>($"""SELECT rowid AS "Value" FROM "MessageSearchFts" WHERE "MessageSearchFts" MATCH {string.Join(' ', MessageSearchIndexer.SqliteGrams(term)) + " " + MessageSearchIndexer.SqliteScopeToken(department)}""").ToListAsync(Ct));

    private static Task<long> WatermarkAsync(ParleyServer server) => Db(server, db => MessageSearchIndexer.WatermarkAsync(db, Ct));

    /// <summary>The message ids the index itself holds for every bigram of the term (no LIKE, no sandbox; a test's ids are all in bucket 0).</summary>
    private static Task<List<long>> IndexedAsync(ParleyServer server, Store store, string term) => Db(server, db => store == Store.Postgres
        ? db.Database.SqlQuery<long>($"""SELECT "MessageId" AS "Value" FROM "MessageSearchGrams" WHERE "Grams" @> parley_search_qualified(parley_search_grams({term}), {MessageSearchIndexer.PostgresAllDepartments}, 0)""").ToListAsync(Ct)
        : db.Database.SqlQuery<long>($"""SELECT rowid AS "Value" FROM "MessageSearchFts" WHERE "MessageSearchFts" MATCH {string.Join(' ', MessageSearchIndexer.SqliteGrams(term))}""").ToListAsync(Ct));

    private static async Task<T> Db<T>(ParleyServer server, Func<ParleyDbContext, Task<T>> query)
    {
        await using var scope = server.Services.CreateAsyncScope();
        return await query(scope.ServiceProvider.GetRequiredService<ParleyDbContext>());
    }
}
