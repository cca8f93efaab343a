using System.Collections.Concurrent;
using System.Net.Http.Json;
using Npgsql;
using Parley.Server.Features.Supervision;
using Parley.Server.Messaging;
using Parley.Server.Realtime;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.ScaleOut;

/// <summary>
/// Three server processes on one PostgreSQL database and one redis-server. Clients follow the protocol's seq rules
/// (<see cref="ResilientClient"/>); "delivered exactly once, in order" means what each client applied equals the
/// acknowledged messages in seq order, with no seq ever carrying two different messages and no message stored twice.
/// </summary>
[CollectionDefinition(nameof(ScaleOutTests), DisableParallelization = true)]
[Collection(nameof(ScaleOutTests))]
public sealed class ScaleOutTests(ClusterFixture fixture) : IClassFixture<ClusterFixture>, IAsyncLifetime
{
    private static readonly TimeSpan DeliveryTimeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task CrossNode_VisitorOnOneNode_AgentsOnOthers_ChatBothWaysLive()
    {
        var cluster = fixture.Cluster;
        await using var visitor = await ResilientClient.VisitorAsync(cluster, cluster.Nodes[0]);
        await using var agent = await ResilientClient.AgentAsync(cluster, cluster.Nodes[1]);
        await using var watcher = await ResilientClient.AgentAsync(cluster, cluster.Nodes[2]);
        var conversation = await visitor.StartConversationAsync();
        await agent.FollowAsync(conversation);
        await watcher.FollowAsync(conversation);

        // Pushed live from node1 to node2 and node3: the first message after joining can only come by push.
        var hello = Guid.NewGuid();
        await visitor.SendAsync(conversation, "hello from node1", hello);
        await agent.WaitForAsync(conversation, [hello], TimeSpan.FromSeconds(15));
        await watcher.WaitForAsync(conversation, [hello], TimeSpan.FromSeconds(15));

        var reply = Guid.NewGuid();
        await agent.SendAsync(conversation, "hi from node2", reply);
        await visitor.WaitForAsync(conversation, [hello, reply], TimeSpan.FromSeconds(15));
        await watcher.WaitForAsync(conversation, [hello, reply], TimeSpan.FromSeconds(15));

        Assert.Equal([hello, reply], visitor.Applied(conversation).Select(m => m.ClientId));

        // Typing and read receipts cross nodes too (RealtimeDelivery and relayed domain events).
        var typing = new Inbox<TypingEvent>();
        var read = new Inbox<ReadEvent>();
        agent.On<TypingEvent>("typing", typing.Add);
        agent.On<ReadEvent>("read", read.Add);
        await visitor.InvokeAsync("Typing", new TypingRequest { ConversationId = conversation.ToString(), Typing = true });
        await visitor.InvokeAsync("MarkRead", new ReadRequest { ConversationId = conversation.ToString(), Seq = 2 });
        var typed = await typing.WaitForCountAsync(1);
        Assert.True(typed[0].Typing && typed[0].ConversationId == conversation && typed[0].Side == "visitor");
        var receipts = await read.WaitForCountAsync(1);
        Assert.Equal(2, receipts[0].Seq);
        Assert.Equal("hi from node2", visitor.Applied(conversation)[1].Body);
        Assert.Equal(0, visitor.Reconnects + agent.Reconnects + watcher.Reconnects);
    }

    [Fact]
    public async Task TakeoverAlert_RaisedOnOneNode_ReachesAnAgentOnAnother()
    {
        var cluster = fixture.Cluster;
        await using var visitor = await ResilientClient.VisitorAsync(cluster, cluster.Nodes[0]);
        await using var agent = await ResilientClient.AgentAsync(cluster, cluster.Nodes[1]);
        var summaries = new Inbox<ConversationSummary>();
        agent.On<ConversationSummary>("conversationUpdated", summaries.Add);
        var conversation = await visitor.StartConversationAsync();

        // The alert is raised where the messages were committed (node1) and pushed to node2's agent on the summary.
        await visitor.SendAsync(conversation, "我的快递怎么还没到", Guid.NewGuid());
        await visitor.SendAsync(conversation, "快递什么时候能到", Guid.NewGuid());
        await visitor.SendAsync(conversation, "我的快递到底什么时候到", Guid.NewGuid());
        var alerted = await summaries.WaitUntilAsync(s => s.Any(x => x.Id == conversation && x.TakeoverReason == "repeated_question"), DeliveryTimeout);
        Assert.NotNull(alerted.Last(x => x.Id == conversation && x.TakeoverReason != null).TakeoverAlertedAt);
    }

