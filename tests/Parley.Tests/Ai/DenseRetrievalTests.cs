using System.Diagnostics.Metrics;
using System.Net.Http.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Parley.Data;
using Parley.Server.Features.Ai;
using Parley.Server.Features.Widget;
using Parley.Tests.Infrastructure;
using Parley.Tests.Widget;

namespace Parley.Tests.Ai;

/// <summary>
/// Dense retrieval through the provider's embeddings endpoint (a fake OpenAI-compatible server over real HTTP):
/// the mixed score fixes a ranking that lexical retrieval alone gets wrong; slow, failing and malformed embeddings
/// leave the lexical result; embedding tokens count against the site's budget; entries' embeddings are stored per
/// entry version and model and re-embedded when an entry changes.
/// </summary>
public sealed class DenseRetrievalTests
{
    // "package" is a rare word the visitor shares with the plan entry; the visitor means a parcel.
    private static readonly KnowledgeDocument Plans = new("plans", "Can I change the package of my subscription plan?", ["upgrade my subscription package"], "Yes: Settings → Billing → Change plan.", "en");
    private static readonly KnowledgeDocument Parcel = new("parcel", "Where is my parcel?", ["track my delivery"], "Track it under Orders → Tracking; delivery takes 2-3 days.", "en");
    private const string Question = "what happened to the package I bought";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>A toy embedding: texts about parcels, deliveries and things bought point one way, the rest the other.</summary>
    private static float[] Semantic(string text) =>
        text.Contains("parcel", StringComparison.OrdinalIgnoreCase) || text.Contains("deliver", StringComparison.OrdinalIgnoreCase)
        || text.Contains("bought", StringComparison.OrdinalIgnoreCase) ? [0.9f, 0.1f, 0f] : [0.1f, 0.9f, 0.2f];

    [Fact]
    public async Task Embeddings_ChangeTheRanking_WhereLexicalAloneIsWrong()
    {
        await using var fake = await FakeOpenAi.StartAsync();
        fake.Embed = Semantic;
        using var metrics = new ServiceCollection().AddMetrics().BuildServiceProvider();
        using var llm = Provider(fake, metrics.GetRequiredService<IMeterFactory>());
        var index = new KnowledgeIndex(new TextAnalyzer());
        index.Reset([Plans, Parcel]);

        var lexical = index.Search(Question);
        Assert.Equal(Plans.Id, lexical.Candidates[0].Document.Id); // the rare shared word wins alone

        index.Dense.UseModel("fake-embed");
        foreach (var entry in new[] { Plans, Parcel })
        {
            var vectors = await llm.EmbedAsync(DenseVectors.Texts(entry), null, null, Ct);
            Assert.NotNull(vectors);
            index.Dense.Set(entry.Id, vectors);
        }

        var question = Assert.Single((await llm.EmbedAsync([Question], Guid.NewGuid(), null, Ct))!);
        var mixed = index.Search(Question, questionVector: question);
        Assert.Equal(Parcel.Id, mixed.Candidates[0].Document.Id);
        Assert.NotNull(mixed.Candidates[0].Evidence.Dense);
        Assert.Equal(Parcel.Id, mixed.Answer?.Document.Id); // still confident: the bot answers with the right entry

        // The confidence still gates: a question the knowledge base does not cover hands off, embeddings or not.
        var unrelated = Assert.Single((await llm.EmbedAsync(["can I pay the invoice of my package with bitcoin?"], Guid.NewGuid(), null, Ct))!);
        Assert.Null(index.Search("can I pay the invoice of my package with bitcoin?", questionVector: unrelated).Answer);
    }

