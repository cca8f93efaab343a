using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Grpc.Core;
using Parley.Grpc;
using Parley.Tests.Infrastructure;
using Parley.Tests.Security;

namespace Parley.Tests.Integration;

/// <summary>
/// A business system's API token acts as its user: the access policy's department sandbox and the token's scopes
/// apply to the integration surfaces (gRPC stream and calls, contacts, context) exactly as to the console.
/// </summary>
public sealed class TokenAccessTests
{
    private static readonly string[] SalesBodies = ["sales question", "last"];

    [Theory]
    [BothStores]
    public async Task AgentToken_SeesAndActsOnlyInItsDepartment_AndWithinItsScopes(Store store)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var storage = await TestStorage.CreateAsync(store);
        var (server, grpcAddress, adminToken) = await IntegrationTestKit.StartWithGrpcAsync(storage);
        await using var _ = server;
        var sales = await server.CreateTeamAsync("Sales");
        var billing = await server.CreateTeamAsync("Billing");
        await server.CreateUserAsync("bot@test.local", "agent", sales);
        var (billingVisitor, billingChat) = await server.VisitorInTeamAsync(billing, "billing secret");
        var (salesVisitor, salesChat) = await server.VisitorInTeamAsync(sales, "sales question");
        await using var __ = billingVisitor;
        await using var ___ = salesVisitor;

        var token = await IntegrationTestKit.CreateTokenAsync(server, ["conversations:write", "contacts:read"], "bot@test.local", SecurityFixtures.Password);
        using var channel = IntegrationTestKit.Channel(grpcAddress, token);
        var grpc = new ParleyService.ParleyServiceClient(channel);

        // The stream carries the own department's events only (the billing conversation's came first in the log).
        await billingVisitor.SendAsync(billingChat, "billing again");
        await salesVisitor.SendAsync(salesChat, "last");
        var seen = new List<Event>();
        using (var cts = CancellationTokenSource.CreateLinkedTokenSource(ct))
        {
            cts.CancelAfter(TimeSpan.FromSeconds(15));
            using var call = grpc.Subscribe(new SubscribeRequest { Topics = { "message" } }, cancellationToken: cts.Token);
            while (await call.ResponseStream.MoveNext(cts.Token))
            {
                seen.Add(call.ResponseStream.Current);
                if (JsonDocument.Parse(call.ResponseStream.Current.DataJson).RootElement.GetProperty("body").GetString() == "last")
                {
                    break;
                }
            }
        }

        Assert.Equal(SalesBodies, seen.Select(e => JsonDocument.Parse(e.DataJson).RootElement.GetProperty("body").GetString()));
        Assert.All(seen, e => Assert.Equal(salesChat.ToString(), e.ConversationId));

        // Calls: the other department's conversation is an unknown id; an admin-only call is refused for the role.
        var hidden = await Assert.ThrowsAsync<RpcException>(async () => await grpc.SendMessageAsync(new SendMessageRequest { ConversationId = billingChat.ToString(), ClientId = Guid.NewGuid().ToString(), Body = "x" }, cancellationToken: ct));
        Assert.Equal(StatusCode.NotFound, hidden.StatusCode);
        var sent = await grpc.SendMessageAsync(new SendMessageRequest { ConversationId = salesChat.ToString(), ClientId = Guid.NewGuid().ToString(), Body = "Your order shipped." }, cancellationToken: ct);
        await salesVisitor.Messages.WaitUntilAsync(m => m.Any(x => x.Id == sent.Id));
        var publish = await Assert.ThrowsAsync<RpcException>(async () => await grpc.PublishEventAsync(new BusinessEvent { EventType = "ORDER", Contact = new ContactRef { ExternalId = "x" } }, cancellationToken: ct));
        Assert.Equal(StatusCode.PermissionDenied, publish.StatusCode);

        // REST: contacts and context panels of the other department are unknown ids.
        using var http = IntegrationTestKit.TokenClient(server, token);
        var contacts = await http.GetFromJsonAsync<JsonElement>("/api/v1/contacts", ct);
        Assert.Equal(new[] { salesVisitor.Session.ContactId }, contacts.GetProperty("items").EnumerateArray().Select(c => c.GetProperty("id").GetGuid()));
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync($"/api/v1/contacts/{billingVisitor.Session.ContactId}", ct)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync($"/api/v1/contacts/{billingVisitor.Session.ContactId}/events", ct)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync($"/api/v1/conversations/{billingChat}/context", ct)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync($"/api/v1/conversations/{salesChat}/context", ct)).StatusCode);
        var write = await http.PatchAsJsonAsync($"/api/v1/contacts/{salesVisitor.Session.ContactId}", new { name = "x" }, ct);
        Assert.Equal(HttpStatusCode.Forbidden, write.StatusCode);
        Assert.Equal("insufficient_scope", (await write.Content.ReadFromJsonAsync<JsonElement>(ct)).GetProperty("code").GetString());

        // The admin's token sees every department.
        using var adminChannel = IntegrationTestKit.Channel(grpcAddress, adminToken);
        using (var cts = CancellationTokenSource.CreateLinkedTokenSource(ct))
        {
            cts.CancelAfter(TimeSpan.FromSeconds(15));
            using var call = new ParleyService.ParleyServiceClient(adminChannel).Subscribe(new SubscribeRequest { Topics = { "message" } }, cancellationToken: cts.Token);
            var conversations = new HashSet<string>();
            while (conversations.Count < 2 && await call.ResponseStream.MoveNext(cts.Token))
            {
                conversations.Add(call.ResponseStream.Current.ConversationId);
            }

            Assert.Equal(new[] { billingChat.ToString(), salesChat.ToString() }.Order(), conversations.Order());
        }
    }

    [Fact]
    public async Task GrpcCalls_NeedTheScopeOfTheRestAreaTheyMirror()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        var (server, grpcAddress, _) = await IntegrationTestKit.StartWithGrpcAsync(storage);
        await using var __ = server;
        await using var visitor = await VisitorClient.ConnectAsync(server);
        var conversation = await visitor.StartConversationAsync();
        var reader = await IntegrationTestKit.CreateTokenAsync(server, ["conversations:read"]);
        using var channel = IntegrationTestKit.Channel(grpcAddress, reader);
        var grpc = new ParleyService.ParleyServiceClient(channel);

        var send = await Assert.ThrowsAsync<RpcException>(async () => await grpc.SendMessageAsync(new SendMessageRequest { ConversationId = conversation.Id.ToString(), ClientId = Guid.NewGuid().ToString(), Body = "x" }, cancellationToken: ct));
        Assert.Equal(StatusCode.PermissionDenied, send.StatusCode);
        var publish = await Assert.ThrowsAsync<RpcException>(async () => await grpc.PublishEventAsync(new BusinessEvent { EventType = "ORDER", Contact = new ContactRef { ExternalId = "x" } }, cancellationToken: ct));
        Assert.Equal(StatusCode.PermissionDenied, publish.StatusCode);

        // Reading the stream is what the scope allows.
        await visitor.SendAsync(conversation.Id, "hello");
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(TimeSpan.FromSeconds(15));
        using var call = grpc.Subscribe(new SubscribeRequest { Topics = { "message" } }, cancellationToken: cts.Token);
        Assert.True(await call.ResponseStream.MoveNext(cts.Token));
        Assert.Equal("message.created", call.ResponseStream.Current.Type);
    }
}
