using System.Net;
using System.Net.Http.Json;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Parley.Data;
using Parley.Server.Features.Webhooks;
using Parley.Tests.Infrastructure;
using Parley.Webhooks;

namespace Parley.Tests.Integration;

/// <summary>Outgoing webhooks against a real receiving HTTP server on loopback, once per store.</summary>
public sealed class WebhookTests
{
    private static readonly string[] All = ["*"];
    private static readonly string[] LifecycleTypes = ["conversation.assigned", "conversation.closed", "conversation.created", "conversation.queued", "csat.submitted"];

    /// <summary>Short retry delays so a test sees several attempts in well under a second each.</summary>
    private static readonly string[] CreatedOnly = ["conversation.created"];

    private static Dictionary<string, string?> FastRetries(params string[] schedule)
    {
        // The receivers listen on loopback: private targets are a server setting (never an API field).
        var settings = new Dictionary<string, string?> { ["Parley:Webhooks:Jitter"] = "0", ["Parley:Webhooks:PollInterval"] = "00:00:00.200", ["Parley:Webhooks:AllowPrivateTargets"] = "true" };
        for (var i = 0; i < schedule.Length; i++)
        {
            settings[$"Parley:Webhooks:RetrySchedule:{i}"] = schedule[i];
        }

        return settings;
    }

    [Theory]
    [BothStores]
    public async Task Delivery_IsSignedWithTheDocumentedAlgorithm(Store store)
    {
        await using var storage = await TestStorage.CreateAsync(store);
        await using var server = await ParleyServer.StartAsync(storage, FastRetries());
        await using var receiver = await WebhookReceiver.StartAsync();
        var (admin, _) = await AgentClient.SignInAsync(server);
        var endpoint = await CreateEndpointAsync(admin, receiver.Url, ["message.created"]);

        await using var visitor = await VisitorClient.ConnectAsync(server);
        var conversation = await visitor.StartConversationAsync();
        var ack = await visitor.SendAsync(conversation.Id, "Where is my parcel?");

        var received = (await receiver.Requests.WaitForCountAsync(1)).Single();
        using var doc = JsonDocument.Parse(received.Body);
        Assert.Equal("message.created", doc.RootElement.GetProperty("type").GetString());
        Assert.Equal(received.Id, doc.RootElement.GetProperty("id").GetString());
        Assert.Equal(ack.Id, doc.RootElement.GetProperty("data").GetProperty("id").GetInt64());
        Assert.Equal("Where is my parcel?", doc.RootElement.GetProperty("data").GetProperty("body").GetString());

        // The algorithm of docs/integration.md, written out independently of the server's code:
        // base64(HMAC-SHA256(key = base64-decode(secret without "whsec_"), "{id}.{timestamp}.{body}")), prefixed "v1,".
        var key = Convert.FromBase64String(endpoint.Secret["whsec_".Length..]);
        var signed = Encoding.UTF8.GetBytes($"{received.Id}.{received.Timestamp}.").Concat(received.Body).ToArray();
        var expected = "v1," + Convert.ToBase64String(HMACSHA256.HashData(key, signed));
        Assert.Equal(expected, received.Signature);
        Assert.InRange(long.Parse(received.Timestamp!, System.Globalization.CultureInfo.InvariantCulture), DateTimeOffset.UtcNow.AddMinutes(-1).ToUnixTimeSeconds(), DateTimeOffset.UtcNow.AddMinutes(1).ToUnixTimeSeconds());

        // The SDK's verifier accepts it, and refuses a tampered body or another secret.
        Assert.True(WebhookSignature.Verify(endpoint.Secret, received.Id, received.Timestamp, received.Signature, received.Body, DateTimeOffset.UtcNow));
        Assert.False(WebhookSignature.Verify(endpoint.Secret, received.Id, received.Timestamp, received.Signature, [.. received.Body, (byte)' '], DateTimeOffset.UtcNow));
        Assert.False(WebhookSignature.Verify(WebhookSignature.NewSecret(), received.Id, received.Timestamp, received.Signature, received.Body, DateTimeOffset.UtcNow));
        Assert.False(WebhookSignature.Verify(endpoint.Secret, received.Id, received.Timestamp, received.Signature, received.Body, DateTimeOffset.UtcNow.AddMinutes(10)));
    }

