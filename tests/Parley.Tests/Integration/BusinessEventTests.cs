using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Microsoft.AspNetCore.SignalR.Client;
using Parley.Grpc;
using Parley.Server.Features.Integration;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Integration;

/// <summary>Inbound business events (REST JSON, REST protobuf, gRPC), the contact timeline and the live push to agents.</summary>
public sealed class BusinessEventTests
{
    private static readonly int[] TwoNumbers = [1, 2];

    [Theory]
    [BothStores]
    public async Task EventPostedByRestAndGrpc_ReachesTheTimelineAndTheAgentViewingTheConversation(Store store)
    {
        await using var storage = await TestStorage.CreateAsync(store);
        var (server, grpcAddress, token) = await IntegrationTestKit.StartWithGrpcAsync(storage);
        await using var _ = server;
        await using var visitor = await VisitorClient.ConnectAsync(server);
        var conversation = await visitor.StartConversationAsync();
        await visitor.SendAsync(conversation.Id, "Hi, about my order");
        var contactId = visitor.Session.ContactId;

        // The business knows this visitor as customer c-42 (an identified contact).
        await using var agent = await AgentClient.ConnectAsync(server);
        var patched = await agent.Http.PatchAsJsonAsync($"/api/v1/contacts/{contactId}", new { externalId = "c-42", email = "ana@example.com", attributes = new { plan = "gold" } }, TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.OK, patched.StatusCode);
        var pushed = new Inbox<ContactEventMessage>();
        agent.Hub.On<ContactEventMessage>("contactEvent", pushed.Add);
        await agent.JoinAsync(conversation.Id);

        using var erp = IntegrationTestKit.TokenClient(server, token);
        var rest = await erp.PostAsJsonAsync("/api/v1/events", new
        {
            event_type = "ORDER",
            contact = new { external_id = "c-42" },
            data = new { order_id = "A-1001", status = "shipped", total = 59.9 },
            occurred_at = "2026-11-25T10:00:00Z",
        }, TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.Created, rest.StatusCode);
        var reply = (await rest.Content.ReadFromJsonAsync<BusinessEventReply>(TestContext.Current.CancellationToken))!;
        Assert.Equal(contactId, reply.ContactId);

        var live = (await pushed.WaitForCountAsync(1, TimeSpan.FromSeconds(1))).Single();
        Assert.Equal("ORDER", live.EventType);
        Assert.Equal("A-1001", JsonDocument.Parse(live.DataJson).RootElement.GetProperty("order_id").GetString());

        using var channel = IntegrationTestKit.Channel(grpcAddress, token);
        var grpc = new ParleyService.ParleyServiceClient(channel);
        var data = new Struct();
        data.Fields["ticket_id"] = Value.ForString("T-7");
        data.Fields["subject"] = Value.ForString("Refund");
        var grpcReply = await grpc.PublishEventAsync(
            new BusinessEvent { EventType = "TICKET", Contact = new ContactRef { Email = "ANA@example.com" }, Data = data, OccurredAt = Timestamp.FromDateTime(DateTime.UtcNow) },
            cancellationToken: TestContext.Current.CancellationToken);
        Assert.Equal(contactId.ToString(), grpcReply.ContactId);
        var both = await pushed.WaitForCountAsync(2, TimeSpan.FromSeconds(1));
        Assert.Equal("TICKET", both[1].EventType);

        // Protobuf over REST is accepted too.
        var proto = new BusinessEvent { EventType = "loyalty.points", Contact = new ContactRef { ExternalId = "c-42" }, Data = new Struct { Fields = { ["points"] = Value.ForNumber(120) } } };
        using var content = new ByteArrayContent(proto.ToByteArray());
        content.Headers.ContentType = new MediaTypeHeaderValue("application/x-protobuf");
        var protoResponse = await erp.PostAsync("/api/v1/events", content, TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.Created, protoResponse.StatusCode);

        var timeline = await agent.Http.GetFromJsonAsync<JsonElement>($"/api/v1/contacts/{contactId}/events", TestContext.Current.CancellationToken);
        Assert.Equal(["loyalty.points", "TICKET", "ORDER"], timeline.GetProperty("items").EnumerateArray().Select(e => e.GetProperty("eventType").GetString()));
        var contact = await agent.Http.GetFromJsonAsync<JsonElement>($"/api/v1/contacts/{contactId}", TestContext.Current.CancellationToken);
        Assert.Equal("gold", contact.GetProperty("attributes").GetProperty("plan").GetString());
    }