    [Theory]
    [InlineData("slow")]
    [InlineData("500")]
    [InlineData("malformed")]
    [InlineData("wrong count")]
    public async Task SlowFailingOrMalformedEmbeddings_LeaveTheLexicalResult(string failure)
    {
        await using var fake = await FakeOpenAi.StartAsync();
        fake.Embed = Semantic;
        switch (failure)
        {
            case "slow":
                fake.EmbeddingDelay = TimeSpan.FromSeconds(10);
                break;
            case "500":
                fake.EmbeddingStatus = 500;
                break;
            case "malformed":
                fake.EmbeddingRawBody = """{"object":"list","data":[{"object":"embedding","index":0,"embedding":"not a vector"}]""";
                break;
            default:
                fake.EmbeddingRawBody = """{"object":"list","data":[],"model":"fake-embed","usage":{"prompt_tokens":1,"total_tokens":1}}""";
                break;
        }

        using var metrics = new ServiceCollection().AddMetrics().BuildServiceProvider();
        using var llm = Provider(fake, metrics.GetRequiredService<IMeterFactory>());
        var index = new KnowledgeIndex(new TextAnalyzer());
        index.Reset([Plans, Parcel]);
        index.Dense.UseModel("fake-embed");
        index.Dense.Set(Parcel.Id, [Semantic(Parcel.Question)]);

        var started = System.Diagnostics.Stopwatch.StartNew();
        var vector = await llm.EmbedAsync([Question], Guid.NewGuid(), TimeSpan.FromMilliseconds(500), Ct);
        Assert.Null(vector);
        Assert.True(started.Elapsed < TimeSpan.FromSeconds(5), $"took {started.Elapsed}"); // the time budget holds

        var decision = new AssistantBrain(index).Decide(Question, questionVector: vector?[0]);
        var lexical = new AssistantBrain(index).Decide(Question);
        Assert.Equal(lexical.Candidates.Select(c => c.Document.Id), decision.Candidates.Select(c => c.Document.Id));
        Assert.Equal(lexical.Reason, decision.Reason);
    }

    [Fact]
    public async Task EmbeddingTokens_CountAgainstTheSiteBudget()
    {
        await using var fake = await FakeOpenAi.StartAsync();
        using var metrics = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var budget = new LocalTokenBudget();
        using var llm = new LlmProvider(
            Options.Create(new LlmOptions { Enabled = true, BaseUrl = fake.BaseUrl, EmbeddingModel = "fake-embed", DailyTokenBudgetPerSite = 10 }),
            metrics.GetRequiredService<IMeterFactory>(), TimeProvider.System, NullLogger<LlmProvider>.Instance, budget);
        var site = Guid.NewGuid();
        var today = DateOnly.FromDateTime(DateTime.UtcNow);

        Assert.NotNull(await llm.EmbedAsync(["where is my parcel?"], site, null, Ct));
        Assert.Equal(FakeOpenAi.EmbeddingTokensPerText, await budget.SpentAsync(site, today, Ct));
        Assert.NotNull(await llm.EmbedAsync(["and now?"], site, null, Ct));
        Assert.Equal(2 * FakeOpenAi.EmbeddingTokensPerText, await budget.SpentAsync(site, today, Ct));

        // Over budget: no call, lexical retrieval.
        Assert.Null(await llm.EmbedAsync(["still nothing?"], site, null, Ct));
        Assert.Equal(2, fake.EmbeddingRequests.Count);

        // Indexing (no site) is not charged to any site.
        Assert.NotNull(await llm.EmbedAsync(["entry text"], null, null, Ct));
        Assert.Equal(2 * FakeOpenAi.EmbeddingTokensPerText, await budget.SpentAsync(site, today, Ct));
    }