    [Fact]
    public async Task TakeoverAlert_CountsTheVisitorsMessagesCommittedOnEveryNode()
    {
        var cluster = fixture.Cluster;
        await using var tab1 = await ResilientClient.VisitorAsync(cluster, cluster.Nodes[0]);
        await using var tab2 = await ResilientClient.SameVisitorAsync(tab1, cluster.Nodes[1]);
        await using var agent = await ResilientClient.AgentAsync(cluster, cluster.Nodes[1]);
        var summaries = new Inbox<ConversationSummary>();
        agent.On<ConversationSummary>("conversationUpdated", summaries.Add);
        var conversation = await tab1.StartConversationAsync();

        // node1 commits the first and third question, node2 the second: node1's reader keeps the visitor's recent
        // texts in memory only while it saw every sequence number, so it must notice the gap and read the second
        // one back. Without it node1 sees two similar questions and never alerts.
        // Plain, calm questions: only the count of three can raise this alert.
        await tab1.SendAsync(conversation, "请问快递什么时候能到", Guid.NewGuid());
        await tab2.SendAsync(conversation, "快递什么时候能到", Guid.NewGuid());
        await tab1.SendAsync(conversation, "我的快递什么时候能到", Guid.NewGuid());
        await summaries.WaitUntilAsync(s => s.Any(x => x.Id == conversation && x.TakeoverReason == "repeated_question"), DeliveryTimeout);
    }

    [Fact]
    public async Task LiveView_AConversationStartedOnOneNode_ReachesASupervisorOnAnother()
    {
        var cluster = fixture.Cluster;
        await using var lead = await ResilientClient.AgentAsync(cluster, cluster.Nodes[1]);
        var pushes = new Inbox<LiveViewDto>();
        lead.On<LiveViewDto>(LiveViewService.LiveEvent, pushes.Add);
        var before = await lead.InvokeAsync<LiveViewDto>("SubscribeLive");
        var general = before.Departments.Single(d => d.TeamId is null);

        // Started and written on node1; node2 learns it from node1's ping on the bus (its refresh and reload are off
        // here) and reads that row from the shared database: waiting, or already held by an agent routing gave it to.
        await using var visitor = await ResilientClient.VisitorAsync(cluster, cluster.Nodes[0]);
        var conversation = await visitor.StartConversationAsync();
        await visitor.SendAsync(conversation, "有人在吗？", Guid.NewGuid());
        var seen = await pushes.WaitUntilAsync(
            p => p.Count > 0 && p[^1].Departments.Single(d => d.TeamId is null) is var g && g.Waiting + g.InProgress == general.Waiting + general.InProgress + 1,
            DeliveryTimeout);
        Assert.True(seen[^1].Version > 0);

        // Closed on node1 through its REST API: node2 reads back only that row (the ping names it) and drops it.
        var cookies = new System.Net.CookieContainer();
        using var http = new HttpClient(new HttpClientHandler { CookieContainer = cookies }) { BaseAddress = cluster.Nodes[0].BaseAddress };
        http.DefaultRequestHeaders.Add("X-Parley-Csrf", "1");
        (await http.PostAsJsonAsync("/api/v1/auth/login", new { email = ParleyServer.AdminEmail, password = ParleyServer.AdminPassword })).EnsureSuccessStatusCode();
        (await http.PostAsync($"/api/v1/conversations/{conversation}/close", null)).EnsureSuccessStatusCode();
        await pushes.WaitUntilAsync(
            p => p.Count > 0 && p[^1].Departments.Single(d => d.TeamId is null) is var g && g.Waiting + g.InProgress == general.Waiting + general.InProgress
                && p[^1].Queue.All(q => q.ConversationId != conversation),
            DeliveryTimeout);
    }

