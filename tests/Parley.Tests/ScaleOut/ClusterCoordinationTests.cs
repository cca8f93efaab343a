using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using Microsoft.AspNetCore.SignalR.Client;
using Npgsql;
using Parley.Server.Features.Users;
using Parley.Server.Messaging;
using Parley.Server.Routing;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.ScaleOut;

/// <summary>
/// What the nodes share besides messages, across three server processes (one PostgreSQL, one redis-server):
/// presence through Redis, so a node routes to agents connected to any node; the database deciding every race
/// for an agent's capacity; anonymous rate limits counted in Redis. The periodic routing sweep is slowed down to
/// a minute here, so an assignment within the test's time can only come from the node where the visitor arrived
/// (woken by that arrival), which proves that node saw the agent.
/// </summary>
[Collection(nameof(ScaleOutTests))]
public sealed class ClusterCoordinationTests(CoordinationClusterFixture fixture) : IClassFixture<CoordinationClusterFixture>, IAsyncLifetime
{
    private const string AgentPassword = "Agent-Password-1";

    [Fact]
    public async Task AgentOnOneNode_IsAssignedVisitorArrivingOnAnother()
    {
        var cluster = fixture.Cluster;
        var (a, b) = (cluster.Nodes[0], cluster.Nodes[1]);
        var agentId = await CreateAgentAsync(cluster, "presence-a", capacity: 3);
        await using var agent = await ConnectAgentAsync(a, "presence-a");
        var assigned = new Inbox<ConversationSummary>();
        agent.Hub.On<ConversationSummary>("conversationUpdated", s =>
        {
            if (s.AssigneeId == agentId)
            {
                assigned.Add(s);
            }
        });

        // Node B sees the agent connected to node A as online.
        await WaitForStatusAsync(b, agentId, "online", TimeSpan.FromSeconds(15));

        await using var visitor = await ResilientClient.VisitorAsync(cluster, b);
        var conversation = await visitor.StartConversationAsync();
        try
        {
            await WaitForAssigneeAsync(cluster, conversation, agentId, TimeSpan.FromSeconds(20));

            // ... and the agent on node A hears of it live.
            await assigned.WaitUntilAsync(s => s.Any(x => x.Id == conversation), TimeSpan.FromSeconds(15));
        }
        finally
        {
            await CloseAsync(cluster, [conversation]);
        }
    }

    [Fact]
    public async Task OfferDecidedOnTheVisitorsNode_ReachesTheAgentOnAnother_AndTheVisitorHearsTheAssignment()
    {
        var cluster = fixture.Cluster;
        var (a, b) = (cluster.Nodes[0], cluster.Nodes[1]);
        var agentId = await CreateAgentAsync(cluster, "offer-a", capacity: 3);
        using (var admin = await SignInAsync(a, ParleyServer.AdminEmail, ParleyServer.AdminPassword))
        {
            var team = await admin.PostAsJsonAsync("/api/v1/teams", new { name = "Offers", offerTimeoutSeconds = 60 });
            Assert.True(team.IsSuccessStatusCode, await team.Content.ReadAsStringAsync());
            var teamId = (await team.Content.ReadFromJsonAsync<TeamDto>())!.Id;
            (await admin.PutAsJsonAsync($"/api/v1/teams/{teamId}/members/{agentId}", new { })).EnsureSuccessStatusCode();
        }

        await using var agent = await ConnectAgentAsync(a, "offer-a");
        var offers = new Inbox<OfferDto>();
        agent.Hub.On<OfferDto>("offer", offers.Add);
        await WaitForStatusAsync(b, agentId, "online", TimeSpan.FromSeconds(15));

        // The visitor arrives on node B asking for the team: B's routing pass makes the offer.
        using var http = new HttpClient { BaseAddress = b.BaseAddress };
        var session = await http.PostAsJsonAsync("/api/v1/widget/session", new { siteKey = ParleyServer.SiteKey, user = new { attributes = new { team = "Offers" } } });
        session.EnsureSuccessStatusCode();
        var token = (await session.Content.ReadFromJsonAsync<Parley.Server.Features.Widget.WidgetSessionResponse>())!.VisitorToken;
        await using var visitor = HubFactory.Build(b.BaseAddress, "/hubs/visitor", messagePack: true, o => o.AccessTokenProvider = () => Task.FromResult<string?>(token));
        var queue = new Inbox<QueueStatus>();
        visitor.On<QueueStatus>("queue", queue.Add);
        await visitor.StartAsync(TestContext.Current.CancellationToken);
        var conversation = (await visitor.InvokeAsync<ConversationInfo>("StartConversation", TestContext.Current.CancellationToken)).Id;
        try
        {
            await offers.WaitUntilAsync(o => o.Any(x => x.ConversationId == conversation && !x.Withdrawn), TimeSpan.FromSeconds(15));
            await queue.WaitUntilAsync(q => q.Any(x => x.State == QueueStatus.Offered), TimeSpan.FromSeconds(15));

            // Accepted on node A; the visitor on node B stops waiting.
            await agent.Hub.InvokeAsync<ConversationSummary>("AcceptOffer", conversation.ToString(), TestContext.Current.CancellationToken);
            await queue.WaitUntilAsync(q => q.Any(x => x.State == QueueStatus.Assigned), TimeSpan.FromSeconds(15));
            await WaitForAssigneeAsync(cluster, conversation, agentId, TimeSpan.FromSeconds(5));
        }
        finally
        {
            await CloseAsync(cluster, [conversation]);
        }
    }