    [Theory]
    [BothStores]
    public async Task Workers_AreWokenOnlyByCommitsThatWroteOutboxRows(Store store)
    {
        await using var storage = await TestStorage.CreateAsync(store);
        await using var server = await ParleyServer.StartAsync(storage, FastRetries());
        await using var receiver = await WebhookReceiver.StartAsync();
        var (admin, _) = await AgentClient.SignInAsync(server);
        var signal = server.Services.GetRequiredService<Parley.Server.Features.Integration.IntegrationEventSignal>();
        var ct = TestContext.Current.CancellationToken;

        // No endpoint: the message's commit wakes gRPC streams (every event) but not the webhook workers.
        var events = signal.WaitAsync(ct);
        var outbox = signal.OutboxWaitAsync(ct);
        await using var visitor = await VisitorClient.ConnectAsync(server);
        var conversation = await visitor.StartConversationAsync();
        await visitor.SendAsync(conversation.Id, "Nobody subscribes to this");
        Assert.True(events.IsCompleted); // rung after the commit, before the ack
        await using (var scope = server.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<ParleyDbContext>();
            await PollAsync(async () => await db.IntegrationEvents.AnyAsync(e => e.Type == "conversation.created") ? "stored" : null);
        }

        Assert.False(outbox.IsCompleted);

        // Subscribed: the next commit writes an outbox row and wakes them.
        await CreateEndpointAsync(admin, receiver.Url, ["message.created"]);
        Assert.False(outbox.IsCompleted);
        var ack = await visitor.SendAsync(conversation.Id, "Now somebody does");
        Assert.True(outbox.IsCompleted);
        var received = (await receiver.Requests.WaitForCountAsync(1)).Single();
        using var doc = JsonDocument.Parse(received.Body);
        Assert.Equal(ack.Id, doc.RootElement.GetProperty("data").GetProperty("id").GetInt64());
    }

    [Theory]
    [BothStores]
    public async Task ReceiverFailingThreeTimes_GetsTheEventOnTheFourthTry(Store store)
    {
        await using var storage = await TestStorage.CreateAsync(store);
        await using var server = await ParleyServer.StartAsync(storage, FastRetries("00:00:00.100", "00:00:00.100", "00:00:00.100", "00:00:00.100"));
        await using var receiver = await WebhookReceiver.StartAsync(500, 503, 502);
        var (admin, _) = await AgentClient.SignInAsync(server);
        var endpoint = await CreateEndpointAsync(admin, receiver.Url, ["conversation.created"]);

        await using var visitor = await VisitorClient.ConnectAsync(server);
        var conversation = await visitor.StartConversationAsync();

        var requests = await receiver.Requests.WaitForCountAsync(4);
        Assert.Equal([500, 503, 502, 200], requests.Select(r => r.AnsweredWith));
        Assert.Single(requests.Select(r => r.Id).Distinct()); // one message id across retries: receivers dedupe on it
        Assert.All(requests, r => Assert.Contains("\"conversation.created\"", r.Text, StringComparison.Ordinal));
        Assert.Contains(conversation.Id.ToString(), requests[^1].Text, StringComparison.Ordinal);

        var delivery = await WaitForDeliveryAsync(admin, endpoint.Id, d => d.Status == "succeeded");
        Assert.Equal(4, delivery.Attempts);
        var detail = (await admin.GetFromJsonAsync<WebhookDeliveryDto>($"/api/v1/webhooks/{endpoint.Id}/deliveries/{delivery.Id}", TestContext.Current.CancellationToken))!;
        Assert.Equal([500, 503, 502, 200], detail.Log!.Select(a => a.ResponseStatus ?? 0));
        Assert.Null(detail.Log![0].ResponseBody); // the receiver is on loopback: a private target's answer is never logged
        Assert.Contains("webhook-id: " + requests[0].Id, detail.Log![0].RequestHeaders, StringComparison.Ordinal);

        // No fifth request: a delivered event is not sent again.
        Assert.Equal(4, receiver.Requests.Snapshot().Count);

        // A manual redelivery sends it once more with the same webhook-id.
        var redeliver = await admin.PostAsync($"/api/v1/webhooks/{endpoint.Id}/deliveries/{delivery.Id}/redeliver", null, TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.Accepted, redeliver.StatusCode);
        var again = await receiver.Requests.WaitForCountAsync(5);
        Assert.Equal(requests[0].Id, again[4].Id);
    }

