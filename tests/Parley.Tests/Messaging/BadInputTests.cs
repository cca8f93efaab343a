using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.Extensions.DependencyInjection;
using Parley.Server.Messaging;
using Parley.Server.Realtime;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Messaging;

/// <summary>Every kind of bad input gets a defined error for its caller only, and stores nothing.</summary>
public sealed class BadInputTests
{
    [Theory]
    [InlineData("", "body_empty")]
    [InlineData("   \n\t ", "body_empty")]
    public async Task Send_WithEmptyBody_IsRejected_AndNothingStored(string body, string code)
    {
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage);
        await using var visitor = await VisitorClient.ConnectAsync(server);
        var conversation = await visitor.StartConversationAsync();

        var error = await Assert.ThrowsAsync<HubException>(() => visitor.SendAsync(conversation.Id, body));

        Assert.Contains(code + ":", error.Message, StringComparison.Ordinal);
        Assert.Equal(0, await server.TotalMessagesAsync());
        Assert.Equal(1, (await visitor.SendAsync(conversation.Id, "still works")).Seq);
    }

    [Fact]
    public async Task Send_OverTheConfiguredLimit_IsRejected_ButTheLimitItselfIsAccepted()
    {
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage);
        await using var visitor = await VisitorClient.ConnectAsync(server);
        var conversation = await visitor.StartConversationAsync();

        var error = await Assert.ThrowsAsync<HubException>(() => visitor.SendAsync(conversation.Id, new string('x', 4097)));
        Assert.Contains("body_too_large:", error.Message, StringComparison.Ordinal);
        Assert.Equal(0, await server.TotalMessagesAsync());

        var exact = await visitor.SendAsync(conversation.Id, new string('y', 4096));
        Assert.Equal(1, exact.Seq);
    }

    [Fact]
    public async Task Send_ToUnknownConversation_IsNotFound()
    {
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage);
        await using var visitor = await VisitorClient.ConnectAsync(server);
        await using var agent = await AgentClient.ConnectAsync(server);

        var fromVisitor = await Assert.ThrowsAsync<HubException>(() => visitor.SendAsync(Guid.NewGuid(), "hello?"));
        var fromAgent = await Assert.ThrowsAsync<HubException>(() => agent.SendAsync(Guid.NewGuid(), "hello?"));
        var join = await Assert.ThrowsAsync<HubException>(() => agent.JoinAsync(Guid.NewGuid()));

        Assert.All([fromVisitor, fromAgent, join], e => Assert.Contains("conversation_not_found:", e.Message, StringComparison.Ordinal));
        Assert.Equal(0, await server.TotalMessagesAsync());
    }

    [Fact]
    public async Task Visitor_CannotReadOrWriteAnotherVisitorsConversation()
    {
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage);
        await using var alice = await VisitorClient.ConnectAsync(server);
        await using var mallory = await VisitorClient.ConnectAsync(server);
        var conversation = await alice.StartConversationAsync();
        await alice.SendAsync(conversation.Id, "my address is 1 Main St");

        var write = await Assert.ThrowsAsync<HubException>(() => mallory.SendAsync(conversation.Id, "injected"));
        var read = await Assert.ThrowsAsync<HubException>(() => mallory.ResumeAsync(conversation.Id, 0));

        // Same answer as for an id that does not exist, so ids cannot be probed.
        Assert.Contains("conversation_not_found:", write.Message, StringComparison.Ordinal);
        Assert.Contains("conversation_not_found:", read.Message, StringComparison.Ordinal);
        Assert.Single(await server.MessagesAsync(conversation.Id));
        Assert.Empty(mallory.Messages.Snapshot());

        // Alice is unaffected and Mallory's connection still works for her own conversation.
        await alice.SendAsync(conversation.Id, "still here");
        var own = await mallory.StartConversationAsync();
        Assert.NotEqual(conversation.Id, own.Id);
    }

    [Fact]
    public async Task Send_WithMalformedIds_IsInvalidRequest()
    {
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage);
        await using var visitor = await VisitorClient.ConnectAsync(server);
        var conversation = await visitor.StartConversationAsync();

        var badClientId = await Assert.ThrowsAsync<HubException>(() => visitor.Hub.InvokeAsync<SendAck>(
            "Send", new SendRequest { ConversationId = conversation.Id.ToString(), ClientId = "not-a-uuid", Body = "x" }));
        var noConversation = await Assert.ThrowsAsync<HubException>(() => visitor.Hub.InvokeAsync<SendAck>(
            "Send", new SendRequest { ClientId = Guid.NewGuid().ToString(), Body = "x" }));

        Assert.Contains("invalid_request:", badClientId.Message, StringComparison.Ordinal);
        Assert.Contains("invalid_request:", noConversation.Message, StringComparison.Ordinal);
        Assert.Equal(0, await server.TotalMessagesAsync());
    }

    [Fact]
    public async Task Send_WithArgumentsOfTheWrongType_FailsThatCall_AndTheConnectionStaysUp()
    {
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage);
        await using var visitor = await VisitorClient.ConnectAsync(server, messagePack: false);
        var conversation = await visitor.StartConversationAsync();

        var error = await Assert.ThrowsAsync<HubException>(() => visitor.Hub.InvokeAsync<SendAck>("Send", 42, "extra"));

        Assert.Contains("Send", error.Message, StringComparison.Ordinal);
        Assert.Equal(HubConnectionState.Connected, visitor.Hub.State);
        Assert.Equal(1, (await visitor.SendAsync(conversation.Id, "after the bad call")).Seq);
    }

    [Fact]
    public async Task UnparseableFrame_ClosesOnlyThatConnection()
    {
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage);
        await using var bystander = await VisitorClient.ConnectAsync(server);
        var conversation = await bystander.StartConversationAsync();
        var session = await VisitorClient.CreateSessionAsync(server);
        using var raw = await RawHub.ConnectJsonAsync(server, "/hubs/visitor", session.VisitorToken);

        await RawHub.SendTextAsync(raw, "{this is not json" + RawHub.RecordSeparator);

        // The server answers with a close message ({"type":7,...}) and/or closes the socket.
        var reply = await RawHub.ReceiveTextAsync(raw);
        Assert.True(reply is null || reply.Contains("\"type\":7", StringComparison.Ordinal), $"unexpected reply: {reply}");
        Assert.Equal(1, (await bystander.SendAsync(conversation.Id, "unaffected")).Seq);
        Assert.Equal(HubConnectionState.Connected, bystander.Hub.State);
    }

    [Fact]
    public async Task OversizedFrame_ClosesOnlyThatConnection_AndStoresNothing()
    {
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage);
        await using var bystander = await VisitorClient.ConnectAsync(server);
        var conversation = await bystander.StartConversationAsync();
        var session = await VisitorClient.CreateSessionAsync(server);
        using var raw = await RawHub.ConnectJsonAsync(server, "/hubs/visitor", session.VisitorToken);

        var huge = new string('z', 100 * 1024);
        await RawHub.SendTextAsync(raw, $"{{\"type\":1,\"invocationId\":\"1\",\"target\":\"Send\",\"arguments\":[{{\"conversationId\":\"{conversation.Id}\",\"clientId\":\"{Guid.NewGuid()}\",\"body\":\"{huge}\"}}]}}" + RawHub.RecordSeparator);

        var reply = await RawHub.ReceiveTextAsync(raw);
        Assert.True(reply is null || reply.Contains("\"type\":7", StringComparison.Ordinal), $"unexpected reply: {reply?[..Math.Min(200, reply.Length)]}");
        Assert.Equal(0, await server.TotalMessagesAsync());
        Assert.Equal(1, (await bystander.SendAsync(conversation.Id, "unaffected")).Seq);
    }

    [Fact]
    public async Task SlowConsumer_IsDisconnected_WhileOthersReceiveEverything()
    {
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage, new Dictionary<string, string?>
        {
            ["Parley:Realtime:OutboundQueueLimit"] = "16",
            ["Parley:Realtime:SlowConsumerSeconds"] = "1",

            // Out of reach: only the not-reading rule may cut the stalled tab off here, not the queue's memory bound.
            ["Parley:Realtime:OutboundQueueHardLimit"] = "10000000",
        });
        await using var healthy = await VisitorClient.ConnectAsync(server);
        await using var agent = await AgentClient.ConnectAsync(server);
        var conversation = await healthy.StartConversationAsync();
        var registry = server.Services.GetRequiredService<ConnectionRegistry>();

        // A second tab of the same visitor that subscribes and then never reads: its socket stops draining, and a second
        // later, with more than 16 events waiting, it counts as not reading.
        using var stalled = await RawHub.ConnectStalledVisitorAsync(server, healthy.Token,
            $"{{\"type\":1,\"invocationId\":\"1\",\"target\":\"Resume\",\"arguments\":[{{\"conversationId\":\"{conversation.Id}\",\"afterSeq\":0}}]}}");
        await WaitUntilAsync(() => registry.SubscribersOf(conversation.Id).Count == 2);

        // The flood goes on until the stalled tab is cut off, for at most 30 s: how many messages that takes depends on
        // the kernel's socket buffers and on how fast sends are acknowledged, not on the rule under test (a count
        // fixed in advance was all sent within the stall time once agents' sends got faster).
        var body = new string('m', 4000);
        var flood = System.Diagnostics.Stopwatch.StartNew();
        while (registry.SubscribersOf(conversation.Id).Count == 2 && flood.Elapsed < TimeSpan.FromSeconds(30))
        {
            await agent.SendAsync(conversation.Id, body);
        }

        // The stalled connection is cut off while the flood goes on (bounded memory); the healthy one got every
        // message in order.
        Assert.True(registry.SubscribersOf(conversation.Id).Count == 1, "the slow consumer should have been disconnected during the flood");
        var sent = (await server.MessagesAsync(conversation.Id)).Count;
        var received = await healthy.Messages.WaitForCountAsync(sent, TimeSpan.FromSeconds(30));
        Assert.Equal(Enumerable.Range(1, sent).Select(i => (long)i), received.Select(m => m.Seq));
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (!condition())
        {
            await Task.Delay(20, cts.Token);
        }
    }
}