    [Theory]
    [BothStores]
    public async Task Entries_AreEmbeddedOnce_StoredPerVersion_AndTheBotUsesTheMixedRanking(Store store)
    {
        await using var fake = await FakeOpenAi.StartAsync();
        fake.Embed = Semantic;
        fake.Status = 500; // no chat model: the answer comes from the knowledge base
        await using var storage = await TestStorage.CreateAsync(store);
        await using var server = await ParleyServer.StartAsync(storage, new Dictionary<string, string?>
        {
            ["Parley:Ai:Llm:Enabled"] = "true",
            ["Parley:Ai:Llm:BaseUrl"] = fake.BaseUrl,
            ["Parley:Ai:Llm:EmbeddingModel"] = "fake-embed",
            ["Parley:Ai:Llm:TimeoutMilliseconds"] = "1500",
        });
        await WidgetTestKit.PutSettingsAsync(server, new WidgetSettings { BotFirst = true });
        await using var agent = await AgentClient.ConnectAsync(server);
        var ids = new List<Guid>();
        foreach (var entry in new[] { Plans, Parcel })
        {
            var response = await agent.Http.PostAsJsonAsync("/api/v1/knowledge", new { question = entry.Question, variants = entry.Variants, answer = entry.Answer, enabled = true }, Ct);
            response.EnsureSuccessStatusCode();
            ids.Add((await response.Content.ReadFromJsonAsync<System.Text.Json.JsonElement>(Ct)).GetProperty("id").GetGuid());
        }

        async Task<List<KnowledgeEmbedding>> StoredAsync()
        {
            await using var scope = server.Services.CreateAsyncScope();
            return await scope.ServiceProvider.GetRequiredService<ParleyDbContext>().KnowledgeEmbeddings.AsNoTracking().ToListAsync(Ct);
        }

        var stored = await Eventually.ValueAsync(StoredAsync, rows => rows.Count == 2);
        Assert.All(stored, row => Assert.Equal("fake-embed", row.Model));
        var parcelRow = stored.Single(r => r.EntryId == ids[1]);
        Assert.Equal(2, parcelRow.Vectors.Length / sizeof(float) / parcelRow.Dimensions); // question + its variant
        var before = fake.EmbeddingRequests.Count;

        await using var visitor = await VisitorClient.ConnectAsync(server);
        var conversation = await visitor.StartConversationAsync();
        await visitor.SendAsync(conversation.Id, Question);
        var replies = await visitor.Messages.WaitUntilAsync(m => m.Any(x => x.SenderKind == "bot"));
        Assert.Equal(Parcel.Answer, replies.First(x => x.SenderKind == "bot").Body); // lexical alone answers with the plan entry
        Assert.Equal(before + 1, fake.EmbeddingRequests.Count); // the question only; entries were not embedded again

        // An edit is a new version: embedded again, the stored row follows.
        (await agent.Http.PutAsJsonAsync($"/api/v1/knowledge/{ids[1]}", new { question = "Where is my parcel now?", variants = Parcel.Variants, answer = Parcel.Answer, enabled = true }, Ct)).EnsureSuccessStatusCode();
        await Eventually.ValueAsync(StoredAsync, rows => rows.Single(r => r.EntryId == ids[1]).TextHash != parcelRow.TextHash);
    }

    [Fact]
    public async Task NamingAnEmbeddingsModelInTheConsole_EmbedsTheKnowledgeBase()
    {
        await using var fake = await FakeOpenAi.StartAsync();
        fake.Embed = Semantic;
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage);
        await using var admin = await AgentClient.ConnectAsync(server);
        (await admin.Http.PostAsJsonAsync("/api/v1/knowledge", new { question = Parcel.Question, variants = Parcel.Variants, answer = Parcel.Answer, enabled = true }, Ct)).EnsureSuccessStatusCode();
        Assert.Empty(fake.EmbeddingRequests); // no provider yet: lexical only

        (await admin.Http.PutAsJsonAsync("/api/v1/ai/provider", new { enabled = true, baseUrl = fake.BaseUrl, chatModel = "fake-model", embeddingModel = "fake-embed" }, Ct)).EnsureSuccessStatusCode();

        async Task<List<string>> StoredModelsAsync()
        {
            await using var scope = server.Services.CreateAsyncScope();
            return await scope.ServiceProvider.GetRequiredService<ParleyDbContext>().KnowledgeEmbeddings.AsNoTracking().Select(e => e.Model).ToListAsync(Ct);
        }

        Assert.Equal(["fake-embed"], await Eventually.ValueAsync(StoredModelsAsync, models => models.Count == 1));
        var ai = server.Services.GetRequiredService<AiService>();
        Assert.Equal(1, ai.Index.Dense.Count); // in memory before it was stored
        Assert.Equal("fake-embed", ai.Index.Dense.Model);
    }

    private static LlmProvider Provider(FakeOpenAi fake, IMeterFactory meters) =>
        new(Options.Create(new LlmOptions { Enabled = true, BaseUrl = fake.BaseUrl, ChatModel = "fake-model", EmbeddingModel = "fake-embed", TimeoutMilliseconds = 3000 }),
            meters, TimeProvider.System, NullLogger<LlmProvider>.Instance);
}