    [Theory]
    [BothStores]
    public async Task ServerRestartDuringRetries_LosesNothing(Store store)
    {
        await using var storage = await TestStorage.CreateAsync(store);
        await using var receiver = await WebhookReceiver.StartAsync();
        receiver.DefaultStatus = 503;
        // Two quick retries, then 2 s apart: the first event must not use up its schedule while a loaded machine is still
        // sending the fifth (8 x 150 ms could), and the restarted server's next attempt is at most 2 s away.
        var settings = FastRetries("00:00:00.150", "00:00:00.150", "00:00:02", "00:00:02", "00:00:02", "00:00:02", "00:00:02", "00:00:02");
        const int Count = 5;
        Guid conversationId;
        var first = await ParleyServer.StartAsync(storage, settings);
        try
        {
            var (admin, _) = await AgentClient.SignInAsync(first);
            await CreateEndpointAsync(admin, receiver.Url, ["message.created"]);
            await using var visitor = await VisitorClient.ConnectAsync(first);
            conversationId = (await visitor.StartConversationAsync()).Id;
            for (var i = 0; i < Count; i++)
            {
                await visitor.SendAsync(conversationId, $"message {i}");
            }

            // Every event has been tried and failed at least once; then the server goes down mid-schedule.
            await receiver.Requests.WaitUntilAsync(r => r.Select(x => x.Id).Distinct().Count() == Count);
        }
        finally
        {
            await first.StopAsync();
        }

        receiver.DefaultStatus = 200;
        await using var second = await ParleyServer.StartAsync(storage, settings);
        var all = await receiver.Requests.WaitUntilAsync(r => r.Where(x => x.AnsweredWith == 200).Select(x => x.Id).Distinct().Count() == Count, TimeSpan.FromSeconds(20));

        var delivered = all.Where(x => x.AnsweredWith == 200).ToList();
        Assert.Equal(Count, delivered.Count); // each event accepted exactly once
        var bodies = delivered.Select(d => JsonDocument.Parse(d.Body).RootElement.GetProperty("data").GetProperty("body").GetString()).Order().ToList();
        Assert.Equal(Enumerable.Range(0, Count).Select(i => $"message {i}"), bodies);

        await using var scope = second.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ParleyDbContext>();
        // The receiver answers before the server records the outcome; wait for the log to catch up.
        await PollAsync(async () => await db.WebhookDeliveries.CountAsync(d => d.Status == WebhookDeliveryStatus.Succeeded) == Count ? "done" : null);
        Assert.Equal(0, await db.WebhookDeliveries.CountAsync(d => d.Status != WebhookDeliveryStatus.Succeeded, TestContext.Current.CancellationToken));
    }

