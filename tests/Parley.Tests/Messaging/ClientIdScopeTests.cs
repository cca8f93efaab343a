using System.Net;
using System.Net.Http.Json;
using Microsoft.AspNetCore.SignalR;
using Parley.Tests.Infrastructure;
using Parley.Tests.Widget;

namespace Parley.Tests.Messaging;

/// <summary>
/// A client id de-duplicates retries of one sender's message, never across senders: an agent's send that reuses
/// the visitor's client id used to get the visitor's ack with duplicate:true while the agent's text was dropped.
/// </summary>
public sealed class ClientIdScopeTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [BothStores]
    public async Task AgentSend_ReusingTheVisitorsClientId_IsRefusedWithClientIdConflict(Store store)
    {
        await using var storage = await TestStorage.CreateAsync(store);
        await using var server = await ParleyServer.StartAsync(storage);
        await using var visitor = await VisitorClient.ConnectAsync(server);
        await using var agent = await AgentClient.ConnectAsync(server);
        var conversation = await visitor.StartConversationAsync();
        var clientId = Guid.NewGuid();
        var original = await visitor.SendAsync(conversation.Id, "from the visitor", clientId);
        await agent.JoinAsync(conversation.Id);

        var error = await Assert.ThrowsAsync<HubException>(() => agent.SendAsync(conversation.Id, "from the agent", clientId));
        Assert.Contains("client_id_conflict", error.Message, StringComparison.Ordinal);

        // Nothing was stored for the agent, and the visitor's own retry is still the ordinary duplicate.
        Assert.Single(await server.MessagesAsync(conversation.Id));
        var retry = await visitor.SendAsync(conversation.Id, "from the visitor", clientId);
        Assert.True(retry.Duplicate);
        Assert.Equal(original.Id, retry.Id);

        // The agent's own retry of its own message stays a duplicate too.
        var agentId = Guid.NewGuid();
        var reply = await agent.SendAsync(conversation.Id, "hello", agentId);
        Assert.True((await agent.SendAsync(conversation.Id, "hello", agentId)).Duplicate);
        var visitorReuse = await Assert.ThrowsAsync<HubException>(() => visitor.SendAsync(conversation.Id, "hello", agentId));
        Assert.Contains("client_id_conflict", visitorReuse.Message, StringComparison.Ordinal);
        Assert.Equal(2, (await server.MessagesAsync(conversation.Id)).Count);
        Assert.Equal(2, reply.Seq);
    }

    [Theory]
    [BothStores]
    public async Task AgentUpload_ReusingTheVisitorsClientId_Is409ClientIdConflict(Store store)
    {
        await using var storage = await TestStorage.CreateAsync(store);
        await using var server = await ParleyServer.StartAsync(storage);
        await using var visitor = await VisitorClient.ConnectAsync(server);
        await using var agent = await AgentClient.ConnectAsync(server);
        var conversation = await visitor.StartConversationAsync();
        var clientId = Guid.NewGuid();
        await visitor.SendAsync(conversation.Id, "from the visitor", clientId);

        var upload = await WidgetTestKit.UploadAsync(agent.Http, $"/api/v1/conversations/{conversation.Id}/attachments", WidgetTestKit.Png, "a.png", clientId);

        Assert.Equal(HttpStatusCode.Conflict, upload.StatusCode);
        Assert.Equal("client_id_conflict", await WidgetTestKit.ProblemCodeAsync(upload));
        Assert.Single(await server.MessagesAsync(conversation.Id));
    }
}
