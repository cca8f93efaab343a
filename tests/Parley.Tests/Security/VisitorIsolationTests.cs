using System.Net;
using Microsoft.AspNetCore.SignalR;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Parley.Data;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Security;

/// <summary>
/// Visitor tokens reach only their own conversations (Rocket.Chat livechat:loadHistory, LiveHelperChat CVE-2022-1176),
/// and concurrent starts never create two open conversations (Rocket.Chat #38148).
/// </summary>
public sealed class VisitorIsolationTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [BothStores]
    public async Task VisitorToken_CannotReadOrWriteAnotherVisitorsConversation(Store store)
    {
        await using var storage = await TestStorage.CreateAsync(store);
        await using var server = await ParleyServer.StartAsync(storage);
        await using var alice = await VisitorClient.ConnectAsync(server);
        await using var mallory = await VisitorClient.ConnectAsync(server);
        var conversation = await alice.StartConversationAsync();
        await alice.SendAsync(conversation.Id, "my address is 1 Secret Lane");

        // Read: replay of the other conversation, from the beginning.
        var read = await Assert.ThrowsAsync<HubException>(() => mallory.ResumeAsync(conversation.Id, 0));
        Assert.Contains("conversation_not_found:", read.Message, StringComparison.Ordinal);

        // Write: a message into it.
        var write = await Assert.ThrowsAsync<HubException>(() => mallory.SendAsync(conversation.Id, "injected"));
        Assert.Contains("conversation_not_found:", write.Message, StringComparison.Ordinal);
        Assert.Equal(["my address is 1 Secret Lane"], (await server.MessagesAsync(conversation.Id)).Select(m => m.Body));

        // Nothing of it was pushed to the intruder either.
        await alice.SendAsync(conversation.Id, "second message");
        var own = await mallory.StartConversationAsync();
        await mallory.SendAsync(own.Id, "barrier");
        await mallory.Messages.WaitUntilAsync(m => m.Any(x => x.Body == "barrier"));
        Assert.DoesNotContain(mallory.Messages.Snapshot(), m => m.ConversationId == conversation.Id);

        // The console REST API does not accept a visitor token at all.
        using var http = server.CreateHttpClient();
        http.DefaultRequestHeaders.Authorization = new("Bearer", mallory.Token);
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync($"/api/v1/conversations/{conversation.Id}/messages", Ct)).StatusCode);
    }

    [Fact]
    public async Task VisitorToken_IsBoundToItsSite()
    {
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage);
        await using var visitor = await VisitorClient.ConnectAsync(server);
        var conversation = await visitor.StartConversationAsync();

        // Move the conversation to another site (as if ids collided or were guessed across tenants): the token's
        // site no longer matches, so the conversation is out of reach.
        await using (var scope = server.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<ParleyDbContext>();
            var other = new Site { Id = Guid.CreateVersion7(), Key = "other-site", Name = "Other", Secret = "s", CreatedAt = DateTime.UtcNow };
            db.Sites.Add(other);
            await db.SaveChangesAsync(Ct);
            await db.Conversations.Where(c => c.Id == conversation.Id).ExecuteUpdateAsync(s => s.SetProperty(c => c.SiteId, other.Id), Ct);
        }

        var error = await Assert.ThrowsAsync<HubException>(() => visitor.ResumeAsync(conversation.Id, 0));
        Assert.Contains("conversation_not_found:", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [BothStores]
    public async Task ConcurrentStarts_FromManyConnections_CreateOneOpenConversation(Store store)
    {
        await using var storage = await TestStorage.CreateAsync(store);
        await using var server = await ParleyServer.StartAsync(storage);
        var session = await VisitorClient.CreateSessionAsync(server);
        var tabs = new List<VisitorClient>();
        try
        {
            for (var i = 0; i < 6; i++)
            {
                tabs.Add(await VisitorClient.ConnectAsync(server, session.VisitorToken));
            }

            // Every tab starts at once, several times: the unique "one active conversation per contact" index and
            // the retry converge them on one conversation.
            var starts = await Task.WhenAll(tabs.SelectMany(t => Enumerable.Range(0, 4).Select(_ => t.StartConversationAsync())));
            Assert.Single(starts.Select(s => s.Id).Distinct());

            await using var scope = server.Services.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<ParleyDbContext>();
            Assert.Equal(1, await db.Conversations.CountAsync(c => c.ContactId == session.ContactId && c.Status != ConversationStatus.Closed, Ct));
        }
        finally
        {
            foreach (var tab in tabs)
            {
                await tab.DisposeAsync();
            }
        }
    }
}
