using System.Diagnostics;
using System.Net.Http.Json;
using Parley.Server.Features.Adapters;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Integration;

/// <summary>The generic HTTP adapter against a loopback fake order system.</summary>
public sealed class ContextAdapterTests
{
    [Fact]
    public async Task HttpAdapter_RendersCards_AndDegradesGracefullyOnTimeout()
    {
        await using var orders = await FakeOrderSystem.StartAsync();
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage, orders.AdapterSettings());
        await using var visitor = await VisitorClient.ConnectAsync(server);
        var conversation = await visitor.StartConversationAsync();
        await using var agent = await AgentClient.ConnectAsync(server);

        // Not identified yet: the URL needs {externalId}, so the system is not asked at all.
        var anonymous = await GetContextAsync(agent, conversation.Id);
        Assert.Empty(anonymous.Cards);
        Assert.Equal(0, orders.Requests);

        (await agent.Http.PatchAsJsonAsync($"/api/v1/contacts/{visitor.Session.ContactId}", new { externalId = "c-42" }, TestContext.Current.CancellationToken)).EnsureSuccessStatusCode();
        var context = await GetContextAsync(agent, conversation.Id);
        Assert.Equal("ok", Assert.Single(context.Sources).Status);
        Assert.Equal(["Order A-1001", "Order A-0999"], context.Cards.Select(c => c.Title));
        var first = context.Cards[0];
        Assert.Equal("shipped", first.Status);
        Assert.Equal("Placed 2026-11-20", first.Subtitle);
        Assert.Equal("https://shop.example.com/orders/A-1001", first.Url);
        Assert.Equal([("Items", "2"), ("Total", "59.9 EUR")], first.Fields.Select(f => (f.Label, f.Value)).Order()); // configuration keys come sorted

        // The order system stops answering: the panel answers within the adapter's timeout with the last good cards, marked stale.
        orders.Hang = true;
        var stopwatch = Stopwatch.StartNew();
        var stale = await GetContextAsync(agent, conversation.Id);
        Assert.InRange(stopwatch.Elapsed, TimeSpan.FromSeconds(0.9), TimeSpan.FromSeconds(5));
        var source = Assert.Single(stale.Sources);
        Assert.Equal("stale", source.Status);
        Assert.StartsWith("timeout", source.Error, StringComparison.Ordinal);
        Assert.Equal(2, stale.Cards.Count);

        // A second timeout opens the circuit: the system is no longer called, and the answer is immediate.
        await GetContextAsync(agent, conversation.Id);
        var before = orders.Requests;
        stopwatch.Restart();
        var open = await GetContextAsync(agent, conversation.Id);
        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(0.9), stopwatch.Elapsed.ToString());
        Assert.Equal(before, orders.Requests);
        Assert.StartsWith("circuit_open", Assert.Single(open.Sources).Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task HttpAdapter_TimeoutWithoutCachedCards_ReportsTimeoutAndNoCards()
    {
        await using var orders = await FakeOrderSystem.StartAsync();
        orders.Hang = true;
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage, orders.AdapterSettings("00:00:00.500"));
        await using var visitor = await VisitorClient.ConnectAsync(server);
        var conversation = await visitor.StartConversationAsync();
        await using var agent = await AgentClient.ConnectAsync(server);
        (await agent.Http.PatchAsJsonAsync($"/api/v1/contacts/{visitor.Session.ContactId}", new { externalId = "c-7" }, TestContext.Current.CancellationToken)).EnsureSuccessStatusCode();

        var context = await GetContextAsync(agent, conversation.Id);
        Assert.Empty(context.Cards);
        Assert.Equal("timeout", Assert.Single(context.Sources).Status);

        var missing = await agent.Http.GetAsync($"/api/v1/conversations/{Guid.NewGuid()}/context", TestContext.Current.CancellationToken);
        Assert.Equal(System.Net.HttpStatusCode.NotFound, missing.StatusCode);
    }

    private static async Task<ContextResponse> GetContextAsync(AgentClient agent, Guid conversationId) =>
        (await agent.Http.GetFromJsonAsync<ContextResponse>($"/api/v1/conversations/{conversationId}/context", TestContext.Current.CancellationToken))!;
}
