using System.Text.Json;
using Grpc.Core;
using Parley.Grpc;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Integration;

/// <summary>The gRPC event stream: resumable from an event id without gaps or duplicates.</summary>
public sealed class GrpcStreamTests
{
    [Theory]
    [BothStores]
    public async Task SubscriberThatDisconnectsAndResumes_MissesNothing(Store store)
    {
        await using var storage = await TestStorage.CreateAsync(store);
        var (server, grpcAddress, token) = await IntegrationTestKit.StartWithGrpcAsync(storage);
        await using var _ = server;
        await using var visitor = await VisitorClient.ConnectAsync(server);
        var conversation = await visitor.StartConversationAsync();
        using var channel = IntegrationTestKit.Channel(grpcAddress, token);
        var grpc = new ParleyService.ParleyServiceClient(channel);

        var seen = new List<(long Id, string Body)>();
        long lastId;
        using (var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken))
        {
            using var call = grpc.Subscribe(new SubscribeRequest { Topics = { "message" } }, cancellationToken: cts.Token);
            for (var i = 0; i < 5; i++)
            {
                await visitor.SendAsync(conversation.Id, $"m{i}");
            }

            // Take three, then drop the connection with two already sent to us or still queued.
            while (seen.Count < 3 && await call.ResponseStream.MoveNext(cts.Token))
            {
                seen.Add(Read(call.ResponseStream.Current));
            }

            lastId = seen[^1].Id;
            await cts.CancelAsync();
        }

        // Meanwhile more happens (and a conversation event the topic filter must skip).
        for (var i = 5; i < 10; i++)
        {
            await visitor.SendAsync(conversation.Id, $"m{i}");
        }

        using (var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken))
        {
            cts.CancelAfter(TimeSpan.FromSeconds(15));
            using var call = grpc.Subscribe(new SubscribeRequest { Topics = { "message" }, FromEventId = lastId }, cancellationToken: cts.Token);
            while (seen.Count < 10 && await call.ResponseStream.MoveNext(cts.Token))
            {
                seen.Add(Read(call.ResponseStream.Current));
            }
        }

        Assert.Equal(Enumerable.Range(0, 10).Select(i => $"m{i}"), seen.Select(s => s.Body));
        Assert.Equal(seen.Select(s => s.Id).Order(), seen.Select(s => s.Id)); // ascending, no duplicates
        Assert.Equal(10, seen.Select(s => s.Id).Distinct().Count());
    }

    [Fact]
    public async Task SendMessage_UsesTheSameCoreAsRest()
    {
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        var (server, grpcAddress, token) = await IntegrationTestKit.StartWithGrpcAsync(storage);
        await using var _ = server;
        await using var visitor = await VisitorClient.ConnectAsync(server);
        var conversation = await visitor.StartConversationAsync();
        using var channel = IntegrationTestKit.Channel(grpcAddress, token);
        var grpc = new ParleyService.ParleyServiceClient(channel);

        var clientId = Guid.NewGuid().ToString();
        var ack = await grpc.SendMessageAsync(new SendMessageRequest { ConversationId = conversation.Id.ToString(), ClientId = clientId, Body = "Your order shipped." }, cancellationToken: TestContext.Current.CancellationToken);
        var again = await grpc.SendMessageAsync(new SendMessageRequest { ConversationId = conversation.Id.ToString(), ClientId = clientId, Body = "Your order shipped." }, cancellationToken: TestContext.Current.CancellationToken);
        Assert.Equal(ack.Id, again.Id);
        Assert.True(again.Duplicate);

        var received = await visitor.Messages.WaitUntilAsync(m => m.Any(x => x.Id == ack.Id));
        Assert.Equal("Your order shipped.", received.Single(x => x.Id == ack.Id).Body);

        var missing = await Assert.ThrowsAsync<RpcException>(async () => await grpc.SendMessageAsync(new SendMessageRequest { ConversationId = Guid.NewGuid().ToString(), ClientId = Guid.NewGuid().ToString(), Body = "x" }, cancellationToken: TestContext.Current.CancellationToken));
        Assert.Equal(StatusCode.NotFound, missing.StatusCode);

        using var unauthenticated = global::Grpc.Net.Client.GrpcChannel.ForAddress(grpcAddress);
        var refused = await Assert.ThrowsAsync<RpcException>(async () => await new ParleyService.ParleyServiceClient(unauthenticated).SendMessageAsync(new SendMessageRequest(), cancellationToken: TestContext.Current.CancellationToken));
        Assert.Equal(StatusCode.Unauthenticated, refused.StatusCode);
    }

    private static (long Id, string Body) Read(Event evt)
    {
        Assert.Equal("message.created", evt.Type);
        return (evt.Id, JsonDocument.Parse(evt.DataJson).RootElement.GetProperty("body").GetString()!);
    }
}
