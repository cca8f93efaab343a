using Parley.Client;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Integration;

/// <summary>Parley.Client against a real server: REST calls and the self-resuming gRPC stream.</summary>
public sealed class ClientTests
{
    [Fact]
    public async Task Client_PublishesEvents_SendsMessages_AndStreams()
    {
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        var (server, grpcAddress, token) = await IntegrationTestKit.StartWithGrpcAsync(storage);
        await using var _ = server;
        await using var visitor = await VisitorClient.ConnectAsync(server);
        var conversation = await visitor.StartConversationAsync();

        using var client = new ParleyClient(new ParleyClientOptions { BaseAddress = server.BaseAddress, GrpcAddress = grpcAddress, ApiToken = token });
        var attributes = await client.UpdateAttributesAsync(visitor.Session.ContactId, new Dictionary<string, object?> { ["plan"] = "gold" }, TestContext.Current.CancellationToken);
        Assert.Equal("gold", attributes.Attributes["plan"]!.GetValue<string>());

        var published = await client.PublishEventAsync(new BusinessEvent("ORDER", new ContactRef(ExternalId: "client-1"), new { order_id = "A-1" }, SiteKey: ParleyServer.SiteKey), "order-A-1", TestContext.Current.CancellationToken);
        var again = await client.PublishEventAsync(new BusinessEvent("ORDER", new ContactRef(ExternalId: "client-1"), new { order_id = "A-1" }, SiteKey: ParleyServer.SiteKey), "order-A-1", TestContext.Current.CancellationToken);
        Assert.Equal(published.Id, again.Id); // the idempotency key made the repeat a replay
        var found = await client.ListContactsAsync(externalId: "client-1", cancellationToken: TestContext.Current.CancellationToken);
        Assert.Equal(published.ContactId, Assert.Single(found.Items).Id);

        var sent = await client.SendMessageAsync(conversation.Id, "Hello from the ERP", cancellationToken: TestContext.Current.CancellationToken);
        await visitor.Messages.WaitUntilAsync(m => m.Any(x => x.Id == sent.Id));

        var error = await Assert.ThrowsAsync<ParleyApiException>(() => client.GetContactAsync(Guid.NewGuid(), TestContext.Current.CancellationToken));
        Assert.Equal("contact_not_found", error.Code);

        using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        cts.CancelAfter(TimeSpan.FromSeconds(15));
        var types = new List<string>();
        await foreach (var evt in client.SubscribeAsync(["business", "message"], cancellationToken: cts.Token))
        {
            types.Add(evt.Type);
            if (evt.Type == "message.created" && evt.Data.GetProperty("id").GetInt64() == sent.Id)
            {
                break;
            }
        }

        Assert.Equal(["business.order", "message.created"], types);
    }
}
