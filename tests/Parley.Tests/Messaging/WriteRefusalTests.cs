using System.Net;
using System.Net.Http.Json;
using Microsoft.AspNetCore.SignalR;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Parley.Data;
using Parley.Tests.Infrastructure;
using Parley.Tests.Widget;

namespace Parley.Tests.Messaging;

/// <summary>Text sends and attachment uploads answer a refused write alike (one outcome-to-error mapping).</summary>
public sealed class WriteRefusalTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [BothStores]
    public async Task AttachmentFromABlockedContact_IsContactBlocked_Not404(Store store)
    {
        await using var storage = await TestStorage.CreateAsync(store);
        await using var server = await ParleyServer.StartAsync(storage);
        await using var admin = await AgentClient.ConnectAsync(server);
        await using var visitor = await VisitorClient.ConnectAsync(server);
        var conversation = await visitor.StartConversationAsync();
        await visitor.SendAsync(conversation.Id, "buy cheap watches");
        (await admin.Http.PostAsJsonAsync($"/api/v1/conversations/{conversation.Id}/spam", new { }, Ct)).EnsureSuccessStatusCode();
        (await admin.Http.PostAsync($"/api/v1/conversations/{conversation.Id}/reopen", null, Ct)).EnsureSuccessStatusCode();
        var before = (await server.MessagesAsync(conversation.Id)).Count;

        using var visitorHttp = WidgetTestKit.VisitorHttp(server, visitor.Token);
        var upload = await WidgetTestKit.UploadAsync(visitorHttp, $"/api/v1/widget/conversations/{conversation.Id}/attachments", WidgetTestKit.Png, "a.png");

        // The same answer as a text send by the same contact (one outcome-to-error mapping for both paths).
        Assert.Equal(HttpStatusCode.Forbidden, upload.StatusCode);
        Assert.Equal("contact_blocked", await WidgetTestKit.ProblemCodeAsync(upload));
        var send = await Assert.ThrowsAsync<HubException>(() => visitor.SendAsync(conversation.Id, "again"));
        Assert.Contains("contact_blocked", send.Message, StringComparison.Ordinal);
        Assert.Equal(before, (await server.MessagesAsync(conversation.Id)).Count);
    }

    [Theory]
    [BothStores]
    public async Task ABatchThatFailsInsideItsTransaction_StoresNothing_AndTheNextSendIsStoredRightAfter(Store store)
    {
        // The SQLite write path begins and commits its transaction with its own prepared statements, PostgreSQL's with
        // Npgsql's transaction; a batch that fails in between must be rolled back (nothing stored, no sequence number
        // used) and leave a working connection behind.
        await using var storage = await TestStorage.CreateAsync(store);
        await using var server = await ParleyServer.StartAsync(storage);
        await using var visitor = await VisitorClient.ConnectAsync(server);
        var conversation = await visitor.StartConversationAsync();
        var first = await visitor.SendAsync(conversation.Id, "first");

        async Task SqlAsync(string sql)
        {
            await using var scope = server.Services.CreateAsyncScope();
            await scope.ServiceProvider.GetRequiredService<ParleyDbContext>().Database.ExecuteSqlRawAsync(sql, Ct);
        }

        if (store == Store.Sqlite)
        {
            await SqlAsync("""CREATE TRIGGER "test_fail" BEFORE INSERT ON "Messages" WHEN NEW."Body" = 'boom' BEGIN SELECT RAISE(ABORT, 'refused by the test'); END""");
        }
        else
        {
            await SqlAsync("""CREATE FUNCTION test_fail() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF NEW."Body" = 'boom' THEN RAISE EXCEPTION 'refused by the test'; END IF; RETURN NEW; END $$""");
            await SqlAsync("""CREATE TRIGGER "test_fail" BEFORE INSERT ON "Messages" FOR EACH ROW EXECUTE FUNCTION test_fail()""");
        }

        var failed = await Assert.ThrowsAsync<HubException>(() => visitor.SendAsync(conversation.Id, "boom"));
        Assert.Contains("unavailable", failed.Message, StringComparison.Ordinal);
        await SqlAsync(store == Store.Sqlite ? """DROP TRIGGER "test_fail" """ : """DROP TRIGGER "test_fail" ON "Messages" """);

        var next = await visitor.SendAsync(conversation.Id, "after");
        Assert.Equal(first.Seq + 1, next.Seq);
        var stored = await server.MessagesAsync(conversation.Id);
        Assert.DoesNotContain(stored, m => m.Body == "boom");
        Assert.Equal(["first", "after"], stored.Where(m => m.Body is "first" or "after" or "boom").Select(m => m.Body));
    }
}