    [Fact]
    public async Task NodeKilledMidStream_EveryAckedMessageDeliveredOnceInOrder()
    {
        var cluster = fixture.Cluster;
        var doomed = cluster.Nodes[0];
        await using var visitor = await ResilientClient.VisitorAsync(cluster, doomed);
        await using var agentOnDoomed = await ResilientClient.AgentAsync(cluster, doomed);
        await using var agentElsewhere = await ResilientClient.AgentAsync(cluster, cluster.Nodes[1]);
        var conversation = await visitor.StartConversationAsync();
        await agentOnDoomed.FollowAsync(conversation);
        await agentElsewhere.FollowAsync(conversation);

        Task? kill = null;
        var acks = new ConcurrentBag<SendAck>();
        await SendManyAsync(visitor, conversation, 1000, acks, acked =>
        {
            if (acked == 300)
            {
                kill = doomed.KillAsync();
            }
        });
        await kill!;

        var expected = acks.OrderBy(a => a.Seq).Select(a => a.ClientId).ToList();
        foreach (var client in new[] { visitor, agentOnDoomed, agentElsewhere })
        {
            await client.WaitForAsync(conversation, expected, DeliveryTimeout);
            Assert.Equal(expected, client.Applied(conversation).Select(m => m.ClientId));
        }

        Assert.True(visitor.Reconnects >= 1 && agentOnDoomed.Reconnects >= 1, "the killed node's clients moved to another node");
        Assert.NotEqual(doomed, visitor.Node);
        Assert.Equal(1000, await CountStoredAsync(cluster, conversation));
    }

    // Redis stays down while more messages commit than the replay limit (500): clients on the other nodes cannot
    // repair that by a resume (it would answer "truncated"), only the nodes' catch-up from the database can. It
    // used to push just the newest 500, so an agent that stopped hearing at 251 saw only a gap it could not fill.
    [Fact]
    public async Task RedisRestartedMidStream_ClientsOnOtherNodesCatchUp()
    {
        var cluster = fixture.Cluster;
        await using var visitor = await ResilientClient.VisitorAsync(cluster, cluster.Nodes[0]);
        await using var agent = await ResilientClient.AgentAsync(cluster, cluster.Nodes[1]);
        await using var watcher = await ResilientClient.AgentAsync(cluster, cluster.Nodes[2]);
        var conversation = await visitor.StartConversationAsync();
        await agent.FollowAsync(conversation);
        await watcher.FollowAsync(conversation);

        Task? restart = null;
        var acks = new ConcurrentBag<SendAck>();
        await SendManyAsync(visitor, conversation, 1000, acks, acked =>
        {
            if (acked == 250)
            {
                restart = RestartRedisAsync();
            }
        });
        await restart!;

        var expected = acks.OrderBy(a => a.Seq).Select(a => a.ClientId).ToList();
        foreach (var client in new[] { visitor, agent, watcher })
        {
            await client.WaitForAsync(conversation, expected, DeliveryTimeout);
            Assert.Equal(expected, client.Applied(conversation).Select(m => m.ClientId));
        }

        // Nobody was disconnected: the nodes reconnected to Redis and repaired the gap themselves.
        Assert.Equal(0, visitor.Reconnects + agent.Reconnects + watcher.Reconnects);
        Assert.Equal(1000, await CountStoredAsync(cluster, conversation));

        async Task RestartRedisAsync()
        {
            await cluster.Redis.KillAsync();

            // Keep Redis down while more than the replay limit commits.
            await WaitUntilAsync(() => acks.Count >= 800, TimeSpan.FromSeconds(60));
            await cluster.Redis.StartAgainAsync();
        }
    }