    [Theory]
    [BothStores]
    public async Task PrivateTargets_AreRefused_UnlessTheServerAllowsThem(Store store)
    {
        await using var storage = await TestStorage.CreateAsync(store);
        var settings = FastRetries("00:00:00.100");
        settings.Remove("Parley:Webhooks:AllowPrivateTargets"); // the default: off
        await using var server = await ParleyServer.StartAsync(storage, settings);
        await using var receiver = await WebhookReceiver.StartAsync();
        var (admin, _) = await AgentClient.SignInAsync(server);

        foreach (var url in new[] { receiver.Url.ToString(), "http://localhost:9/hook", "http://169.254.169.254/latest/meta-data/", "http://10.1.2.3/", "http://[::1]:8080/", "http://192.168.0.10/" })
        {
            var response = await admin.PostAsJsonAsync("/api/v1/webhooks", new { url, eventTypes = All }, TestContext.Current.CancellationToken);
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            Assert.Equal("webhook_target_forbidden", (await response.Content.ReadFromJsonAsync<JsonElement>(TestContext.Current.CancellationToken)).GetProperty("code").GetString());
        }

        var bad = await admin.PostAsJsonAsync("/api/v1/webhooks", new { url = "ftp://example.com/", eventTypes = All }, TestContext.Current.CancellationToken);
        Assert.Equal("webhook_url_invalid", (await bad.Content.ReadFromJsonAsync<JsonElement>(TestContext.Current.CancellationToken)).GetProperty("code").GetString());

        // The guard also holds at connect time (a name that later resolves inside, or a row changed behind the API's back).
        await using (var scope = server.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<ParleyDbContext>();
            db.WebhookEndpoints.Add(new WebhookEndpoint { Id = Guid.NewGuid(), Url = receiver.Url.ToString(), Secret = WebhookSignature.NewSecret(), EventTypes = "*", CreatedAt = DateTime.UtcNow, UpdatedAt = DateTime.UtcNow });
            await db.SaveChangesAsync(TestContext.Current.CancellationToken);
        }

        await using var visitor = await VisitorClient.ConnectAsync(server);
        await visitor.StartConversationAsync();
        await using (var scope = server.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<ParleyDbContext>();
            var failed = await PollAsync(async () => await db.WebhookDeliveries.AsNoTracking().FirstOrDefaultAsync(d => d.Status == WebhookDeliveryStatus.Failed));
            Assert.StartsWith("target_forbidden", failed.LastError, StringComparison.Ordinal);
        }

        Assert.Empty(receiver.Requests.Snapshot());

        // #15: allowPrivateTarget is no API field any more: an admin's session (or a stolen one) cannot turn the
        // delivery log into a reader of internal services.
        var allowed = await admin.PostAsJsonAsync("/api/v1/webhooks", new { url = receiver.Url, eventTypes = All, allowPrivateTarget = true }, TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.BadRequest, allowed.StatusCode);
        Assert.Equal("webhook_target_forbidden", (await allowed.Content.ReadFromJsonAsync<JsonElement>(TestContext.Current.CancellationToken)).GetProperty("code").GetString());
    }

    /// <summary>
    /// #15: with private targets allowed by the server, metadata and link-local addresses are still refused, and what a
    /// private target answers never reaches the delivery log (status only).
    /// </summary>
    [Theory]
    [BothStores]
    public async Task AllowedPrivateTargets_StillRefuseMetadata_AndTheirAnswersAreNotLogged(Store store)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var storage = await TestStorage.CreateAsync(store);
        await using var server = await ParleyServer.StartAsync(storage, FastRetries("00:00:00.100"));
        await using var receiver = await WebhookReceiver.StartAsync(500);
        var (admin, _) = await AgentClient.SignInAsync(server);

        foreach (var url in new[] { "http://169.254.169.254/latest/meta-data/", "http://169.254.170.2/v2/credentials", "http://100.100.100.200/latest/meta-data/", "http://[fe80::1]/", "http://[fd00:ec2::254]/latest/meta-data/" })
        {
            var response = await admin.PostAsJsonAsync("/api/v1/webhooks", new { url, eventTypes = All }, ct);
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            Assert.Equal("webhook_target_forbidden", (await response.Content.ReadFromJsonAsync<JsonElement>(ct)).GetProperty("code").GetString());
        }

        var created = await admin.PostAsJsonAsync("/api/v1/webhooks", new { url = receiver.Url, eventTypes = CreatedOnly }, ct);
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var json = await created.Content.ReadFromJsonAsync<JsonElement>(ct);
        Assert.False(json.TryGetProperty("allowPrivateTarget", out _));
        var endpoint = json.Deserialize<WebhookEndpointDto>(JsonSerializerOptions.Web)!;