    [Theory]
    [BothStores]
    public async Task IdempotencyKey_ReplaysTheStoredResponse_AndRefusesAnotherRequest(Store store)
    {
        await using var storage = await TestStorage.CreateAsync(store);
        var (server, grpcAddress, token) = await IntegrationTestKit.StartWithGrpcAsync(storage);
        await using var _ = server;
        using var erp = IntegrationTestKit.TokenClient(server, token);
        var body = new { event_type = "CUSTOMER", contact = new { external_id = "new-1" }, data = new { tier = "vip" }, site_key = ParleyServer.SiteKey };

        async Task<HttpResponseMessage> PostAsync(object payload)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/events") { Content = JsonContent.Create(payload) };
            request.Headers.Add("Idempotency-Key", "import-7");
            return await erp.SendAsync(request, TestContext.Current.CancellationToken);
        }

        var first = await PostAsync(body);
        Assert.Equal(HttpStatusCode.Created, first.StatusCode);
        var again = await PostAsync(body);
        Assert.Equal(HttpStatusCode.Created, again.StatusCode);
        Assert.Equal("true", again.Headers.GetValues("Idempotent-Replayed").Single());
        Assert.Equal(await first.Content.ReadAsStringAsync(TestContext.Current.CancellationToken), await again.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));

        var reply = (await first.Content.ReadFromJsonAsync<BusinessEventReply>(TestContext.Current.CancellationToken))!;
        var timeline = await erp.GetFromJsonAsync<JsonElement>($"/api/v1/contacts/{reply.ContactId}/events", TestContext.Current.CancellationToken);
        Assert.Single(timeline.GetProperty("items").EnumerateArray()); // stored once

        var other = await PostAsync(new { event_type = "CUSTOMER", contact = new { external_id = "new-1" }, data = new { tier = "basic" }, site_key = ParleyServer.SiteKey });
        Assert.Equal(HttpStatusCode.UnprocessableEntity, other.StatusCode);
        Assert.Equal("idempotency_key_reused", (await other.Content.ReadFromJsonAsync<JsonElement>(TestContext.Current.CancellationToken)).GetProperty("code").GetString());
    }

    [Fact]
    public async Task BadEvents_GetClearErrors()
    {
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        var (server, grpcAddress, token) = await IntegrationTestKit.StartWithGrpcAsync(storage);
        await using var _ = server;
        using var erp = IntegrationTestKit.TokenClient(server, token);

        async Task ExpectAsync(HttpStatusCode status, string code, object payload)
        {
            var response = await erp.PostAsJsonAsync("/api/v1/events", payload, TestContext.Current.CancellationToken);
            Assert.Equal(status, response.StatusCode);
            Assert.Equal(code, (await response.Content.ReadFromJsonAsync<JsonElement>(TestContext.Current.CancellationToken)).GetProperty("code").GetString());
        }

        await ExpectAsync(HttpStatusCode.BadRequest, "event_type_invalid", new { event_type = "no spaces allowed", contact = new { external_id = "x" } });
        await ExpectAsync(HttpStatusCode.BadRequest, "contact_required", new { event_type = "ORDER", contact = new { } });
        await ExpectAsync(HttpStatusCode.NotFound, "contact_not_found", new { event_type = "ORDER", contact = new { email = "nobody@example.com" } });
        await ExpectAsync(HttpStatusCode.BadRequest, "event_data_invalid", new { event_type = "ORDER", contact = new { external_id = "x" }, data = TwoNumbers, site_key = ParleyServer.SiteKey });
        await ExpectAsync(HttpStatusCode.NotFound, "site_not_found", new { event_type = "ORDER", contact = new { external_id = "x" }, site_key = "nope" });

        using var garbage = new StringContent("{not json", System.Text.Encoding.UTF8, "application/json");
        var invalid = await erp.PostAsync("/api/v1/events", garbage, TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.BadRequest, invalid.StatusCode);

        // Without a key (and without a session) the API refuses.
        using var anonymous = server.CreateHttpClient();
        var refused = await anonymous.PostAsJsonAsync("/api/v1/events", new { event_type = "ORDER" }, TestContext.Current.CancellationToken);
        Assert.True(refused.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden, refused.StatusCode.ToString());

        using var channel = IntegrationTestKit.Channel(grpcAddress, token);
        var grpc = new ParleyService.ParleyServiceClient(channel);
        var error = await Assert.ThrowsAsync<RpcException>(async () => await grpc.PublishEventAsync(new BusinessEvent { EventType = "ORDER" }, cancellationToken: TestContext.Current.CancellationToken));
        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.StartsWith("contact_required:", error.Status.Detail, StringComparison.Ordinal);
    }
}
