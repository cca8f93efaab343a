using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using Google.Protobuf.WellKnownTypes;
using Microsoft.Playwright;
using Parley.Grpc;
using Parley.Tests.E2E;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Integration;

/// <summary>The agent's view in real Chromium: adapter cards in the context panel, business events arriving live.</summary>
public sealed class BusinessEventConsoleTests(BrowserFixture browser) : IClassFixture<BrowserFixture>
{
    [Fact]
    public async Task BusinessEventsPostedByRestAndGrpc_AppearInTheOpenConsoleWithinOneSecond()
    {
        browser.SkipIfUnavailable();
        await using var orders = await FakeOrderSystem.StartAsync();
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        var (server, grpcAddress, token) = await IntegrationTestKit.StartWithGrpcAsync(storage, orders.AdapterSettings("00:00:03"));
        await using var _ = server;

        // A customer the shop knows as c-42 is chatting.
        await using var visitor = await VisitorClient.ConnectAsync(server);
        var conversation = await visitor.StartConversationAsync();
        await visitor.SendAsync(conversation.Id, "Question about order A-1001");
        using var erp = IntegrationTestKit.TokenClient(server, token);
        (await erp.PatchAsJsonAsync($"/api/v1/contacts/{visitor.Session.ContactId}", new { externalId = "c-42", name = "Ana" }, TestContext.Current.CancellationToken)).EnsureSuccessStatusCode();

        // Warm both paths up once (first-request JIT and EF query compilation are not what is measured here).
        using var channel = IntegrationTestKit.Channel(grpcAddress, token);
        var grpc = new ParleyService.ParleyServiceClient(channel);
        (await erp.PostAsJsonAsync("/api/v1/events", new { event_type = "CUSTOMER", contact = new { external_id = "warm-up" }, site_key = ParleyServer.SiteKey }, TestContext.Current.CancellationToken)).EnsureSuccessStatusCode();
        await grpc.PublishEventAsync(new BusinessEvent { EventType = "CUSTOMER", Contact = new ContactRef { ExternalId = "warm-up" } }, cancellationToken: TestContext.Current.CancellationToken);

        // The agent opens the conversation in the console.
        await using var context = await browser.Browser.NewContextAsync(new() { Locale = "en-US" });
        var console = await ConsolePage.SignInAsync(context, server);
        await console.GetByTestId("inbox-item").First.ClickAsync();
        await Assertions.Expect(console.Locator("[data-testid=message][data-sender-kind=visitor]").GetByTestId("message-body"))
            .ToHaveTextAsync("Question about order A-1001", new() { Timeout = 20_000 });

        // The generic HTTP adapter's cards from the fake order system render in the context panel.
        var cards = console.GetByTestId("context-card");
        await Assertions.Expect(cards).ToHaveCountAsync(2, new() { Timeout = 10_000 });
        await Assertions.Expect(cards.First).ToContainTextAsync("Order A-1001");
        await Assertions.Expect(cards.First).ToContainTextAsync("59.9 EUR");

        // A business event over REST shows up within a second of being posted.
        var stopwatch = Stopwatch.StartNew();
        var posted = await erp.PostAsJsonAsync("/api/v1/events", new
        {
            event_type = "ORDER",
            contact = new { external_id = "c-42" },
            data = new { order_id = "A-1002", status = "paid" },
        }, TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.Created, posted.StatusCode);
        var restPost = stopwatch.Elapsed;
        // Locator.WaitFor checks on every animation frame (Expect's retries back off up to a second).
        var restEvent = console.Locator("[data-testid=contact-event][data-type=ORDER]");
        await restEvent.WaitForAsync(new() { Timeout = 1_000 });
        var restLatency = stopwatch.Elapsed;
        await Assertions.Expect(restEvent).ToContainTextAsync("A-1002");

        // And one over gRPC.
        stopwatch.Restart();
        await grpc.PublishEventAsync(new BusinessEvent
        {
            EventType = "TICKET",
            Contact = new ContactRef { ExternalId = "c-42" },
            Data = new Struct { Fields = { ["ticket_id"] = Value.ForString("T-77"), ["subject"] = Value.ForString("Damaged parcel") } },
        }, cancellationToken: TestContext.Current.CancellationToken);
        var grpcCall = stopwatch.Elapsed;
        var grpcEvent = console.Locator("[data-testid=contact-event][data-type=TICKET]");
        await grpcEvent.WaitForAsync(new() { Timeout = 1_000 });
        var grpcLatency = stopwatch.Elapsed;
        await Assertions.Expect(grpcEvent).ToContainTextAsync("T-77");

        Assert.True(restLatency < TimeSpan.FromSeconds(1), $"REST event took {restLatency.TotalMilliseconds:0} ms (POST {restPost.TotalMilliseconds:0} ms)");
        Assert.True(grpcLatency < TimeSpan.FromSeconds(1), $"gRPC event took {grpcLatency.TotalMilliseconds:0} ms (call {grpcCall.TotalMilliseconds:0} ms)");
        TestContext.Current.SendDiagnosticMessage($"post-to-visible: REST {restLatency.TotalMilliseconds:0} ms, gRPC {grpcLatency.TotalMilliseconds:0} ms");
    }
}
