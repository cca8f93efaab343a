using Parley.Data;
using Parley.Server.Messaging;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Messaging;

/// <summary>The message path of DESIGN.md over real sockets, once per store.</summary>
public sealed class MessagePathTests
{
    [Theory]
    [BothStores]
    public async Task Send_IsAckedAfterCommit_ThenDeliveredBothWays(Store store)
    {
        await using var storage = await TestStorage.CreateAsync(store);
        await using var server = await ParleyServer.StartAsync(storage);
        await using var visitor = await VisitorClient.ConnectAsync(server, messagePack: true);
        await using var agent = await AgentClient.ConnectAsync(server, messagePack: false);

        var conversation = await visitor.StartConversationAsync();
        Assert.Equal("open", conversation.Status);
        var clientId = Guid.NewGuid();
        var ack = await visitor.SendAsync(conversation.Id, "Hello, I need help with order 42", clientId);

        Assert.Equal(1, ack.Seq);
        Assert.Equal(clientId, ack.ClientId);
        Assert.False(ack.Duplicate);

        // Durable before the ack: the row is in the store with the acknowledged id and sequence.
        var stored = Assert.Single(await server.MessagesAsync(conversation.Id));
        Assert.Equal(ack.Id, stored.Id);
        Assert.Equal(SenderKind.Visitor, stored.SenderKind);

        // The agent's inbox hears about it, and joining replays it.
        await agent.Conversations.WaitUntilAsync(items => items.Any(c => c.Id == conversation.Id && c.LastMessagePreview == "Hello, I need help with order 42"));
        var replay = await agent.JoinAsync(conversation.Id);
        Assert.Equal("Hello, I need help with order 42", Assert.Single(replay.Messages).Body);

        var reply = await agent.SendAsync(conversation.Id, "Sure — let me look that up.");
        var received = await visitor.Messages.WaitUntilAsync(m => m.Any(x => x.ClientId == reply.ClientId));
        var pushed = received.Single(x => x.ClientId == reply.ClientId);
        Assert.Equal("agent", pushed.SenderKind);
        Assert.Equal(2, pushed.Seq);
        Assert.Equal(reply.Id, pushed.Id);

        // And the visitor's next message reaches the joined agent live.
        var second = await visitor.SendAsync(conversation.Id, "Thanks!");
        var live = await agent.Messages.WaitUntilAsync(m => m.Any(x => x.Id == second.Id));
        Assert.Equal(3, live.Single(x => x.Id == second.Id).Seq);
    }

    [Theory]
    [BothStores]
    public async Task Send_WithSameClientId_ReturnsOriginalMessage(Store store)
    {
        await using var storage = await TestStorage.CreateAsync(store);
        await using var server = await ParleyServer.StartAsync(storage);
        await using var visitor = await VisitorClient.ConnectAsync(server);
        var conversation = await visitor.StartConversationAsync();
        var clientId = Guid.NewGuid();

        var first = await visitor.SendAsync(conversation.Id, "only once", clientId);
        var retry = await visitor.SendAsync(conversation.Id, "only once", clientId);

        // Concurrent retries land in the same batch: still one message.
        var concurrent = await Task.WhenAll(Enumerable.Range(0, 10).Select(_ => visitor.SendAsync(conversation.Id, "only once", clientId)));

        Assert.False(first.Duplicate);
        Assert.True(retry.Duplicate);
        Assert.Equal((first.Id, first.Seq, first.CreatedAt), (retry.Id, retry.Seq, retry.CreatedAt));
        Assert.All(concurrent, a => Assert.Equal((first.Id, first.Seq, true), (a.Id, a.Seq, a.Duplicate)));
        Assert.Single(await server.MessagesAsync(conversation.Id));
    }

    [Theory]
    [BothStores]
    public async Task ConcurrentSenders_200_GetGapFreeSequence(Store store)
    {
        await using var storage = await TestStorage.CreateAsync(store);
        await using var server = await ParleyServer.StartAsync(storage);
        await using var first = await VisitorClient.ConnectAsync(server);
        var conversation = await first.StartConversationAsync();

        // 200 senders on 20 connections: 10 visitor tabs of the same visitor and 10 agents, all at once.
        var visitors = new List<VisitorClient> { first };
        for (var i = 1; i < 10; i++)
        {
            visitors.Add(await VisitorClient.ConnectAsync(server, first.Token, messagePack: i % 2 == 0));
        }

        var agents = new List<AgentClient>();
        for (var i = 0; i < 10; i++)
        {
            agents.Add(await AgentClient.ConnectAsync(server, messagePack: i % 2 == 0));
        }

        var sends = new List<Task<SendAck>>();
        for (var i = 0; i < 200; i++)
        {
            var n = i;
            sends.Add(i % 2 == 0
                ? visitors[(i / 2) % 10].SendAsync(conversation.Id, $"visitor message {n}")
                : agents[(i / 2) % 10].SendAsync(conversation.Id, $"agent message {n}"));
        }

        var acks = await Task.WhenAll(sends);

        Assert.Equal(Enumerable.Range(1, 200).Select(i => (long)i), acks.Select(a => a.Seq).Order());
        var stored = await server.MessagesAsync(conversation.Id);
        Assert.Equal(Enumerable.Range(1, 200).Select(i => (long)i), stored.Select(m => m.Seq));
        Assert.Equal(Enumerable.Range(1, 200).Select(i => (long?)i), stored.Select(m => m.VisitorSeq));
        Assert.Equal(acks.Select(a => a.Id).Order(), stored.Select(m => m.Id).Order());

        foreach (var client in visitors)
        {
            await client.DisposeAsync();
        }

        foreach (var client in agents)
        {
            await client.DisposeAsync();
        }
    }

