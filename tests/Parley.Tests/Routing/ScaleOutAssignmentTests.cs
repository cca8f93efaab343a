using System.Collections.Concurrent;
using Microsoft.AspNetCore.SignalR.Client;
using Parley.Data;
using Parley.Server.Messaging;
using Parley.Tests.Infrastructure;
using static Parley.Tests.Routing.RoutingHarness;

namespace Parley.Tests.Routing;

/// <summary>Two server processes' worth of routing on one PostgreSQL database, racing for the same agents.</summary>
public sealed class ScaleOutAssignmentTests
{
    [Fact]
    public async Task TwoServers_SharingPostgres_NeverDoubleAssign()
    {
        await using var storage = await TestStorage.CreateAsync(Store.Postgres);
        // The PostgreSQL server is shared with other test runs: keep each node's pool small.
        var settings = FastRouting();
        settings["Parley:Database:ConnectionString"] = storage.ConnectionString + ";Maximum Pool Size=12";
        await using var one = await ParleyServer.StartAsync(storage, settings);
        await using var two = await ParleyServer.StartAsync(storage, settings);

        // Every agent is connected to both nodes, so both route to all of them at the same time.
        var seen = new ConcurrentDictionary<Guid, ConcurrentDictionary<Guid, byte>>();
        var agents = new List<RoutedAgent>();
        for (var i = 0; i < 5; i++)
        {
            var email = $"agent{i}@test.local";
            var id = await CreateAgentAsync(one, email, capacity: 6);
            foreach (var server in new[] { one, two })
            {
                var agent = await ConnectAgentAsync(server, email, id);
                agent.Hub.On<ConversationSummary>("conversationUpdated", s =>
                {
                    if (s.AssigneeId is { } a)
                    {
                        seen.GetOrAdd(s.Id, _ => new()).TryAdd(a, 0);
                    }
                });
                agents.Add(agent);
            }
        }

        // 60 visitors arrive, half on each node: 30 places, 30 wait.
        using var gate = new SemaphoreSlim(8);
        var visitors = await Task.WhenAll(Enumerable.Range(0, 60).Select(async i =>
        {
            await gate.WaitAsync(TestContext.Current.CancellationToken);
            try
            {
                return await ConnectVisitorAsync(i % 2 == 0 ? one : two);
            }
            finally
            {
                gate.Release();
            }
        }));
        var rows = await WaitForStoreAsync(one, r => r.Count == 60 && r.Count(c => c.AssigneeId is not null) == 30, TimeSpan.FromSeconds(60));
        Assert.All(rows.Where(c => c.AssigneeId is not null).GroupBy(c => c.AssigneeId), g => Assert.Equal(6, g.Count()));

        // Free ten places on alternating nodes; both nodes race to fill them.
        var (http1, _) = await AgentClient.SignInAsync(one);
        var (http2, _) = await AgentClient.SignInAsync(two);
        var closing = rows.Where(c => c.AssigneeId is not null).Take(10).ToList();
        await Task.WhenAll(closing.Select((c, i) => PostAsync(i % 2 == 0 ? http1 : http2, $"/api/v1/conversations/{c.Id}/close")));
        rows = await WaitForStoreAsync(one, r => r.Count(c => c.AssigneeId is not null && c.Status != ConversationStatus.Closed) == 30 && r.Count(c => c.QueuedAt is not null && c.AssigneeId is null && c.Status != ConversationStatus.Closed) == 20, TimeSpan.FromSeconds(60));
        Assert.All(rows.Where(c => c.AssigneeId is not null && c.Status != ConversationStatus.Closed).GroupBy(c => c.AssigneeId), g => Assert.True(g.Count() <= 6));

        // No conversation was ever shown with two different assignees, on either node.
        Assert.All(seen, pair => Assert.Single(pair.Value));

        http1.Dispose();
        http2.Dispose();
        await Task.WhenAll(visitors.Select(v => v.DisposeAsync().AsTask()));
        await Task.WhenAll(agents.Select(a => a.DisposeAsync().AsTask()));
    }
}
