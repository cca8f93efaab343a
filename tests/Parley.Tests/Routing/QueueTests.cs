using System.Diagnostics;
using System.Net.Http.Json;
using Microsoft.AspNetCore.SignalR.Client;
using Parley.Data;
using Parley.Server.Messaging;
using Parley.Server.Routing;
using Parley.Tests.Infrastructure;
using static Parley.Tests.Routing.RoutingHarness;

namespace Parley.Tests.Routing;

/// <summary>The waiting queue end to end: real agent and visitor hub connections, routing in the background.</summary>
public sealed class QueueTests
{
    [Theory]
    [BothStores]
    public async Task FiveHundredVisitors_TenAgentsOfTwenty_200Assigned_300QueuedInOrder_ThenDrainInOrder(Store store)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var storage = await TestStorage.CreateAsync(store);
        await using var server = await ParleyServer.StartAsync(storage, FastRouting());
        var agents = new List<RoutedAgent>();
        for (var i = 0; i < 10; i++)
        {
            var email = $"agent{i}@test.local";
            agents.Add(await ConnectAgentAsync(server, email, await CreateAgentAsync(server, email, capacity: 20)));
        }

        // 500 visitors arrive at once (bounded client-side concurrency so the test machine's sockets keep up).
        var clock = Stopwatch.StartNew();
        using var gate = new SemaphoreSlim(64);
        var visitors = await Task.WhenAll(Enumerable.Range(0, 500).Select(async _ =>
        {
            await gate.WaitAsync(ct);
            try
            {
                return await ConnectVisitorAsync(server);
            }
            finally
            {
                gate.Release();
            }
        }));
        var arrived = clock.Elapsed;

        var rows = await WaitForStoreAsync(server, r => r.Count == 500 && r.Count(c => c.AssigneeId is not null) == 200, TimeSpan.FromSeconds(60));
        Assert.All(agents, a => Assert.Equal(20, rows.Count(c => c.AssigneeId == a.Id)));
        var (admin, _) = await AgentClient.SignInAsync(server);
        var queue = (await admin.GetFromJsonAsync<List<QueueEntryDto>>("/api/v1/routing/queue?limit=1000", ct))!;
        Assert.Equal(300, queue.Count);
        Assert.True(queue.Zip(queue.Skip(1)).All(p => p.First.QueuedAt <= p.Second.QueuedAt), "the queue is in arrival order");

        // Every waiting visitor was told their exact position; every served one that they are assigned.
        var byConversation = visitors.ToDictionary(v => v.Conversation.Id);
        await Task.WhenAll(queue.Select((entry, i) => byConversation[entry.ConversationId].Queue.WaitUntilAsync(
            s => s.Count > 0 && s[^1].State == QueueStatus.Queued && s[^1].Position == i + 1, TimeSpan.FromSeconds(30))));
        var served = rows.Where(c => c.AssigneeId is not null).Select(c => byConversation[c.Id]).ToList();
        await Task.WhenAll(served.Select(v => v.Queue.WaitUntilAsync(s => s.Count > 0 && s[^1].State == QueueStatus.Assigned, TimeSpan.FromSeconds(30))));
        Assert.All(queue.Take(10), e => Assert.NotNull(byConversation[e.ConversationId].Latest!.EstimatedWaitSeconds));
        var routed = clock.Elapsed;

        // Agents close 15 chats: the first 15 in line are served, in order, and everyone else moves up by 15.
        var toClose = rows.Where(c => c.AssigneeId is not null).Take(15).ToList();
        await Task.WhenAll(toClose.Select(c => PostAsync(admin, $"/api/v1/conversations/{c.Id}/close")));
        var next = queue.Take(15).Select(e => e.ConversationId).ToHashSet();
        rows = await WaitForStoreAsync(server, r => next.All(id => r.Single(c => c.Id == id).AssigneeId is not null), TimeSpan.FromSeconds(30));
        Assert.Equal(200, rows.Count(c => c.AssigneeId is not null && c.Status != ConversationStatus.Closed));
        Assert.All(agents, a => Assert.True(rows.Count(c => c.AssigneeId == a.Id && c.Status != ConversationStatus.Closed) <= 20));
        await Task.WhenAll(queue.Skip(15).Select((entry, i) => byConversation[entry.ConversationId].Queue.WaitUntilAsync(
            s => s.Count > 0 && s[^1].Position == i + 1, TimeSpan.FromSeconds(30))));
        TestContext.Current.TestOutputHelper?.WriteLine($"{store}: 500 arrived in {arrived.TotalSeconds:F1}s, routed and told by {routed.TotalSeconds:F1}s, drained by {clock.Elapsed.TotalSeconds:F1}s");

