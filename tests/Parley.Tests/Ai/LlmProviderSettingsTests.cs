using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Parley.Data;
using Parley.Server.Features.Ai;
using Parley.Server.Features.Widget;
using Parley.Tests.Infrastructure;
using Parley.Tests.ScaleOut;
using Parley.Tests.Widget;

namespace Parley.Tests.Ai;

/// <summary>
/// The LLM provider configured from the console (GET/PUT /api/v1/ai/provider, POST .../test) against a fake
/// OpenAI-compatible server over real HTTP: effective without a restart, the API key encrypted with the key ring
/// and write-only (also in the audit log), bad values refused, the connection test's ok and errors, and, with Redis,
/// the change reaching a second node and the token budget counted across nodes.
/// </summary>
public sealed class LlmProviderSettingsTests
{
    private const string Key = "sk-test-secret-7f9c1234";
    private const string RefundQuestion = "How long does a refund take?";
    private const string RefundAnswer = "Refunds reach your card within 3-5 business days.";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [BothStores]
    public async Task ProviderSavedInTheConsole_AnswersWithoutRestart_WithTheKeyEncryptedAndNeverShown(Store store)
    {
        await using var fake = await FakeOpenAi.StartAsync();
        fake.Content = """{"decision":"answer","reply":"(LLM) Your refund arrives within 3-5 business days.","entries":["E1"]}""";
        await using var storage = await TestStorage.CreateAsync(store);
        await using var server = await ParleyServer.StartAsync(storage);
        await WidgetTestKit.PutSettingsAsync(server, new WidgetSettings { BotFirst = true });
        await using var admin = await AgentClient.ConnectAsync(server);
        (await admin.Http.PostAsJsonAsync("/api/v1/knowledge", new { question = RefundQuestion, answer = RefundAnswer, enabled = true }, Ct)).EnsureSuccessStatusCode();

        // Nothing saved yet: the appsettings defaults, off.
        var initial = (await admin.Http.GetFromJsonAsync<LlmProviderDto>("/api/v1/ai/provider", Ct))!;
        Assert.False(initial.Enabled);
        Assert.Equal("appsettings", initial.Source);
        Assert.False(initial.ApiKeySet);

        var saved = await admin.Http.PutAsJsonAsync("/api/v1/ai/provider", new LlmProviderRequest(
            Enabled: true, BaseUrl: fake.BaseUrl, ChatModel: "fake-model", TimeoutMilliseconds: 3000, DailyTokenBudgetPerSite: 100_000, ApiKey: Key), Ct);
        Assert.Equal(HttpStatusCode.OK, saved.StatusCode);
        var raw = await saved.Content.ReadAsStringAsync(Ct);
        Assert.DoesNotContain(Key, raw, StringComparison.Ordinal);
        var dto = JsonSerializer.Deserialize<LlmProviderDto>(raw, JsonSerializerOptions.Web)!;
        Assert.True(dto.Enabled);
        Assert.True(dto.ApiKeySet);
        Assert.Equal("1234", dto.ApiKeyLast4);
        Assert.Equal("console", dto.Source);
        Assert.DoesNotContain(Key, await admin.Http.GetStringAsync("/api/v1/ai/provider", Ct), StringComparison.Ordinal);

        // Stored encrypted; the audit entry records before and after with the key masked.
        await using (var scope = server.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<ParleyDbContext>();
            var row = await db.AiProviderSettings.AsNoTracking().SingleAsync(Ct);
            Assert.False(string.IsNullOrEmpty(row.ApiKeyProtected));
            Assert.DoesNotContain(Key, row.ApiKeyProtected, StringComparison.Ordinal);
            var audit = await db.AuditEntries.AsNoTracking().Where(e => e.Action == "ai.provider_updated").SingleAsync(Ct);
            Assert.Contains("\"before\"", audit.DetailsJson, StringComparison.Ordinal);
            Assert.Contains("\"after\"", audit.DetailsJson, StringComparison.Ordinal);
            Assert.DoesNotContain(Key, audit.DetailsJson, StringComparison.Ordinal);
        }

        // The running bot uses it at once, with the key.
        await using var visitor = await VisitorClient.ConnectAsync(server);
        var conversation = await visitor.StartConversationAsync();
        await visitor.SendAsync(conversation.Id, RefundQuestion);
        var answer = await visitor.Messages.WaitUntilAsync(m => m.Any(x => x.SenderKind == "bot"));
        Assert.StartsWith("(LLM)", answer.First(x => x.SenderKind == "bot").Body, StringComparison.Ordinal);
        Assert.Contains($"Bearer {Key}", fake.Authorizations);

        // A save without apiKey keeps the key; turning the provider off stops the calls.
        (await admin.Http.PutAsJsonAsync("/api/v1/ai/provider", new LlmProviderRequest(Enabled: false), Ct)).EnsureSuccessStatusCode();
        var off = (await admin.Http.GetFromJsonAsync<LlmProviderDto>("/api/v1/ai/provider", Ct))!;
        Assert.False(off.Enabled);
        Assert.True(off.ApiKeySet);
        Assert.Equal(fake.BaseUrl, off.BaseUrl);
        var calls = fake.ChatRequests.Count;
        await visitor.SendAsync(conversation.Id, "When will I get my refund?");
        var second = await visitor.Messages.WaitUntilAsync(m => m.Count(x => x.SenderKind == "bot") >= 2);
        Assert.Equal(RefundAnswer, second.Where(x => x.SenderKind == "bot").ElementAt(1).Body);
        Assert.Equal(calls, fake.ChatRequests.Count);

        // An empty apiKey removes it.
        var cleared = await admin.Http.PutAsJsonAsync("/api/v1/ai/provider", new LlmProviderRequest(ApiKey: ""), Ct);
        Assert.False((await cleared.Content.ReadFromJsonAsync<LlmProviderDto>(Ct))!.ApiKeySet);
    }