        await using var visitor = await VisitorClient.ConnectAsync(server);
        await visitor.StartConversationAsync();
        var delivery = await WaitForDeliveryAsync(admin, endpoint.Id, d => d.Status == "succeeded");
        var detail = (await admin.GetFromJsonAsync<WebhookDeliveryDto>($"/api/v1/webhooks/{endpoint.Id}/deliveries/{delivery.Id}", ct))!;
        Assert.Equal(500, detail.Log![0].ResponseStatus);
        Assert.All(detail.Log!, a => Assert.Null(a.ResponseBody));
        var raw = await admin.GetStringAsync($"/api/v1/webhooks/{endpoint.Id}/deliveries/{delivery.Id}", ct);
        Assert.DoesNotContain("nope", raw, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("169.254.169.254", true)]
    [InlineData("100.100.100.200", true)]
    [InlineData("fe80::1", true)]
    [InlineData("fd00:ec2::254", true)]
    [InlineData("::ffff:169.254.169.254", true)]
    [InlineData("10.0.0.1", false)]
    [InlineData("100.100.100.201", false)]
    [InlineData("93.184.216.34", false)]
    public void MetadataAndLinkLocal_AreAlwaysForbidden(string address, bool forbidden) =>
        Assert.Equal(forbidden, SsrfGuard.IsAlwaysForbidden(System.Net.IPAddress.Parse(address)));

    [Theory]
    [InlineData(Store.Sqlite)]
    public async Task Receiver410_DisablesTheEndpointWithANotice(Store store)
    {
        await using var storage = await TestStorage.CreateAsync(store);
        await using var server = await ParleyServer.StartAsync(storage, FastRetries("00:00:00.100"));
        await using var receiver = await WebhookReceiver.StartAsync(410);
        await using var watcher = await WebhookReceiver.StartAsync();
        var (admin, _) = await AgentClient.SignInAsync(server);
        var endpoint = await CreateEndpointAsync(admin, receiver.Url, ["*"]);
        await CreateEndpointAsync(admin, watcher.Url, ["webhook.disabled"]);

        await using var visitor = await VisitorClient.ConnectAsync(server);
        await visitor.StartConversationAsync();
        await receiver.Requests.WaitForCountAsync(1);
        var disabled = await PollAsync(async () =>
        {
            var e = await admin.GetFromJsonAsync<WebhookEndpointDto>($"/api/v1/webhooks/{endpoint.Id}");
            return e is { Enabled: false } ? e : null;
        });
        Assert.Contains("410", disabled.DisabledReason, StringComparison.Ordinal);

        // Admins are told: an audit entry, and the webhook.disabled event (here to the endpoint subscribed to it).
        var entry = (await PollAsync(async () =>
        {
            var audit = await admin.GetFromJsonAsync<JsonElement>($"/api/v1/audit?action={WebhookAdminNotice.AuditAction}", TestContext.Current.CancellationToken);
            return audit.GetProperty("items").EnumerateArray().Select(e => (JsonElement?)e).SingleOrDefault() is { } found ? new StrongBox<JsonElement>(found) : null;
        })).Value;
        Assert.Equal(endpoint.Id.ToString(), entry.GetProperty("targetId").GetString());
        Assert.Contains("410", entry.GetProperty("detailsJson").GetString(), StringComparison.Ordinal);
        using (var notice = JsonDocument.Parse((await watcher.Requests.WaitForCountAsync(1)).Single().Body))
        {
            Assert.Equal("webhook.disabled", notice.RootElement.GetProperty("type").GetString());
            Assert.Equal(endpoint.Id, notice.RootElement.GetProperty("data").GetProperty("endpointId").GetGuid());
        }

        // Re-enabling clears the notice.
        var patched = await admin.PatchAsJsonAsync($"/api/v1/webhooks/{endpoint.Id}", new { enabled = true }, TestContext.Current.CancellationToken);
        var enabled = (await patched.Content.ReadFromJsonAsync<WebhookEndpointDto>(TestContext.Current.CancellationToken))!;
        Assert.True(enabled.Enabled);
        Assert.Null(enabled.DisabledReason);
    }

