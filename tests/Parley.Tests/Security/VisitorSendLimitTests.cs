using System.Net;
using System.Net.Http.Json;
using Microsoft.AspNetCore.SignalR;
using Parley.Server.Features.Widget;
using Parley.Tests.Infrastructure;
using Parley.Tests.ScaleOut;
using Parley.Tests.Widget;

namespace Parley.Tests.Security;

/// <summary>
/// #15 weak default: the visitor send limit was per connection only (eight connections sent 160 messages in 78 ms).
/// It now also counts per visitor across connections, and across nodes with Redis.
/// </summary>
public sealed class VisitorSendLimitTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static async Task<(int Accepted, string? Refusal)> SendRoundRobinAsync(VisitorClient[] tabs, Guid conversationId, int count)
    {
        var accepted = 0;
        string? refusal = null;
        for (var i = 0; i < count; i++)
        {
            try
            {
                await tabs[i % tabs.Length].SendAsync(conversationId, $"message {i}");
                accepted++;
            }
            catch (HubException ex)
            {
                refusal ??= ex.Message;
            }
        }

        return (accepted, refusal);
    }

    [Theory]
    [BothStores]
    public async Task VisitorSends_AreLimitedPerVisitor_AcrossConnections(Store store)
    {
        await using var storage = await TestStorage.CreateAsync(store);
        await using var server = await ParleyServer.StartAsync(storage, new Dictionary<string, string?>
        {
            ["Parley:Widget:SendPerVisitorPerWindow"] = "5",
            ["Parley:Widget:SendPerVisitorWindowSeconds"] = "3600",
        });
        var tabs = new List<VisitorClient> { await VisitorClient.ConnectAsync(server) };
        try
        {
            var conversation = await tabs[0].StartConversationAsync();
            for (var i = 0; i < 3; i++)
            {
                tabs.Add(await VisitorClient.ConnectAsync(server, tabs[0].Token));
            }

            // Each connection is far below its own limit (ParleyServer sets it to 100000); together they are not.
            var (accepted, refusal) = await SendRoundRobinAsync([.. tabs], conversation.Id, 8);
            Assert.Equal(5, accepted);
            Assert.Contains("rate_limited:", refusal, StringComparison.Ordinal);

            // Another visitor has their own budget.
            await using var other = await VisitorClient.ConnectAsync(server);
            var theirs = await other.StartConversationAsync();
            Assert.True((await other.SendAsync(theirs.Id, "hello")).Seq > 0);
        }
        finally
        {
            foreach (var tab in tabs)
            {
                await tab.DisposeAsync();
            }
        }
    }

    /// <summary>
    /// With Redis the count is shared by the nodes. The offline form's per-visitor limit shares the code: it used the
    /// synchronous acquire, which the Redis-backed limiter never grants, so with Redis every offline message was refused.
    /// </summary>
    [Fact]
    public async Task VisitorSendLimit_HoldsAcrossNodes_AndTheOfflineFormWorks_WithRedis()
    {
        await using var storage = await TestStorage.CreateAsync(Store.Postgres);
        await using var redis = await RedisProcess.StartAsync();
        var settings = new Dictionary<string, string?>
        {
            ["Parley:Redis:ConnectionString"] = redis.ConnectionString,
            ["Parley:Widget:SendPerVisitorPerWindow"] = "4",
            ["Parley:Widget:SendPerVisitorWindowSeconds"] = "3600",
        };
        await using var a = await ParleyServer.StartAsync(storage, settings);
        await using var b = await ParleyServer.StartAsync(storage, settings);

        await using var onA = await VisitorClient.ConnectAsync(a);
        var conversation = await onA.StartConversationAsync();
        await using var onB = await VisitorClient.ConnectAsync(b, onA.Token);
        var (accepted, refusal) = await SendRoundRobinAsync([onA, onB], conversation.Id, 6);
        Assert.Equal(4, accepted);
        Assert.Contains("rate_limited:", refusal, StringComparison.Ordinal);

        var session = await VisitorClient.CreateSessionAsync(a);
        using var visitor = WidgetTestKit.VisitorHttp(a, session.VisitorToken);
        var offline = await visitor.PostAsJsonAsync("/api/v1/widget/offline", new OfflineMessageRequest("Ada", "ada@example.com", null, null, "Please call me back", Guid.NewGuid().ToString()), Ct);
        Assert.Equal(HttpStatusCode.OK, offline.StatusCode);
    }
}
