using Microsoft.AspNetCore.SignalR;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Parley.Data;
using Parley.Server.Messaging;
using Parley.Server.Realtime;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Operations;

/// <summary>
/// What overload does to the message path (docs/operations.md, Overload): agents' writes go ahead of a visitor
/// backlog, and visitors beyond the backlog's bound are refused (never half-stored). The writer is made to fall
/// behind for real: the test holds SQLite's one write lock while the sends arrive.
/// </summary>
public sealed class OverloadTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>
    /// A visitor's connection is read 4 calls at a time, an agent's 16 (docs/protocol.md rule 9): a spike of visitors
    /// pipelining sends leaves them in the sockets instead of in front of the agents' calls. The visitor hub's own
    /// options keep everything else of the global ones (keep-alive, timeout, message size, the hub filters).
    /// </summary>
    [Fact]
    public async Task VisitorConnections_AreReadFewerCallsAtATime_ThanAgents()
    {
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using (var server = await ParleyServer.StartAsync(storage))
        {
            var global = server.Services.GetRequiredService<IOptions<HubOptions>>().Value;
            var visitor = server.Services.GetRequiredService<IOptions<HubOptions<VisitorHub>>>().Value;
            Assert.Equal(16, global.MaximumParallelInvocationsPerClient); // the agent hub has no options of its own
            Assert.Equal(4, visitor.MaximumParallelInvocationsPerClient);
            Assert.Equal(global.KeepAliveInterval, visitor.KeepAliveInterval);
            Assert.Equal(global.ClientTimeoutInterval, visitor.ClientTimeoutInterval);
            Assert.Equal(global.MaximumReceiveMessageSize, visitor.MaximumReceiveMessageSize);
            Assert.False(visitor.EnableDetailedErrors);
            Assert.Equal(FilterCount(global), FilterCount(visitor));
            Assert.NotEqual(0, FilterCount(visitor)); // errors, token scopes, graceful drain
        }

        await using var tuned = await ParleyServer.StartAsync(storage, new Dictionary<string, string?>
        {
            ["Parley:Realtime:VisitorMaxParallelInvocationsPerClient"] = "2",
            ["Parley:Realtime:MaxParallelInvocationsPerClient"] = "32",
        });
        Assert.Equal(2, tuned.Services.GetRequiredService<IOptions<HubOptions<VisitorHub>>>().Value.MaximumParallelInvocationsPerClient);
        Assert.Equal(32, tuned.Services.GetRequiredService<IOptions<HubOptions>>().Value.MaximumParallelInvocationsPerClient);

        // SignalR keeps the filters in an internal list; counted here so that the visitor hub cannot lose them unseen.
        static int FilterCount(HubOptions options) =>
            (typeof(HubOptions).GetProperty("HubFilters", System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.NonPublic)!.GetValue(options) as System.Collections.ICollection)?.Count ?? 0;
    }

    [Fact]
    public async Task AgentsWrites_GoAheadOfTheVisitorBacklog_VisitorsBeyondItsBoundAreRefused_NothingAckedIsLost()
    {
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage, new Dictionary<string, string?>
        {
            ["Parley:Governor:Enabled"] = "true",
            ["Parley:Governor:MaxVisitorWriteQueue"] = "20",
            ["Parley:Realtime:VisitorMaxParallelInvocationsPerClient"] = "16", // six visitors fill the lane past its bound
        });
        await using var agent = await AgentClient.ConnectAsync(server);
        var visitors = new List<VisitorClient>();
        var conversations = new List<Guid>();
        for (var i = 0; i < 6; i++)
        {
            var visitor = await VisitorClient.ConnectAsync(server);
            visitors.Add(visitor);
            conversations.Add((await visitor.StartConversationAsync()).Id);
        }

        var writer = server.Services.GetRequiredService<MessageWriter>();
        var sends = new List<(Guid ClientId, Task<SendAck> Ack)>();
        SendAck agentAck;
        int backlog;
        await using (var writeLock = await HoldWriteLockAsync(storage))
        {
            // Rounds of pipelined sends while nothing can commit: the writer takes what it finds into the commit the lock
            // holds up, then the lane fills to its bound and later sends are refused at once. (Sends arriving at the same
            // instant may both pass the bound's check: it bounds, it does not count exactly.)
            for (var round = 0; round < 4 && !(writer.VisitorQueueDepth >= 20 && sends.Any(s => s.Ack.IsFaulted)); round++)
            {
                for (var i = 0; i < 5; i++)
                {
                    for (var v = 0; v < visitors.Count; v++)
                    {
                        var clientId = Guid.NewGuid();
                        sends.Add((clientId, visitors[v].SendAsync(conversations[v], $"visitor {v} message {round}.{i}", clientId)));
                    }
                }

                await WaitUntilAsync(() => writer.VisitorQueueDepth >= 20 && sends.Any(s => s.Ack.IsFaulted), TimeSpan.FromSeconds(5), throwOnTimeout: round == 3);
            }

            var agentSend = agent.SendAsync(conversations[0], "an agent's reply jumps the queue");
            await WaitUntilAsync(() => writer.PriorityQueueDepth == 1);
            backlog = writer.VisitorQueueDepth;
            writeLock.Release();
            agentAck = await agentSend;
        }

        await Task.WhenAll(sends.Select(s => s.Ack.ContinueWith(_ => { }, TaskScheduler.Default)));
        var refused = sends.Where(s => s.Ack.IsFaulted).ToList();
        var acked = sends.Where(s => s.Ack.IsCompletedSuccessfully).ToList();
        Assert.Equal(sends.Count, refused.Count + acked.Count);
        Assert.True(acked.Count > backlog, "the lane's backlog and the held commit are stored");
        Assert.NotEmpty(refused);
        Assert.All(refused, s => Assert.Contains("overloaded:", s.Ack.Exception!.InnerException!.Message, StringComparison.Ordinal));

        // Stored: exactly the acked ones (nothing acked lost, nothing refused half-stored), and the agent's message
        // was committed ahead of every visitor message that waited in the lane when it arrived.
        var stored = new List<Message>();
        foreach (var conversation in conversations)
        {
            stored.AddRange(await server.MessagesAsync(conversation));
        }

        var visitorMessages = stored.Where(m => m.SenderKind == SenderKind.Visitor).ToList();
        Assert.Equal(acked.Select(s => s.ClientId).Order(), visitorMessages.Select(m => m.ClientId).Order());
        var agentMessage = stored.Single(m => m.ConversationId == conversations[0] && m.SenderKind == SenderKind.Agent);
        Assert.Equal(agentAck.Seq, agentMessage.Seq);
        Assert.True(visitorMessages.Count(m => m.Id > agentMessage.Id) >= backlog, $"the agent's message should precede the {backlog} visitor messages queued before it");

        // Each visitor's accepted messages kept the order they were sent in (a visitor may have had all refused).
        for (var v = 0; v < visitors.Count; v++)
        {
            var order = acked.Where(s => sends.IndexOf(s) % visitors.Count == v).Select(s => s.ClientId).ToList();
            Assert.Equal(order, visitorMessages.Where(m => m.ConversationId == conversations[v]).OrderBy(m => m.Seq).Select(m => m.ClientId).ToList());
            await visitors[v].DisposeAsync();
        }
    }

    /// <summary>Takes SQLite's write lock on another connection; the writer's commits wait (busy timeout) until released.</summary>
    private static async Task<WriteLock> HoldWriteLockAsync(TestStorage storage)
    {
        var connection = new SqliteConnection($"Data Source={Path.Combine(storage.DataDirectory, "parley.db")}");
        await connection.OpenAsync(Ct);
        await using var begin = connection.CreateCommand();
        begin.CommandText = "BEGIN IMMEDIATE";
        await begin.ExecuteNonQueryAsync(Ct);
        return new WriteLock(connection);
    }

    private static async Task WaitUntilAsync(Func<bool> condition, TimeSpan? timeout = null, bool throwOnTimeout = true)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(20));
        while (!condition())
        {
            try
            {
                await Task.Delay(10, cts.Token);
            }
            catch (OperationCanceledException) when (!throwOnTimeout)
            {
                return;
            }
        }
    }

    private sealed class WriteLock(SqliteConnection connection) : IAsyncDisposable
    {
        private bool _released;

        public void Release()
        {
            if (_released)
            {
                return;
            }

            _released = true;
            using var rollback = connection.CreateCommand();
            rollback.CommandText = "ROLLBACK";
            rollback.ExecuteNonQuery();
        }

        public async ValueTask DisposeAsync()
        {
            Release();
            await connection.DisposeAsync();
        }
    }
}