    [Theory]
    [BothStores]
    public async Task RoutingAndCsatEvents_BecomeWebhooks(Store store)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var storage = await TestStorage.CreateAsync(store);
        await using var server = await ParleyServer.StartAsync(storage, FastRetries());
        await using var receiver = await WebhookReceiver.StartAsync();
        var (admin, _) = await AgentClient.SignInAsync(server);
        await CreateEndpointAsync(admin, receiver.Url, ["conversation.*", "csat.submitted"]);

        await using var visitor = await VisitorClient.ConnectAsync(server);
        var conversation = await visitor.StartConversationAsync();
        (await admin.PostAsJsonAsync($"/api/v1/conversations/{conversation.Id}/assign", new { }, ct)).EnsureSuccessStatusCode();
        (await admin.PostAsync($"/api/v1/conversations/{conversation.Id}/close", null, ct)).EnsureSuccessStatusCode();
        using var visitorHttp = server.CreateHttpClient();
        visitorHttp.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", visitor.Token);
        (await visitorHttp.PostAsJsonAsync($"/api/v1/widget/conversations/{conversation.Id}/rating", new { score = 5, comment = "Great" }, ct)).EnsureSuccessStatusCode();

        // Deliveries run in parallel, so their arrival order is not the events' order.
        var received = await receiver.Requests.WaitForCountAsync(5);
        var events = received.Select(r => JsonDocument.Parse(r.Body).RootElement).ToDictionary(e => e.GetProperty("type").GetString()!);
        Assert.Equal(LifecycleTypes, events.Keys.Order(StringComparer.Ordinal));
        Assert.All(events.Values, e => Assert.Equal(conversation.Id, (e.GetProperty("data").TryGetProperty("conversationId", out var id) ? id : e.GetProperty("data").GetProperty("id")).GetGuid()));
        Assert.Equal("manual", events["conversation.assigned"].GetProperty("data").GetProperty("reason").GetString());
        Assert.Equal("new", events["conversation.queued"].GetProperty("data").GetProperty("reason").GetString());
        Assert.Equal(5, events["csat.submitted"].GetProperty("data").GetProperty("score").GetInt32());
    }

    internal static async Task<WebhookEndpointDto> CreateEndpointAsync(HttpClient admin, Uri url, string[] eventTypes)
    {
        // Loopback receivers need the server's Parley:Webhooks:AllowPrivateTargets (FastRetries sets it).
        var response = await admin.PostAsJsonAsync("/api/v1/webhooks", new { url, eventTypes }, TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var endpoint = (await response.Content.ReadFromJsonAsync<WebhookEndpointDto>(TestContext.Current.CancellationToken))!;
        Assert.StartsWith("whsec_", endpoint.Secret, StringComparison.Ordinal);
        return endpoint;
    }

    private static Task<WebhookDeliveryDto> WaitForDeliveryAsync(HttpClient admin, Guid endpointId, Func<WebhookDeliveryDto, bool> condition) =>
        PollAsync(async () =>
        {
            var page = await admin.GetFromJsonAsync<JsonElement>($"/api/v1/webhooks/{endpointId}/deliveries");
            return page.GetProperty("items").Deserialize<List<WebhookDeliveryDto>>(JsonSerializerOptions.Web)!.FirstOrDefault(condition);
        });

    /// <summary>Polls a store-backed condition (there is no push for it) with a deadline.</summary>
    internal static async Task<T> PollAsync<T>(Func<Task<T?>> probe, TimeSpan? timeout = null)
        where T : class
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(15));
        while (true)
        {
            if (await probe() is { } value)
            {
                return value;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException("Condition not met in time.");
            }

            await Task.Delay(50, TestContext.Current.CancellationToken);
        }
    }
}
