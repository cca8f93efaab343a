using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Parley.Data;
using Parley.Server.Features.Integration;
using Parley.Server.Features.Privacy;
using Parley.Server.Messaging;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Integration;

/// <summary>
/// One writer (#14): a message's <c>message.created</c> event and its webhook outbox rows are stored in the message's own
/// group-commit transaction, so they exist when the ack returns — no waiting — on both stores.
/// </summary>
public sealed class MessageEventTests
{
    // The webhook worker stays off: the outbox rows are looked at as the commit left them.
    private static readonly Dictionary<string, string?> NoWorker = new()
    {
        ["Parley:Webhooks:WorkerEnabled"] = "false",
        ["Parley:Webhooks:AllowPrivateTargets"] = "true",
    };

    private static readonly string[] MessageCreated = ["message.created"];

    /// <summary>Non-ASCII, HTML-sensitive characters, quotes, a line separator: the escaping must match the log's serializer.</summary>
    private const string Awkward = "<b>你好</b> & 'x' \"q\" \\ \u2028 +1 😀";

    [Theory]
    [BothStores]
    public async Task AckedMessage_HasItsEventAndOutboxRows_WhenTheAckReturns(Store store)
    {
        await using var storage = await TestStorage.CreateAsync(store);
        await using var server = await ParleyServer.StartAsync(storage, NoWorker);
        var (admin, _) = await AgentClient.SignInAsync(server);
        var subscribed = await WebhookTests.CreateEndpointAsync(admin, new Uri("http://127.0.0.1:9/a"), ["message.*"]);
        var everything = await WebhookTests.CreateEndpointAsync(admin, new Uri("http://127.0.0.1:9/b"), ["*"]);
        var other = await WebhookTests.CreateEndpointAsync(admin, new Uri("http://127.0.0.1:9/c"), ["conversation.closed"]);

        await using var visitor = await VisitorClient.ConnectAsync(server);
        var conversation = await visitor.StartConversationAsync();
        var acks = new List<SendAck>();
        foreach (var body in new[] { "Where is my parcel?", Awkward, "third" })
        {
            acks.Add(await visitor.SendAsync(conversation.Id, body));
        }

        // Read right after the acks, without polling: the events were committed with the messages.
        await using var scope = server.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ParleyDbContext>();
        var events = await db.IntegrationEvents.AsNoTracking()
            .Where(e => e.Type == "message.created" && e.ConversationId == conversation.Id).OrderBy(e => e.Id).ToListAsync(TestContext.Current.CancellationToken);
        Assert.Equal(3, events.Count);
        var messages = await db.Messages.AsNoTracking().Where(m => m.ConversationId == conversation.Id).OrderBy(m => m.Seq).ToListAsync(TestContext.Current.CancellationToken);
        var contactId = await db.Conversations.Where(c => c.Id == conversation.Id).Select(c => c.ContactId).SingleAsync(TestContext.Current.CancellationToken);
        for (var i = 0; i < 3; i++)
        {
            var message = messages.Single(m => m.Id == acks[i].Id);
            Assert.Equal(contactId, events[i].ContactId);

            // Byte for byte what the integration log stored before the move: reflection-based serialisation of the
            // agent's DTO with the log's options.
            Assert.Equal(JsonSerializer.Serialize<object>(MessageMapper.ToDto(message, Audience.Agent), IntegrationEventLog.Json), events[i].DataJson);
        }

        Assert.Equal(Awkward, JsonDocument.Parse(events[1].DataJson).RootElement.GetProperty("body").GetString());

        var eventIds = events.Select(e => e.Id).ToList();
        var deliveries = await db.WebhookDeliveries.AsNoTracking().Where(d => eventIds.Contains(d.EventId)).ToListAsync(TestContext.Current.CancellationToken);
        Assert.Equal(6, deliveries.Count);
        Assert.All(deliveries, d => Assert.Equal(WebhookDeliveryStatus.Pending, d.Status));
        Assert.Equal(3, deliveries.Count(d => d.EndpointId == subscribed.Id));
        Assert.Equal(3, deliveries.Count(d => d.EndpointId == everything.Id));
        Assert.DoesNotContain(deliveries, d => d.EndpointId == other.Id);
    }

    [Theory]
    [BothStores]
    public async Task ChangedSubscriptions_ApplyToTheNextMessage(Store store)
    {
        await using var storage = await TestStorage.CreateAsync(store);
        await using var server = await ParleyServer.StartAsync(storage, NoWorker);
        var (admin, _) = await AgentClient.SignInAsync(server);
        var endpoint = await WebhookTests.CreateEndpointAsync(admin, new Uri("http://127.0.0.1:9/a"), ["conversation.created"]);
        await using var visitor = await VisitorClient.ConnectAsync(server);
        var conversation = await visitor.StartConversationAsync();

        async Task<int> DeliveriesOfAsync(SendAck ack)
        {
            await using var scope = server.Services.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<ParleyDbContext>();
            return await (from d in db.WebhookDeliveries
                          join e in db.IntegrationEvents on d.EventId equals e.Id
                          where d.EndpointId == endpoint.Id && e.Type == "message.created" && e.DataJson.Contains("\"id\":" + ack.Id + ",")
                          select d).CountAsync(TestContext.Current.CancellationToken);
        }

        Assert.Equal(0, await DeliveriesOfAsync(await visitor.SendAsync(conversation.Id, "before")));

        var subscribe = await admin.PatchAsJsonAsync($"/api/v1/webhooks/{endpoint.Id}", new { eventTypes = MessageCreated }, TestContext.Current.CancellationToken);
        subscribe.EnsureSuccessStatusCode();
        Assert.Equal(1, await DeliveriesOfAsync(await visitor.SendAsync(conversation.Id, "subscribed")));

        var disable = await admin.PatchAsJsonAsync($"/api/v1/webhooks/{endpoint.Id}", new { enabled = false }, TestContext.Current.CancellationToken);
        disable.EnsureSuccessStatusCode();
        Assert.Equal(0, await DeliveriesOfAsync(await visitor.SendAsync(conversation.Id, "disabled")));
    }

    [Theory]
    [BothStores]
    public async Task MessageInAnAnonymisedConversation_IsStoredWithoutPayload(Store store)
    {
        await using var storage = await TestStorage.CreateAsync(store);
        await using var server = await ParleyServer.StartAsync(storage, NoWorker);
        await using var visitor = await VisitorClient.ConnectAsync(server);
        var conversation = await visitor.StartConversationAsync();
        await visitor.SendAsync(conversation.Id, "kept");

        // The conversation is anonymised behind the sender's back (its content removed, still open).
        await using (var scope = server.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<ParleyDbContext>();
            await db.Conversations.Where(c => c.Id == conversation.Id)
                .ExecuteUpdateAsync(s => s.SetProperty(c => c.AnonymisedAt, DateTime.UtcNow), TestContext.Current.CancellationToken);
        }

        await visitor.SendAsync(conversation.Id, "secret text");
        await using (var scope = server.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<ParleyDbContext>();
            var events = await db.IntegrationEvents.AsNoTracking().Where(e => e.Type == "message.created" && e.ConversationId == conversation.Id)
                .OrderBy(e => e.Id).Select(e => e.DataJson).ToListAsync(TestContext.Current.CancellationToken);
            Assert.Equal(2, events.Count);
            Assert.Contains("kept", events[0], StringComparison.Ordinal);
            Assert.Equal(DataLifecycle.RedactedPayload, events[1]);
        }
    }
}