    [Fact]
    public async Task PipelinedSends_FromOneConnection_KeepTheirOrder()
    {
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage);
        await using var visitor = await VisitorClient.ConnectAsync(server);
        var conversation = await visitor.StartConversationAsync();

        // Fired without waiting for acks: several are in flight on the connection at once.
        var sends = Enumerable.Range(1, 100).Select(i => visitor.SendAsync(conversation.Id, $"line {i}")).ToList();
        var acks = await Task.WhenAll(sends);

        Assert.Equal(Enumerable.Range(1, 100).Select(i => (long)i), acks.Select(a => a.Seq));
        Assert.Equal(Enumerable.Range(1, 100).Select(i => $"line {i}"), (await server.MessagesAsync(conversation.Id)).Select(m => m.Body));
    }

    [Theory]
    [BothStores]
    public async Task Reconnect_WithLastSeq_ReplaysExactlyTheMissedMessages(Store store)
    {
        await using var storage = await TestStorage.CreateAsync(store);
        await using var server = await ParleyServer.StartAsync(storage);
        var visitor = await VisitorClient.ConnectAsync(server);
        await using var agent = await AgentClient.ConnectAsync(server);
        var conversation = await visitor.StartConversationAsync();
        for (var i = 1; i <= 3; i++)
        {
            await visitor.SendAsync(conversation.Id, $"before {i}");
        }

        var token = visitor.Token;
        await visitor.DisposeAsync(); // the visitor drops off with lastSeq = 3

        var missed = new List<SendAck>();
        for (var i = 1; i <= 5; i++)
        {
            missed.Add(await agent.SendAsync(conversation.Id, $"while away {i}"));
        }

        await agent.SendAsync(conversation.Id, "internal: check the refund policy", note: true);

        await using var back = await VisitorClient.ConnectAsync(server, token);
        Assert.Equal(conversation.Id, back.Session.Conversation?.Id);
        var replay = await back.ResumeAsync(conversation.Id, afterSeq: 3);

        Assert.Equal(new long[] { 4, 5, 6, 7, 8 }, replay.Messages.Select(m => m.Seq));
        Assert.Equal(missed.Select(a => a.Id), replay.Messages.Select(m => m.Id));
        Assert.DoesNotContain(replay.Messages, m => m.Kind == "note");
        Assert.Equal(8, replay.LastSeq);
        Assert.False(replay.Truncated);

        // After resuming, live delivery continues on the same numbering.
        var next = await agent.SendAsync(conversation.Id, "welcome back");
        var live = await back.Messages.WaitUntilAsync(m => m.Any(x => x.Id == next.Id));
        Assert.Equal(9, live.Single(x => x.Id == next.Id).Seq);
    }

    [Fact]
    public async Task Replay_BeyondTheLimit_IsTruncatedToTheNewest()
    {
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage, new Dictionary<string, string?> { ["Parley:Messaging:ReplayLimit"] = "5" });
        await using var visitor = await VisitorClient.ConnectAsync(server);
        var conversation = await visitor.StartConversationAsync();
        await Task.WhenAll(Enumerable.Range(1, 12).Select(i => visitor.SendAsync(conversation.Id, $"m{i}")));

        var replay = await visitor.ResumeAsync(conversation.Id, afterSeq: 2);

        Assert.True(replay.Truncated);
        Assert.Equal(new long[] { 8, 9, 10, 11, 12 }, replay.Messages.Select(m => m.Seq));
    }

    [Theory]
    [BothStores]
    public async Task ServerRestart_BetweenSendAndReconnect_LosesNothingAcked(Store store)
    {
        await using var storage = await TestStorage.CreateAsync(store);
        var server = await ParleyServer.StartAsync(storage);
        var visitor = await VisitorClient.ConnectAsync(server);
        var conversation = await visitor.StartConversationAsync();
        var acks = await Task.WhenAll(Enumerable.Range(1, 50).Select(i => visitor.SendAsync(conversation.Id, $"durable {i}")));
        var token = visitor.Token;
        await visitor.DisposeAsync();
        await server.StopAsync();

        await using var restarted = await ParleyServer.StartAsync(storage);
        await using var back = await VisitorClient.ConnectAsync(restarted, token);
        var replay = await back.ResumeAsync(conversation.Id, afterSeq: 0);

        Assert.Equal(conversation.Id, back.Session.Conversation?.Id);
        Assert.Equal(acks.Select(a => a.Id).Order(), replay.Messages.Select(m => m.Id));
        Assert.Equal(Enumerable.Range(1, 50).Select(i => (long)i), replay.Messages.Select(m => m.Seq));

        // A retry of an acknowledged send after the restart is still recognised.
        var retried = await back.SendAsync(conversation.Id, "durable 1", acks[0].ClientId);
        Assert.True(retried.Duplicate);
        Assert.Equal(acks[0].Id, retried.Id);
    }

    [Fact]
    public async Task Notes_AreNeverDeliveredToVisitors_AndDoNotBreakTheirNumbering()
    {
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage);
        await using var visitor = await VisitorClient.ConnectAsync(server);
        await using var agent = await AgentClient.ConnectAsync(server);
        var conversation = await visitor.StartConversationAsync();
        await agent.JoinAsync(conversation.Id);

        var note = await agent.SendAsync(conversation.Id, "VIP customer, be nice", note: true);
        var text = await agent.SendAsync(conversation.Id, "Hello!");

        var visible = await visitor.Messages.WaitUntilAsync(m => m.Any(x => x.Id == text.Id));
        Assert.Equal(new long[] { 1 }, visible.Select(m => m.Seq));
        Assert.Equal((1, 2), (note.Seq, text.Seq));
        var agentView = await agent.Messages.WaitForCountAsync(2);
        Assert.Contains(agentView, m => m.Id == note.Id && m.Kind == "note");
    }
}
