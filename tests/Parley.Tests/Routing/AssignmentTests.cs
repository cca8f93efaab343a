using System.Net;
using System.Net.Http.Json;
using Parley.Data;
using Parley.Server.Messaging;
using Parley.Tests.Infrastructure;
using static Parley.Tests.Routing.RoutingHarness;

namespace Parley.Tests.Routing;

/// <summary>The assignment core: capacity holds and a conversation is handed out once, also when requests race.</summary>
public sealed class AssignmentTests
{
    [Theory]
    [BothStores]
    public async Task ConcurrentAssigns_NeverExceedTheAgentsCapacity(Store store)
    {
        await using var storage = await TestStorage.CreateAsync(store);
        await using var server = await ParleyServer.StartAsync(storage);
        var agent = await CreateAgentAsync(server, "cap@test.local", capacity: 3);
        var visitors = new List<RoutedVisitor>();
        for (var i = 0; i < 10; i++)
        {
            visitors.Add(await ConnectVisitorAsync(server));
        }

        // Nobody is online, so everything waits; now ten assignments to the same agent race.
        var (admin, _) = await AgentClient.SignInAsync(server);
        var responses = await Task.WhenAll(visitors.Select(v => PostAsync(admin, $"/api/v1/conversations/{v.Conversation.Id}/assign", new { userId = agent })));

        Assert.Equal(3, responses.Count(r => r.StatusCode == HttpStatusCode.OK));
        var refused = responses.Where(r => r.StatusCode != HttpStatusCode.OK).ToList();
        Assert.All(refused, r => Assert.Equal(HttpStatusCode.Conflict, r.StatusCode));
        Assert.All(await Task.WhenAll(refused.Select(ErrorCodeAsync)), code => Assert.Equal("agent_at_capacity", code));
        var rows = await ConversationsAsync(server);
        Assert.Equal(3, rows.Count(c => c.AssigneeId == agent));
        Assert.All(rows.Where(c => c.AssigneeId == agent), c => Assert.Null(c.QueuedAt));

        // Closing one frees a place.
        var held = rows.First(c => c.AssigneeId == agent);
        (await PostAsync(admin, $"/api/v1/conversations/{held.Id}/close")).EnsureSuccessStatusCode();
        var next = visitors.First(v => rows.Single(c => c.Id == v.Conversation.Id).AssigneeId is null).Conversation.Id;
        Assert.Equal(HttpStatusCode.OK, (await PostAsync(admin, $"/api/v1/conversations/{next}/assign", new { userId = agent })).StatusCode);

        foreach (var v in visitors)
        {
            await v.DisposeAsync();
        }

        admin.Dispose();
    }

    [Theory]
    [BothStores]
    public async Task AgentsPickingTheSameConversation_OnlyOneGetsIt(Store store)
    {
        await using var storage = await TestStorage.CreateAsync(store);
        await using var server = await ParleyServer.StartAsync(storage);
        var clients = new List<HttpClient>();
        for (var i = 0; i < 6; i++)
        {
            var email = $"picker{i}@test.local";
            await CreateAgentAsync(server, email);
            clients.Add((await AgentClient.SignInAsync(server, email, AgentPassword)).Http);
        }

        await using var visitor = await ConnectVisitorAsync(server);
        var responses = await Task.WhenAll(clients.Select(c => PostAsync(c, $"/api/v1/routing/conversations/{visitor.Conversation.Id}/pick")));

        Assert.Single(responses, r => r.StatusCode == HttpStatusCode.OK);
        Assert.All(await Task.WhenAll(responses.Where(r => r.StatusCode != HttpStatusCode.OK).Select(ErrorCodeAsync)), code => Assert.Equal("conversation_taken", code));
        var winner = await responses.Single(r => r.StatusCode == HttpStatusCode.OK).Content.ReadFromJsonAsync<ConversationSummary>(TestContext.Current.CancellationToken);
        Assert.Equal(winner!.AssigneeId, (await ConversationsAsync(server)).Single().AssigneeId);
        clients.ForEach(c => c.Dispose());
    }

    [Fact]
    public async Task Assign_BadInput_GetsClearErrors()
    {
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage);
        await using var visitor = await ConnectVisitorAsync(server);
        var (admin, _) = await AgentClient.SignInAsync(server);

        var unknownUser = await PostAsync(admin, $"/api/v1/conversations/{visitor.Conversation.Id}/assign", new { userId = Guid.NewGuid() });
        Assert.Equal(HttpStatusCode.NotFound, unknownUser.StatusCode);
        Assert.Equal("user_not_found", await ErrorCodeAsync(unknownUser));

        var unknownConversation = await PostAsync(admin, $"/api/v1/conversations/{Guid.NewGuid()}/assign");
        Assert.Equal("conversation_not_found", await ErrorCodeAsync(unknownConversation));

        (await PostAsync(admin, $"/api/v1/conversations/{visitor.Conversation.Id}/close")).EnsureSuccessStatusCode();
        var closed = await PostAsync(admin, $"/api/v1/conversations/{visitor.Conversation.Id}/assign");
        Assert.Equal(HttpStatusCode.Conflict, closed.StatusCode);
        Assert.Equal("conversation_taken", await ErrorCodeAsync(closed));
        admin.Dispose();
    }
}