    [Fact]
    public async Task RollingRestartOfAllNodes_WithVisitorsAndAgentsConnected_LosesNothing()
    {
        var cluster = fixture.Cluster;
        var visitors = new[]
        {
            await ResilientClient.VisitorAsync(cluster, cluster.Nodes[0]),
            await ResilientClient.VisitorAsync(cluster, cluster.Nodes[1]),
        };
        var agents = new[]
        {
            await ResilientClient.AgentAsync(cluster, cluster.Nodes[2]),
            await ResilientClient.AgentAsync(cluster, cluster.Nodes[0]),
        };
        var clients = visitors.Concat(agents).ToArray();
        try
        {
            var conversations = new[] { await visitors[0].StartConversationAsync(), await visitors[1].StartConversationAsync() };
            foreach (var agent in agents)
            {
                foreach (var conversation in conversations)
                {
                    await agent.FollowAsync(conversation);
                }
            }

            var acks = new ConcurrentBag<SendAck>();
            using var stop = new CancellationTokenSource();
            var traffic = new[]
            {
                TalkAsync(visitors[0], conversations[0]), TalkAsync(visitors[1], conversations[1]),
                TalkAsync(agents[0], conversations[0]), TalkAsync(agents[1], conversations[1]),
            };

            foreach (var node in cluster.Nodes)
            {
                var before = acks.Count;
                await WaitUntilAsync(() => acks.Count >= before + 40, TimeSpan.FromSeconds(30));
                await node.StopAsync();
                await WaitUntilAsync(() => acks.Count >= before + 80, TimeSpan.FromSeconds(30));
                await node.StartAsync();
            }

            var last = acks.Count;
            await WaitUntilAsync(() => acks.Count >= last + 40, TimeSpan.FromSeconds(30));
            await stop.CancelAsync();
            await Task.WhenAll(traffic);

            foreach (var conversation in conversations)
            {
                var expected = acks.Where(a => a.ConversationId == conversation).OrderBy(a => a.Seq).Select(a => a.ClientId).ToList();
                Assert.True(expected.Count >= 40, $"only {expected.Count} messages in {conversation}");
                foreach (var client in clients.Where(c => c.Applied(conversation).Count > 0 || agents.Contains(c)))
                {
                    await client.WaitForAsync(conversation, expected, DeliveryTimeout);
                    Assert.Equal(expected, client.Applied(conversation).Select(m => m.ClientId));
                }

                Assert.Equal(expected.Count, await CountStoredAsync(cluster, conversation));
            }

            Assert.All(clients, c => Assert.True(c.Reconnects >= 1, "every client was moved at least once"));

            async Task TalkAsync(ResilientClient client, Guid conversation)
            {
                for (var i = 0; !stop.IsCancellationRequested; i++)
                {
                    acks.Add(await client.SendAsync(conversation, $"message {i}", Guid.NewGuid()));
                }
            }
        }
        finally
        {
            foreach (var client in clients)
            {
                await client.DisposeAsync();
            }
        }
    }

    public ValueTask InitializeAsync() => fixture.BeforeTestAsync();

    public ValueTask DisposeAsync()
    {
        fixture.AfterTest();
        return ValueTask.CompletedTask;
    }

    /// <summary>Sends <paramref name="count"/> messages, four in flight at a time, each retried until acknowledged.</summary>
    private static async Task SendManyAsync(ResilientClient sender, Guid conversation, int count, ConcurrentBag<SendAck> acks, Action<int> onAcked)
    {
        var acked = 0;
        await Parallel.ForEachAsync(Enumerable.Range(1, count), new ParallelOptions { MaxDegreeOfParallelism = 4 }, async (i, _) =>
        {
            acks.Add(await sender.SendAsync(conversation, $"message {i}", Guid.NewGuid()));
            onAcked(Interlocked.Increment(ref acked));
        });
        Assert.Equal(count, acks.Select(a => a.ClientId).Distinct().Count());
        Assert.Equal(count, acks.Select(a => a.Seq).Distinct().Count());
    }

    private static async Task WaitUntilAsync(Func<bool> condition, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException("Condition not met in time.");
            }

            // Polling a counter another task advances; there is no event to wait on.
            await Task.Delay(20);
        }
    }

    private static async Task<long> CountStoredAsync(TestCluster cluster, Guid conversation)
    {
        await using var connection = new NpgsqlConnection(cluster.Storage.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT count(*) FROM \"Messages\" WHERE \"ConversationId\" = @c", connection);
        command.Parameters.AddWithValue("c", conversation);
        return (long)(await command.ExecuteScalarAsync())!;
    }
}
