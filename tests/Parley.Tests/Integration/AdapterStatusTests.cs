using System.Net.Http.Json;
using Parley.Server.Features.Adapters;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Integration;

/// <summary>#21: each context adapter's last success and last failure, recorded in the store and listed for admins.</summary>
public sealed class AdapterStatusTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [BothStores]
    public async Task AdapterStatus_RecordsLastSuccessAndLastFailure_WithTheErrorSummary(Store store)
    {
        await using var orders = await FakeOrderSystem.StartAsync();
        await using var storage = await TestStorage.CreateAsync(store);
        await using var server = await ParleyServer.StartAsync(storage, orders.AdapterSettings("00:00:00.500"));
        await using var visitor = await VisitorClient.ConnectAsync(server);
        var conversation = await visitor.StartConversationAsync();
        await using var admin = await AgentClient.ConnectAsync(server);
        (await admin.Http.PatchAsJsonAsync($"/api/v1/contacts/{visitor.Session.ContactId}", new { externalId = "c-42" }, Ct)).EnsureSuccessStatusCode();

        var unknown = Assert.Single(await ListAsync(admin));
        Assert.Equal(("orders", "http", "unknown"), (unknown.Name, unknown.Kind, unknown.State));
        Assert.Equal(orders.BaseAddress.GetLeftPart(UriPartial.Authority), unknown.Target);
        Assert.Equal(0.5, unknown.TimeoutSeconds);
        Assert.Null(unknown.LastSuccessAt);

        await ContextAsync(admin, conversation.Id);
        var ok = Assert.Single(await ListAsync(admin));
        Assert.Equal("ok", ok.State);
        Assert.NotNull(ok.LastSuccessAt);
        Assert.Null(ok.LastFailureAt);

        // The system stops answering: a failure with its kind and summary; the last success is kept.
        orders.Hang = true;
        await ContextAsync(admin, conversation.Id);
        var failing = Assert.Single(await ListAsync(admin));
        Assert.Equal("failing", failing.State);
        Assert.Equal("timeout", failing.LastFailureKind);
        Assert.Equal("No answer within 0.5 s.", failing.LastError);
        Assert.Equal(1, failing.ConsecutiveFailures);
        Assert.Equal(ok.LastSuccessAt, failing.LastSuccessAt);

        // It answers again: the success is written at once after a failure (not held back by the once-a-minute rule).
        orders.Release();
        await ContextAsync(admin, conversation.Id);
        var recovered = Assert.Single(await ListAsync(admin));
        Assert.Equal("ok", recovered.State);
        Assert.Equal(0, recovered.ConsecutiveFailures);
        Assert.True(recovered.LastSuccessAt > failing.LastFailureAt);
        Assert.Equal(failing.LastFailureAt, recovered.LastFailureAt);
        Assert.Equal("No answer within 0.5 s.", recovered.LastError);

        // A second node (same store) sees what the first recorded.
        await using var other = await ParleyServer.StartAsync(storage, orders.AdapterSettings("00:00:00.500"));
        var (otherAdmin, _) = await AgentClient.SignInAsync(other);
        using (otherAdmin)
        {
            var seen = Assert.Single((await otherAdmin.GetFromJsonAsync<List<AdapterStatusDto>>("/api/v1/adapters", Ct))!);
            Assert.Equal(("ok", recovered.LastSuccessAt), (seen.State, seen.LastSuccessAt));
        }
    }

    [Fact]
    public void State_FollowsTheNewerOfSuccessAndFailure_AndTheBreaker()
    {
        var t = new DateTime(2026, 12, 5, 12, 0, 0, DateTimeKind.Utc);
        Assert.Equal("unknown", AdaptersApi.StateOf(null, false));
        Assert.Equal("ok", AdaptersApi.StateOf(new() { Name = "a", LastSuccessAt = t }, false));
        Assert.Equal("failing", AdaptersApi.StateOf(new() { Name = "a", LastFailureAt = t }, false));
        Assert.Equal("failing", AdaptersApi.StateOf(new() { Name = "a", LastSuccessAt = t, LastFailureAt = t.AddSeconds(1) }, false));
        Assert.Equal("ok", AdaptersApi.StateOf(new() { Name = "a", LastSuccessAt = t.AddSeconds(1), LastFailureAt = t }, false));
        Assert.Equal("circuit_open", AdaptersApi.StateOf(new() { Name = "a", LastSuccessAt = t }, true));
    }

    private static async Task<List<AdapterStatusDto>> ListAsync(AgentClient admin) =>
        (await admin.Http.GetFromJsonAsync<List<AdapterStatusDto>>("/api/v1/adapters", Ct))!;

    private static async Task ContextAsync(AgentClient admin, Guid conversationId) =>
        (await admin.Http.GetAsync($"/api/v1/conversations/{conversationId}/context", Ct)).EnsureSuccessStatusCode();
}