    [Fact]
    public async Task KilledNode_ItsAgentsExpire_OnTheOtherNodes()
    {
        var cluster = fixture.Cluster;
        var doomed = cluster.Nodes[2];
        var agentId = await CreateAgentAsync(cluster, "presence-killed", capacity: 3);
        var agent = await ConnectAgentAsync(doomed, "presence-killed");
        try
        {
            await WaitForStatusAsync(cluster.Nodes[0], agentId, "online", TimeSpan.FromSeconds(15));
            await doomed.KillAsync();

            // No goodbye from the killed node: its entry expires (node timeout), then the grace period passes.
            await WaitForStatusAsync(cluster.Nodes[0], agentId, "offline", TimeSpan.FromSeconds(30));
            await WaitForStatusAsync(cluster.Nodes[1], agentId, "offline", TimeSpan.FromSeconds(10));
        }
        finally
        {
            await agent.DisposeAsync();
        }
    }

    [Fact]
    public async Task VisitorsArrivingConcurrentlyOnThreeNodes_NeverDoubleAssigned_NoAgentOverCapacity()
    {
        var cluster = fixture.Cluster;
        const int capacity = 4;
        var agents = new List<(Guid Id, ConnectedAgent Agent)>();
        var seen = new ConcurrentDictionary<Guid, ConcurrentDictionary<Guid, byte>>();
        for (var i = 0; i < cluster.Nodes.Count; i++)
        {
            var name = $"race-{i}";
            var id = await CreateAgentAsync(cluster, name, capacity);
            var agent = await ConnectAgentAsync(cluster.Nodes[i], name);
            agent.Hub.On<ConversationSummary>("conversationUpdated", s =>
            {
                if (s.AssigneeId is { } assignee)
                {
                    seen.GetOrAdd(s.Id, _ => new()).TryAdd(assignee, 0);
                }
            });
            agents.Add((id, agent));
        }

        var agentIds = agents.Select(a => a.Id).ToList();
        List<Guid> conversations = [];
        var visitors = new List<ResilientClient>();
        try
        {
            foreach (var node in cluster.Nodes)
            {
                foreach (var (id, _) in agents)
                {
                    await WaitForStatusAsync(node, id, "online", TimeSpan.FromSeconds(15));
                }
            }

            // Twice as many visitors as places, arriving at once, spread over the three nodes.
            var places = capacity * agents.Count;
            var arrivals = await Task.WhenAll(Enumerable.Range(0, places * 2).Select(async i =>
            {
                var visitor = await ResilientClient.VisitorAsync(cluster, cluster.Nodes[i % cluster.Nodes.Count]);
                return (visitor, conversation: await visitor.StartConversationAsync());
            }));
            visitors.AddRange(arrivals.Select(a => a.visitor));
            conversations = [.. arrivals.Select(a => a.conversation)];

            var rows = await WaitForRowsAsync(cluster, conversations, r => r.Count(x => x.AssigneeId is not null) == places, TimeSpan.FromSeconds(60));

            // Checked in PostgreSQL: each agent holds exactly its capacity, the rest wait unassigned.
            Assert.All(agentIds, id => Assert.Equal(capacity, rows.Count(r => r.AssigneeId == id)));
            Assert.Equal(places, rows.Count(r => r.AssigneeId is null && r.Queued));
            Assert.All(rows.Where(r => r.AssigneeId is not null), r => Assert.Contains(r.AssigneeId!.Value, agentIds));

            // Each conversation was assigned once: one "Assigned to" line in it at most, never two assignees seen.
            var assignments = await AssignmentLinesAsync(cluster, conversations);
            Assert.All(assignments, pair => Assert.True(pair.Value <= 1, $"conversation {pair.Key} assigned {pair.Value} times"));
            Assert.All(seen.Where(s => conversations.Contains(s.Key)), pair => Assert.Single(pair.Value));
        }
        finally
        {
            await CloseAsync(cluster, conversations);
            foreach (var visitor in visitors)
            {
                await visitor.DisposeAsync();
            }

            foreach (var (_, agent) in agents)
            {
                await agent.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task AnonymousRateLimit_HoldsAcrossNodes()
    {
        var cluster = fixture.Cluster;
        var nodes = new[] { cluster.Nodes[0], cluster.Nodes[1] };
        await using var visitor = await UploaderAsync(nodes[0]);

        // The limit is a fixed window per minute (aligned to the clock, as on every node): start the burst with
        // enough of the window left that it cannot straddle two windows. Waiting for the clock, not for a race.
        var now = DateTime.UtcNow;
        if (now.Second >= 45)
        {
            await Task.Delay(TimeSpan.FromSeconds(61 - now.Second) - TimeSpan.FromMilliseconds(now.Millisecond), TestContext.Current.CancellationToken);
        }

        // Twice the per-IP limit, alternating between two nodes: per node they would all pass.
        var limit = CoordinationClusterFixture.UploadsPerMinute;
        var statuses = new List<HttpStatusCode>();
        string? refusal = null;
        for (var i = 0; i < limit * 2; i++)
        {
            using var http = new HttpClient { BaseAddress = nodes[i % 2].BaseAddress };
            http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", visitor.Token);
            using var body = new ByteArrayContent("a small text file"u8.ToArray());
            body.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/octet-stream");
            var response = await http.PostAsync($"/api/v1/widget/conversations/{visitor.Conversation}/attachments?name=note.txt&clientId={Guid.NewGuid()}", body);
            statuses.Add(response.StatusCode);
            if (response.StatusCode == HttpStatusCode.TooManyRequests)
            {
                refusal ??= await response.Content.ReadAsStringAsync();
            }
        }

        await CloseAsync(cluster, [visitor.Conversation]);
        Assert.Equal(limit, statuses.Count(s => s == HttpStatusCode.OK));
        Assert.Equal(limit, statuses.Count(s => s == HttpStatusCode.TooManyRequests));
        Assert.Contains("rate_limited", refusal);
    }

    public ValueTask InitializeAsync() => fixture.BeforeTestAsync();

    public ValueTask DisposeAsync()
    {
        fixture.AfterTest();
        return ValueTask.CompletedTask;
    }

    private static async Task<HttpClient> SignInAsync(NodeProcess node, string email, string password)
    {
        var http = new HttpClient(new HttpClientHandler { CookieContainer = new CookieContainer() }) { BaseAddress = node.BaseAddress };
        http.DefaultRequestHeaders.Add("X-Parley-Csrf", "1");
        var response = await http.PostAsJsonAsync("/api/v1/auth/login", new { email, password });
        response.EnsureSuccessStatusCode();
        return http;
    }

    private static async Task<Guid> CreateAgentAsync(TestCluster cluster, string name, int capacity)
    {
        using var admin = await SignInAsync(cluster.Nodes[0], ParleyServer.AdminEmail, ParleyServer.AdminPassword);
        var created = await admin.PostAsJsonAsync("/api/v1/users", new { email = $"{name}@test.local", displayName = name, role = "agent", password = AgentPassword });
        Assert.True(created.IsSuccessStatusCode, await created.Content.ReadAsStringAsync());
        var user = (await created.Content.ReadFromJsonAsync<CreatedUser>())!.User;
        var updated = await admin.PatchAsJsonAsync($"/api/v1/users/{user.Id}", new { capacity });
        Assert.True(updated.IsSuccessStatusCode, await updated.Content.ReadAsStringAsync());
        return user.Id;
    }

    private static async Task<ConnectedAgent> ConnectAgentAsync(NodeProcess node, string name)
    {
        var cookies = new CookieContainer();
        using (var http = new HttpClient(new HttpClientHandler { CookieContainer = cookies }) { BaseAddress = node.BaseAddress })
        {
            http.DefaultRequestHeaders.Add("X-Parley-Csrf", "1");
            var response = await http.PostAsJsonAsync("/api/v1/auth/login", new { email = $"{name}@test.local", password = AgentPassword });
            response.EnsureSuccessStatusCode();
        }

        var hub = HubFactory.Build(node.BaseAddress, "/hubs/agent", messagePack: true, o => o.Cookies = cookies);
        await hub.StartAsync(TestContext.Current.CancellationToken);
        return new ConnectedAgent(hub);
    }

    /// <summary>Waits until <paramref name="node"/>'s routing view (GET /api/v1/routing/agents) shows the agent with <paramref name="status"/>.</summary>
    private static async Task WaitForStatusAsync(NodeProcess node, Guid agentId, string status, TimeSpan timeout)
    {
        using var admin = await SignInAsync(node, ParleyServer.AdminEmail, ParleyServer.AdminPassword);
        var deadline = DateTime.UtcNow + timeout;
        string? last = null;
        while (DateTime.UtcNow < deadline)
        {
            var agents = await admin.GetFromJsonAsync<List<AgentRoutingDto>>("/api/v1/routing/agents");
            last = agents!.FirstOrDefault(a => a.Id == agentId)?.Status;
            if (last == status)
            {
                return;
            }

            // Presence is refreshed in the background on each node; the API is the condition to poll.
            await Task.Delay(100);
        }

        throw new TimeoutException($"{node.Name} shows agent {agentId} as {last ?? "unknown"}, not {status}, after {timeout}.");
    }

    private static async Task WaitForAssigneeAsync(TestCluster cluster, Guid conversation, Guid agentId, TimeSpan timeout)
    {
        var rows = await WaitForRowsAsync(cluster, [conversation], r => r.Single().AssigneeId is not null, timeout);
        Assert.Equal(agentId, rows.Single().AssigneeId);
    }

    private static async Task<List<Row>> WaitForRowsAsync(TestCluster cluster, List<Guid> conversations, Func<List<Row>, bool> condition, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var rows = await RowsAsync(cluster, conversations);
            if (rows.Count == conversations.Count && condition(rows))
            {
                return rows;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Routing did not reach the expected state: {rows.Count(r => r.AssigneeId is not null)} of {rows.Count} assigned.");
            }

            // Routing runs in the background on three processes; the database is the condition.
            await Task.Delay(100);
        }
    }

    private static async Task<List<Row>> RowsAsync(TestCluster cluster, List<Guid> conversations)
    {
        await using var connection = new NpgsqlConnection(cluster.Storage.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT \"Id\", \"AssigneeId\", \"QueuedAt\" IS NOT NULL FROM \"Conversations\" WHERE \"Id\" = ANY(@ids)", connection);
        command.Parameters.AddWithValue("ids", conversations.ToArray());
        var rows = new List<Row>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            rows.Add(new Row(reader.GetGuid(0), reader.IsDBNull(1) ? null : reader.GetGuid(1), reader.GetBoolean(2)));
        }

        return rows;
    }

    private static async Task<Dictionary<Guid, long>> AssignmentLinesAsync(TestCluster cluster, List<Guid> conversations)
    {
        await using var connection = new NpgsqlConnection(cluster.Storage.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(
            "SELECT \"ConversationId\", count(*) FROM \"Messages\" WHERE \"ConversationId\" = ANY(@ids) AND \"Body\" LIKE '{\"code\":\"assigned\"%' GROUP BY \"ConversationId\"", connection);
        command.Parameters.AddWithValue("ids", conversations.ToArray());
        var result = new Dictionary<Guid, long>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            result[reader.GetGuid(0)] = reader.GetInt64(1);
        }

        return result;
    }

    /// <summary>Closes what a test opened, so a later test's agents do not inherit it (routing requeues on offline).</summary>
    private static async Task CloseAsync(TestCluster cluster, List<Guid> conversations)
    {
        if (conversations.Count == 0)
        {
            return;
        }

        using var admin = await SignInAsync(cluster.NextNode(), ParleyServer.AdminEmail, ParleyServer.AdminPassword);
        foreach (var id in conversations)
        {
            var response = await admin.PostAsJsonAsync($"/api/v1/conversations/{id}/close", new { });
            Assert.True(response.IsSuccessStatusCode || response.StatusCode == HttpStatusCode.Conflict, await response.Content.ReadAsStringAsync());
        }
    }

    /// <summary>A visitor with a conversation, talking HTTP with its token (what the widget does for uploads).</summary>
    private static async Task<Uploader> UploaderAsync(NodeProcess node)
    {
        using var http = new HttpClient { BaseAddress = node.BaseAddress };
        var response = await http.PostAsJsonAsync("/api/v1/widget/session", new { siteKey = ParleyServer.SiteKey });
        response.EnsureSuccessStatusCode();
        var session = (await response.Content.ReadFromJsonAsync<Parley.Server.Features.Widget.WidgetSessionResponse>())!;
        var hub = HubFactory.Build(node.BaseAddress, "/hubs/visitor", messagePack: true, o => o.AccessTokenProvider = () => Task.FromResult<string?>(session.VisitorToken));
        await hub.StartAsync(TestContext.Current.CancellationToken);
        var conversation = await hub.InvokeAsync<ConversationInfo>("StartConversation", TestContext.Current.CancellationToken);
        return new Uploader(session.VisitorToken, conversation.Id, hub);
    }

    private sealed record Row(Guid Id, Guid? AssigneeId, bool Queued);

    private sealed record Uploader(string Token, Guid Conversation, HubConnection Hub) : IAsyncDisposable
    {
        public ValueTask DisposeAsync() => Hub.DisposeAsync();
    }

    private sealed class ConnectedAgent(HubConnection hub) : IAsyncDisposable
    {
        public HubConnection Hub { get; } = hub;

        public ValueTask DisposeAsync() => Hub.DisposeAsync();
    }
}

/// <summary>A cluster of its own (fresh database): events wake routing, the periodic sweep is a minute; few uploads per IP.</summary>
public sealed class CoordinationClusterFixture : ClusterFixture
{
    public const int UploadsPerMinute = 6;

    protected override IReadOnlyDictionary<string, string?> Settings { get; } = new Dictionary<string, string?>
    {
        ["Parley:Routing:SweepIntervalSeconds"] = "60",
        ["Parley:Presence:OfflineGraceSeconds"] = "1",
        ["Parley:Widget:UploadsPerMinutePerIp"] = UploadsPerMinute.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };
}