        admin.Dispose();
        await Task.WhenAll(visitors.Select(v => v.DisposeAsync().AsTask()));
        await Task.WhenAll(agents.Select(a => a.DisposeAsync().AsTask()));
    }

    [Theory]
    [BothStores]
    public async Task AVisitorConnectionThatSubscribesAfterTheAssignment_IsToldItIsAssigned(Store store)
    {
        // The assignment's push reaches only the connections subscribed at that moment: a tab opened (or a connection
        // that started the conversation and subscribed) a moment later must still learn it, or its widget shows a
        // queue position for a chat an agent already holds.
        await using var storage = await TestStorage.CreateAsync(store);
        await using var server = await ParleyServer.StartAsync(storage, FastRouting());
        await using var agent = await ConnectAgentAsync(server, "solo@test.local", await CreateAgentAsync(server, "solo@test.local", capacity: 5));
        await using var first = await ConnectVisitorAsync(server);
        await WaitForStoreAsync(server, r => r.Any(c => c.Id == first.Conversation.Id && c.AssigneeId == agent.Id));

        await using var tab = new RoutedVisitor(await VisitorClient.ConnectAsync(server, first.Client.Token));
        await tab.Client.ResumeAsync(first.Conversation.Id, 0);
        var told = await tab.Queue.WaitUntilAsync(s => s.Count > 0, TimeSpan.FromSeconds(15));
        Assert.Equal(QueueStatus.Assigned, told[^1].State);
        Assert.Equal(first.Conversation.Id, told[^1].ConversationId);
    }

    [Fact]
    public async Task VipOvertakesTheQueue()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage, FastRouting());
        await using var agent = await ConnectAgentAsync(server, "solo@test.local", await CreateAgentAsync(server, "solo@test.local", capacity: 1));
        await using var first = await ConnectVisitorAsync(server);
        await WaitForStoreAsync(server, r => r.Any(c => c.AssigneeId == agent.Id));
        await using var second = await ConnectVisitorAsync(server);
        await using var third = await ConnectVisitorAsync(server);
        await third.Queue.WaitUntilAsync(s => s.Count > 0 && s[^1].Position == 2);

        await using var vip = await ConnectVisitorAsync(server);
        var (admin, _) = await AgentClient.SignInAsync(server);
        (await admin.PutAsJsonAsync($"/api/v1/routing/conversations/{vip.Conversation.Id}", new { priority = 10 }, ct)).EnsureSuccessStatusCode();

        await vip.Queue.WaitUntilAsync(s => s.Count > 0 && s[^1].Position == 1);
        await second.Queue.WaitUntilAsync(s => s.Count > 0 && s[^1].Position == 2);
        await third.Queue.WaitUntilAsync(s => s.Count > 0 && s[^1].Position == 3);

        (await PostAsync(admin, $"/api/v1/conversations/{first.Conversation.Id}/close")).EnsureSuccessStatusCode();
        var rows = await WaitForStoreAsync(server, r => r.Single(c => c.Id == vip.Conversation.Id).AssigneeId == agent.Id);
        Assert.Null(rows.Single(c => c.Id == second.Conversation.Id).AssigneeId);
        await second.Queue.WaitUntilAsync(s => s.Count > 0 && s[^1].Position == 1);
        admin.Dispose();
    }

    [Fact]
    public async Task RefusedOrIgnoredOffer_MovesOnToTheNextAgent()
    {
        var settings = FastRouting();
        settings["Parley:Routing:DefaultOfferTimeoutSeconds"] = "2";
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage, settings);
        await using var ann = await ConnectAgentAsync(server, "ann@test.local", await CreateAgentAsync(server, "ann@test.local"));
        await using var bob = await ConnectAgentAsync(server, "bob@test.local", await CreateAgentAsync(server, "bob@test.local"));
        await using var carl = await ConnectAgentAsync(server, "carl@test.local", await CreateAgentAsync(server, "carl@test.local"));
        RoutedAgent[] all = [ann, bob, carl];

        await using var visitor = await ConnectVisitorAsync(server);
        var id = visitor.Conversation.Id;
        await visitor.Queue.WaitUntilAsync(s => s.Any(x => x.State == QueueStatus.Offered));
        var firstOffered = await OfferedToAsync(all, id, except: []);

        // The first agent declines: the offer goes to another agent.
        await firstOffered.Hub.InvokeAsync("DeclineOffer", id.ToString(), TestContext.Current.CancellationToken);
        await firstOffered.Offers.WaitUntilAsync(s => s.Any(o => o.ConversationId == id && o.Withdrawn));
        var secondOffered = await OfferedToAsync(all, id, except: [firstOffered]);

        // The second lets it expire: it goes to the third.
        var thirdOffered = await OfferedToAsync(all, id, except: [firstOffered, secondOffered], TimeSpan.FromSeconds(15));
        await secondOffered.Offers.WaitUntilAsync(s => s.Any(o => o.ConversationId == id && o.Withdrawn));

        var summary = await thirdOffered.Hub.InvokeAsync<ConversationSummary>("AcceptOffer", id.ToString(), TestContext.Current.CancellationToken);
        Assert.Equal(thirdOffered.Id, summary.AssigneeId);
        await visitor.Queue.WaitUntilAsync(s => s[^1].State == QueueStatus.Assigned);

        // A late accept of a withdrawn offer is refused with a code.
        var late = await Assert.ThrowsAsync<Microsoft.AspNetCore.SignalR.HubException>(() => firstOffered.Hub.InvokeAsync<ConversationSummary>("AcceptOffer", id.ToString(), TestContext.Current.CancellationToken));
        Assert.Contains("offer_gone:", late.Message, StringComparison.Ordinal);
    }

    [Theory]
    [BothStores]
    public async Task DisconnectedAgent_TheirChatsAreRerouted(Store store)
    {
        await using var storage = await TestStorage.CreateAsync(store);
        await using var server = await ParleyServer.StartAsync(storage, FastRouting(graceSeconds: 0.5));
        var annId = await CreateAgentAsync(server, "ann@test.local", capacity: 3);
        var ann = await ConnectAgentAsync(server, "ann@test.local", annId);
        var visitors = new List<RoutedVisitor>();
        for (var i = 0; i < 3; i++)
        {
            visitors.Add(await ConnectVisitorAsync(server));
        }

        await WaitForStoreAsync(server, r => r.Count(c => c.AssigneeId == annId) == 3);
        var bobId = await CreateAgentAsync(server, "bob@test.local", capacity: 3);
        await using var bob = await ConnectAgentAsync(server, "bob@test.local", bobId);

        // Ann sets herself away: she keeps her chats. Then her connection drops for good.
        await ann.Hub.InvokeAsync("SetStatus", "away", TestContext.Current.CancellationToken);
        await ann.DisposeAsync();
        var rows = await WaitForStoreAsync(server, r => r.Count(c => c.AssigneeId == bobId) == 3);
        Assert.DoesNotContain(rows, c => c.AssigneeId == annId);
        foreach (var v in visitors)
        {
            await v.DisposeAsync();
        }
    }

    [Fact]
    public async Task AgentReconnectingWithinTheGracePeriod_KeepsTheirChats()
    {
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage, FastRouting(graceSeconds: 30));
        var annId = await CreateAgentAsync(server, "ann@test.local", capacity: 3);
        var ann = await ConnectAgentAsync(server, "ann@test.local", annId);
        await using var visitor = await ConnectVisitorAsync(server);
        await WaitForStoreAsync(server, r => r.Single().AssigneeId == annId);
        await ann.DisposeAsync();

        var (admin, _) = await AgentClient.SignInAsync(server);
        var agents = (await admin.GetFromJsonAsync<List<AgentRoutingDto>>("/api/v1/routing/agents", TestContext.Current.CancellationToken))!;
        Assert.Equal("away", agents.Single(a => a.Id == annId).Status);
        await using var back = await ConnectAgentAsync(server, "ann@test.local", annId);
        // Presence follows the new connection asynchronously: wait for it (bounded) instead of reading once.
        agents = await Eventually.ValueAsync(
            async () => (await admin.GetFromJsonAsync<List<AgentRoutingDto>>("/api/v1/routing/agents", TestContext.Current.CancellationToken))!,
            list => list.Single(a => a.Id == annId).Status == "online");
        Assert.Equal(("online", 1), (agents.Single(a => a.Id == annId).Status, agents.Single(a => a.Id == annId).Load));
        Assert.Equal(annId, (await ConversationsAsync(server)).Single().AssigneeId);

        var bad = await Assert.ThrowsAsync<Microsoft.AspNetCore.SignalR.HubException>(() => back.Hub.InvokeAsync("SetStatus", "busy", TestContext.Current.CancellationToken));
        Assert.Contains("invalid_status:", bad.Message, StringComparison.Ordinal);
        admin.Dispose();
    }

    private static async Task<RoutedAgent> OfferedToAsync(RoutedAgent[] agents, Guid conversationId, RoutedAgent[] except, TimeSpan? timeout = null)
    {
        var candidates = agents.Except(except).ToList();
        var waits = candidates.Select(a => a.Offers.WaitUntilAsync(s => s.Any(o => o.ConversationId == conversationId && !o.Withdrawn), timeout ?? TimeSpan.FromSeconds(15))).ToList();
        var first = await Task.WhenAny(waits);
        await first;
        return candidates[waits.IndexOf(first)];
    }
}