    [Theory]
    [InlineData("""{"baseUrl":"ftp://models.example.com/v1"}""")]
    [InlineData("""{"baseUrl":"http://user:pass@models.example.com/v1"}""")]
    [InlineData("""{"baseUrl":"not a url"}""")]
    [InlineData("""{"enabled":true,"baseUrl":""}""")]
    [InlineData("""{"timeoutMilliseconds":100}""")]
    [InlineData("""{"timeoutMilliseconds":600000}""")]
    [InlineData("""{"maxOutputTokens":1}""")]
    [InlineData("""{"dailyTokenBudgetPerSite":-1}""")]
    [InlineData("""{"chatModel":""}""")]
    [InlineData("""{"apiKey":"has spaces in it"}""")]
    public async Task BadValues_AreRefusedWithInvalidSettings_AndChangeNothing(string body)
    {
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage);
        var (admin, _) = await AgentClient.SignInAsync(server);
        using var _admin = admin;

        var response = await admin.PutAsync("/api/v1/ai/provider", new StringContent(body, System.Text.Encoding.UTF8, "application/json"), Ct);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>(Ct);
        Assert.Equal("invalid_settings", problem.GetProperty("code").GetString());
        Assert.Equal("appsettings", (await admin.GetFromJsonAsync<LlmProviderDto>("/api/v1/ai/provider", Ct))!.Source);
    }

    [Fact]
    public async Task TestConnection_ReportsOk_AndTheProvidersErrors_WithinTheTimeBudget()
    {
        await using var fake = await FakeOpenAi.StartAsync();
        fake.Content = "OK";
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage);
        var (admin, _) = await AgentClient.SignInAsync(server);
        using var _admin = admin;

        // The form's values are tested before they are saved; the test saves nothing.
        var form = new LlmProviderRequest(Enabled: true, BaseUrl: fake.BaseUrl, ChatModel: "fake-model", TimeoutMilliseconds: 1000, ApiKey: Key);
        var ok = await TestAsync(admin, form);
        Assert.True(ok.Ok, ok.Message);
        Assert.Null(ok.Error);
        Assert.Contains($"Bearer {Key}", fake.Authorizations);
        Assert.Equal("appsettings", (await admin.GetFromJsonAsync<LlmProviderDto>("/api/v1/ai/provider", Ct))!.Source);

        fake.Status = 500;
        var failed = await TestAsync(admin, form);
        Assert.False(failed.Ok);
        Assert.Equal("http_error", failed.Error);
        Assert.Contains("500", failed.Message, StringComparison.Ordinal);

        fake.Status = 200;
        fake.Delay = TimeSpan.FromSeconds(10);
        var started = System.Diagnostics.Stopwatch.StartNew();
        var slow = await TestAsync(admin, form);
        Assert.False(slow.Ok);
        Assert.Equal("timeout", slow.Error);
        Assert.True(started.Elapsed < TimeSpan.FromSeconds(6), $"took {started.Elapsed}");

        // Nothing to call: said so, no exception.
        var none = await TestAsync(admin, new LlmProviderRequest());
        Assert.False(none.Ok);
        Assert.Equal("not_configured", none.Error);
    }

    [Fact]
    public async Task ProviderSavedOnOneNode_TakesEffectOnTheOther_AndTheTokenBudgetIsCountedAcrossNodes()
    {
        if (!ClusterFixture.Enabled)
        {
            Assert.Skip("Set PARLEY_SCALEOUT_TESTS=1 to run the Redis scale-out tests (CI does).");
        }

        await using var fake = await FakeOpenAi.StartAsync();
        await using var storage = await TestStorage.CreateAsync(Store.Postgres);
        await using var redis = await RedisProcess.StartAsync();
        var cluster = new Dictionary<string, string?> { ["Parley:Redis:ConnectionString"] = redis.ConnectionString, ["Parley:Redis:HeartbeatSeconds"] = "1" };
        await using var a = await ParleyServer.StartAsync(storage, cluster);
        await using var b = await ParleyServer.StartAsync(storage, cluster);
        var onB = b.Services.GetRequiredService<LlmProvider>();
        Assert.False(onB.Enabled);

        var (admin, _) = await AgentClient.SignInAsync(a);
        using var _admin = admin;
        (await admin.PutAsJsonAsync("/api/v1/ai/provider", new LlmProviderRequest(Enabled: true, BaseUrl: fake.BaseUrl, ChatModel: "fake-model", DailyTokenBudgetPerSite: 1000), Ct))
            .EnsureSuccessStatusCode();
        await Eventually.ValueAsync(() => Task.FromResult(onB.Options), o => o.Enabled && o.BaseUrl == fake.BaseUrl && o.DailyTokenBudgetPerSite == 1000);
        Assert.True(onB.Enabled);

        // Tokens spent through node A count on node B: one site's budget holds for the cluster, and the counter
        // expires at the end of the UTC day.
        var site = Guid.NewGuid();
        var day = DateOnly.FromDateTime(DateTime.UtcNow);
        var budgetA = a.Services.GetRequiredService<ILlmTokenBudget>();
        var budgetB = b.Services.GetRequiredService<ILlmTokenBudget>();
        Assert.IsNotType<LocalTokenBudget>(budgetA);
        await budgetA.AddAsync(site, day, 600, Ct);
        await budgetB.AddAsync(site, day, 500, Ct);
        Assert.Equal(1100, await budgetA.SpentAsync(site, day, Ct));
        Assert.Equal(1100, await budgetB.SpentAsync(site, day, Ct));
        Assert.Equal(0, await budgetB.SpentAsync(Guid.NewGuid(), day, Ct));
        await using var mux = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(redis.ConnectionString);
        var ttl = await mux.GetDatabase().KeyTimeToLiveAsync($"parley:llm-tokens:{site:N}:{day:yyyy-MM-dd}");
        Assert.NotNull(ttl);
        Assert.InRange(ttl.Value, TimeSpan.FromSeconds(1), TimeSpan.FromDays(1));

        // Over budget: node B's bot does not call the provider for that site.
        fake.Content = """{"decision":"answer","reply":"x","entries":["E1"]}""";
        var doc = new KnowledgeDocument(Guid.NewGuid().ToString(), RefundQuestion, [], RefundAnswer, "en", null, true);
        Assert.Null(await onB.AnswerAsync(site, RefundQuestion, [doc], Ct));
        Assert.Empty(fake.ChatRequests);
    }

    private static async Task<LlmTestResult> TestAsync(HttpClient admin, LlmProviderRequest form)
    {
        var response = await admin.PostAsJsonAsync("/api/v1/ai/provider/test", form, Ct);
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync<LlmTestResult>(Ct))!;
    }
}
