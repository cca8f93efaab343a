using System.Net.Http.Json;
using Microsoft.Extensions.DependencyInjection;
using Parley.Server.Features.Knowledge;
using Parley.Tests.Infrastructure;
using Parley.Tests.ScaleOut;

namespace Parley.Tests.Knowledge;

/// <summary>Every node hears knowledge-base changes, so each node's search index follows the store.</summary>
public sealed class KnowledgeScaleOutTests
{
    [Fact]
    public async Task ChangeMadeOnOneNode_RaisesKnowledgeChanged_OnTheOtherNode()
    {
        await using var storage = await TestStorage.CreateAsync(Store.Postgres);
        await using var redis = await RedisProcess.StartAsync();
        var cluster = new Dictionary<string, string?> { ["Parley:Redis:ConnectionString"] = redis.ConnectionString, ["Parley:Redis:HeartbeatSeconds"] = "1" };
        var heardOnB = new KnowledgeEventRecorder();
        await using var a = await ParleyServer.StartAsync(storage, cluster);
        await using var b = await ParleyServer.StartAsync(storage, cluster, configure: heardOnB.Register);

        var (admin, _) = await AgentClient.SignInAsync(a);
        using var _admin = admin;
        var created = await admin.PostAsJsonAsync("/api/v1/knowledge", new KnowledgeEntryRequest("发票怎么开？", "在订单页点击“申请发票”。"), TestContext.Current.CancellationToken);
        created.EnsureSuccessStatusCode();
        var entry = (await created.Content.ReadFromJsonAsync<KnowledgeEntryDto>(TestContext.Current.CancellationToken))!;
        await heardOnB.WaitForAsync(e => e == new KnowledgeChanged(entry.Id, KnowledgeChangeKind.EntryUpserted) { Relayed = true });

        (await admin.DeleteAsync($"/api/v1/knowledge/{entry.Id}", TestContext.Current.CancellationToken)).EnsureSuccessStatusCode();
        await heardOnB.WaitForAsync(e => e == new KnowledgeChanged(entry.Id, KnowledgeChangeKind.EntryDeleted) { Relayed = true });

        // B's own listeners hear each change once: the relay does not echo what it delivers back onto the bus. (A
        // full-reload Imported would only follow a Redis outage, which is not what this test is about.)
        Assert.Equal(
            [new KnowledgeChanged(entry.Id, KnowledgeChangeKind.EntryUpserted) { Relayed = true }, new KnowledgeChanged(entry.Id, KnowledgeChangeKind.EntryDeleted) { Relayed = true }],
            heardOnB.Events.Where(e => e.Kind != KnowledgeChangeKind.Imported));
    }

    [Fact]
    public async Task EntryEmbeddedOnOneNode_IsLoadedByTheOther_WithoutASecondProviderCall()
    {
        await using var fake = await Ai.FakeOpenAi.StartAsync();
        fake.Embed = text => text.Contains('票') ? [1f, 0f] : [0f, 1f];
        await using var storage = await TestStorage.CreateAsync(Store.Postgres);
        await using var redis = await RedisProcess.StartAsync();
        var config = new Dictionary<string, string?>
        {
            ["Parley:Redis:ConnectionString"] = redis.ConnectionString,
            ["Parley:Redis:HeartbeatSeconds"] = "1",
            ["Parley:Ai:Llm:Enabled"] = "true",
            ["Parley:Ai:Llm:BaseUrl"] = fake.BaseUrl,
            ["Parley:Ai:Llm:EmbeddingModel"] = "fake-embed",
        };
        await using var a = await ParleyServer.StartAsync(storage, config);
        await using var b = await ParleyServer.StartAsync(storage, config);

        var (admin, _) = await AgentClient.SignInAsync(a);
        using var _admin = admin;
        var created = await admin.PostAsJsonAsync("/api/v1/knowledge", new KnowledgeEntryRequest("发票怎么开？", "在订单页点击“申请发票”。"), TestContext.Current.CancellationToken);
        created.EnsureSuccessStatusCode();
        var entry = (await created.Content.ReadFromJsonAsync<KnowledgeEntryDto>(TestContext.Current.CancellationToken))!;

        var onB = b.Services.GetRequiredService<Parley.Server.Features.Ai.AiService>();
        await Eventually.ValueAsync(() => Task.FromResult(onB.Index.Dense.Has(entry.Id.ToString())), has => has);
        Assert.Single(fake.EmbeddingRequests); // node A embedded it; node B read the stored vectors
        Assert.True(a.Services.GetRequiredService<Parley.Server.Features.Ai.AiService>().Index.Dense.Has(entry.Id.ToString()));
    }
}
