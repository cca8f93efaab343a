// Parley.Client sample: an "order system" that tells Parley about an order and then follows the conversation
// events. Create a user for the order system (role admin: it records business events) and a personal API token for
// it with the scopes events:write, contacts:write and conversations:write (docs/integration.md), then:
//
//   PARLEY_URL=http://localhost:5000 PARLEY_GRPC_URL=http://localhost:5001 PARLEY_TOKEN=pat_... \
//     dotnet run --project samples/Parley.Client.Sample -- c-42
//
// The argument is the customer's external id (a contact that exists, or pass PARLEY_SITE to create it).
using Parley.Client;

var baseUrl = new Uri(Environment.GetEnvironmentVariable("PARLEY_URL") ?? "http://localhost:5000");
var grpcUrl = Environment.GetEnvironmentVariable("PARLEY_GRPC_URL") is { Length: > 0 } g ? new Uri(g) : null;
var token = Environment.GetEnvironmentVariable("PARLEY_TOKEN") ?? throw new InvalidOperationException("Set PARLEY_TOKEN to a personal API token (pat_...).");
var customer = args.FirstOrDefault() ?? "c-42";

using var parley = new ParleyClient(new ParleyClientOptions { BaseAddress = baseUrl, GrpcAddress = grpcUrl, ApiToken = token });
using var stop = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) => { e.Cancel = true; stop.Cancel(); };

// 1. Put an order on the customer's timeline. The idempotency key makes a retried request (or a re-run) safe.
var orderId = "A-" + DateTime.UtcNow.ToString("HHmmss", System.Globalization.CultureInfo.InvariantCulture);
var stored = await parley.PublishEventAsync(
    new BusinessEvent("ORDER", new ContactRef(ExternalId: customer), new { order_id = orderId, status = "shipped", total = 59.90, currency = "EUR" },
        SiteKey: Environment.GetEnvironmentVariable("PARLEY_SITE")),
    idempotencyKey: $"order-{orderId}-shipped",
    cancellationToken: stop.Token);
Console.WriteLine($"Order {orderId} recorded on contact {stored.ContactId} (event {stored.EventId}).");

// 2. Follow conversations and messages. The client resumes by itself after a disconnect; keep the last id
//    somewhere durable to resume after a restart of this program too.
Console.WriteLine("Listening for conversation and message events (Ctrl+C to stop) ...");
try
{
    await foreach (var evt in parley.SubscribeAsync(["conversation", "message"], fromEventId: stored.EventId, cancellationToken: stop.Token))
    {
        Console.WriteLine($"#{evt.Id} {evt.Type} conversation={evt.ConversationId} {evt.Data}");
        if (evt.Type == "message.created" && evt.ConversationId is { } conversation
            && evt.Data.GetProperty("senderKind").GetString() == "visitor"
            && evt.Data.GetProperty("body").GetString()?.Contains(orderId, StringComparison.OrdinalIgnoreCase) == true)
        {
            // Answer questions about the order right away (idempotent by client id).
            await parley.SendMessageAsync(conversation, $"Order {orderId} has shipped.", cancellationToken: stop.Token);
        }
    }
}
catch (OperationCanceledException)
{
}
