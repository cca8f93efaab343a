using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Parley.Server.Features.Access;
using Parley.Server.Features.Knowledge;
using Parley.Server.Infrastructure;
using Parley.Tests.Infrastructure;
using Parley.Tests.Security;
using Parley.Tests.Widget;

namespace Parley.Tests.Knowledge;

/// <summary>The knowledge base's store and REST API (#16): CRUD, import all or nothing, CSV round trip, department sandbox, audit.</summary>
public sealed class KnowledgeApiTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [BothStores]
    public async Task Admin_CreatesReadsFiltersUpdatesDisablesAndDeletes_AndEachChangeIsAuditedWithBeforeAndAfter(Store store)
    {
        await using var storage = await TestStorage.CreateAsync(store);
        var recorder = new KnowledgeEventRecorder();
        await using var server = await ParleyServer.StartAsync(storage, configure: recorder.Register);
        var (admin, _) = await AgentClient.SignInAsync(server);
        using var _admin = admin;

        var created = await admin.PostAsJsonAsync("/api/v1/knowledge", new KnowledgeEntryRequest(
            "  保修期多久？ ", "整机保修一年，详见 https://example.com/warranty", ["质保多长时间", "质保多长时间", " ", "How long is the warranty?"], "zh-cn", ["Warranty", "售后"]), Ct);
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var entry = (await created.Content.ReadFromJsonAsync<KnowledgeEntryDto>(Ct))!;
        Assert.Equal(("保修期多久？", "zh-CN", true), (entry.Question, entry.Language, entry.Enabled));
        Assert.Equal(["质保多长时间", "How long is the warranty?"], entry.Variants);
        Assert.Equal($"/api/v1/knowledge/{entry.Id}", created.Headers.Location?.OriginalString);
        var other = await CreateAsync(admin, new KnowledgeEntryRequest("Opening hours", "We are open 9:00-18:00.", Tags: ["hours"], Language: "en"));

        Assert.Equal(JsonSerializer.Serialize(entry), JsonSerializer.Serialize(await admin.GetFromJsonAsync<KnowledgeEntryDto>($"/api/v1/knowledge/{entry.Id}", Ct)));
        Assert.Equal([other.Id, entry.Id], (await ListAsync(admin, "")).Select(e => e.Id));
        Assert.Equal([entry.Id], (await ListAsync(admin, "?q=" + Uri.EscapeDataString("质保"))).Select(e => e.Id)); // a variant
        Assert.Equal([entry.Id], (await ListAsync(admin, "?q=WARRANTY"))
            .Select(e => e.Id));
        Assert.Equal([other.Id], (await ListAsync(admin, "?tag=HOURS")).Select(e => e.Id));
        Assert.Equal([entry.Id], (await ListAsync(admin, "?language=zh-CN")).Select(e => e.Id));
        var page = await admin.GetFromJsonAsync<Page<KnowledgeEntryDto>>("/api/v1/knowledge?limit=1", Ct);
        var second = await admin.GetFromJsonAsync<Page<KnowledgeEntryDto>>($"/api/v1/knowledge?limit=1&cursor={page!.NextCursor}", Ct);
        Assert.Equal([other.Id, entry.Id], page.Items.Concat(second!.Items).Select(e => e.Id));
        Assert.Null(second.NextCursor);

        var updated = await admin.PutAsJsonAsync($"/api/v1/knowledge/{entry.Id}", new KnowledgeEntryRequest("保修期多久？", "整机保修两年。", ["质保多长时间"], "zh-CN", ["warranty"]), Ct);
        updated.EnsureSuccessStatusCode();
        Assert.Equal("整机保修两年。", (await admin.GetFromJsonAsync<KnowledgeEntryDto>($"/api/v1/knowledge/{entry.Id}", Ct))!.Answer);
        (await admin.PostAsync($"/api/v1/knowledge/{entry.Id}/disable", null, Ct)).EnsureSuccessStatusCode();
        Assert.Equal([entry.Id], (await ListAsync(admin, "?enabled=false")).Select(e => e.Id));
        (await admin.PostAsync($"/api/v1/knowledge/{entry.Id}/enable", null, Ct)).EnsureSuccessStatusCode();
        Assert.Empty(await ListAsync(admin, "?enabled=false"));

        // Empty and oversized fields are refused with a code naming the field.
        foreach (var bad in new[]
        {
            new KnowledgeEntryRequest(" ", "answer"),
            new KnowledgeEntryRequest("question", ""),
            new KnowledgeEntryRequest(new string('q', 501), "answer"),
            new KnowledgeEntryRequest("question", new string('a', 4001)),
            new KnowledgeEntryRequest("question", "answer", [new string('v', 501)]),
            new KnowledgeEntryRequest("question", "answer", Enumerable.Range(0, 51).Select(i => $"v{i}").ToList()),
            new KnowledgeEntryRequest("question", "answer", ["a|b"]),
            new KnowledgeEntryRequest("question", "answer", Language: "not a language"),
            new KnowledgeEntryRequest("question", "answer", TeamId: Guid.NewGuid()),
        })
        {
            var refused = await admin.PostAsJsonAsync("/api/v1/knowledge", bad, Ct);
            Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
            Assert.Equal("knowledge_invalid", await WidgetTestKit.ProblemCodeAsync(refused));
        }

        Assert.Equal(HttpStatusCode.NoContent, (await admin.DeleteAsync($"/api/v1/knowledge/{other.Id}", Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await admin.GetAsync($"/api/v1/knowledge/{other.Id}", Ct)).StatusCode);
        Assert.Equal([entry.Id], (await ListAsync(admin, "")).Select(e => e.Id));

        var audit = (await admin.GetFromJsonAsync<AuditPage>("/api/v1/audit?limit=500", Ct))!.Items;
        var mine = audit.Where(a => a.TargetId == entry.Id.ToString()).OrderBy(a => a.Id).ToList();
        Assert.Equal(["knowledge.entry_created", "knowledge.entry_updated", "knowledge.entry_disabled", "knowledge.entry_enabled"], mine.Select(a => a.Action));
        var change = JsonDocument.Parse(mine[1].DetailsJson!).RootElement;
        Assert.Contains("一年", change.GetProperty("before").GetProperty("answer").GetString(), StringComparison.Ordinal);
        Assert.Equal("整机保修两年。", change.GetProperty("after").GetProperty("answer").GetString());
        var deleted = Assert.Single(audit, a => a.Action == "knowledge.entry_deleted");
        Assert.Equal(other.Id.ToString(), deleted.TargetId);
        Assert.Equal("Opening hours", JsonDocument.Parse(deleted.DetailsJson!).RootElement.GetProperty("before").GetProperty("question").GetString());

        // Each committed change was announced: upserts for create/update/disable/enable, then the delete.
        await recorder.WaitForAsync(e => e == new KnowledgeChanged(other.Id, KnowledgeChangeKind.EntryDeleted));
        Assert.Equal(
            [KnowledgeChangeKind.EntryUpserted, KnowledgeChangeKind.EntryUpserted, KnowledgeChangeKind.EntryUpserted, KnowledgeChangeKind.EntryUpserted, KnowledgeChangeKind.EntryUpserted, KnowledgeChangeKind.EntryDeleted],
            recorder.Events.Select(e => e.Kind));
    }

    [Theory]
    [BothStores]
    public async Task Import_WithOneMalformedEntry_ChangesNothing_AndNamesTheLine(Store store)
    {
        await using var storage = await TestStorage.CreateAsync(store);
        await using var server = await ParleyServer.StartAsync(storage);
        var (admin, _) = await AgentClient.SignInAsync(server);
        using var _admin = admin;
        var kept = await CreateAsync(admin, new KnowledgeEntryRequest("Keep me", "Unchanged."));

        // Row 2 (line 3) has an empty answer; row 1 would update the kept entry.
        var csv = $"id,question,answer\r\n{kept.Id},Keep me,Changed!\r\n,Second,\r\n,Third,Fine\r\n";
        var refused = await ImportCsvAsync(admin, csv);
        await AssertRefusedAsync(refused, "knowledge_invalid", line: 3, row: 2);

        // A quote that never closes, an unknown column, a row with the wrong number of cells.
        await AssertRefusedAsync(await ImportCsvAsync(admin, "question,answer\n\"Open,ended\n"), "knowledge_import_invalid", line: 2, row: null);
        await AssertRefusedAsync(await ImportCsvAsync(admin, "question,answer,colour\nA,B,red\n"), "knowledge_import_invalid", line: 1, row: null);
        await AssertRefusedAsync(await ImportCsvAsync(admin, "question,answer\nA,B\nC\n"), "knowledge_import_invalid", line: 3, row: 2);

        // JSON: bad syntax names its line; an oversized field names its entry.
        await AssertRefusedAsync(await ImportJsonAsync(admin, "[\n  {\"question\": \"A\", \"answer\": \"B\"},\n  {\"question\": \"C\" \"answer\": \"D\"}\n]"), "knowledge_import_invalid", line: 3, row: 2);
        var oversized = JsonSerializer.Serialize(new object[]
        {
            new { id = kept.Id, question = "Keep me", answer = "Changed!" },
            new { question = "Long", answer = new string('a', 4001) },
        });
        await AssertRefusedAsync(await ImportJsonAsync(admin, oversized), "knowledge_invalid", line: 1, row: 2);
        await AssertRefusedAsync(await ImportJsonAsync(admin, "{\"entries\": 7}"), "knowledge_import_invalid", line: 1, row: null);
        await AssertRefusedAsync(await ImportJsonAsync(admin, $"[{{\"id\":\"{kept.Id}\",\"question\":\"A\",\"answer\":\"B\"}},{{\"id\":\"{kept.Id}\",\"question\":\"C\",\"answer\":\"D\"}}]"), "knowledge_import_invalid", line: 1, row: 2);
        var tooMany = "question,answer\n" + string.Concat(Enumerable.Range(0, KnowledgeService.MaxImportEntries + 1).Select(i => $"Q{i},A\n"));
        await AssertRefusedAsync(await ImportCsvAsync(admin, tooMany), "knowledge_import_too_large", line: null, row: null);

        var all = await ListAsync(admin, "");
        Assert.Equal(("Keep me", "Unchanged."), (Assert.Single(all).Question, all[0].Answer));
        var audit = (await admin.GetFromJsonAsync<AuditPage>("/api/v1/audit?limit=500", Ct))!.Items;
        Assert.DoesNotContain(audit, a => a.Action.StartsWith("knowledge.entry_imported", StringComparison.Ordinal) || a.Action == "knowledge.imported");

        // The same file, fixed, goes in whole: one update, two creations, audited per entry.
        var fixedCsv = csv.Replace(",Second,\r\n", ",Second,Also fine\r\n", StringComparison.Ordinal);
        var accepted = await ImportCsvAsync(admin, fixedCsv);
        Assert.Equal(HttpStatusCode.OK, accepted.StatusCode);
        Assert.Equal(new KnowledgeImportResult(Created: 2, Updated: 1), await accepted.Content.ReadFromJsonAsync<KnowledgeImportResult>(Ct));
        Assert.Equal(["Changed!", "Also fine", "Fine"], (await ListAsync(admin, "")).OrderBy(e => e.Question, StringComparer.Ordinal).Select(e => e.Answer));
        audit = (await admin.GetFromJsonAsync<AuditPage>("/api/v1/audit?limit=500", Ct))!.Items;
        Assert.Equal(3, audit.Count(a => a.Action == "knowledge.entry_imported"));
        Assert.Contains(audit, a => a.Action == "knowledge.imported" && a.DetailsJson!.Contains("\"created\":2", StringComparison.Ordinal));
    }

    [Theory]
    [BothStores]
    public async Task CsvAndJson_RoundTrip_ChineseText_Quotes_CommasAndLineBreaks(Store store)
    {
        await using var storage = await TestStorage.CreateAsync(store);
        await using var server = await ParleyServer.StartAsync(storage);
        var (admin, _) = await AgentClient.SignInAsync(server);
        using var _admin = admin;
        var team = await server.CreateTeamAsync("售后部");
        var originals = new[]
        {
            await CreateAsync(admin, new KnowledgeEntryRequest("退货流程是什么？", "登录后进入“我的订单”，点击\"申请退货\"，\r\n填写原因，客服会在 24 小时内处理，详见 https://example.com/退货?a=1,2", ["怎么退货", "如何退款"], "zh-CN", ["售后", "退货"], team)),
            await CreateAsync(admin, new KnowledgeEntryRequest("Do you ship abroad?", " Yes, to 30 countries, see https://example.com/shipping.", [], "en", [], null, false)),
        };

        var csv = await admin.GetAsync("/api/v1/knowledge/export/csv", Ct);
        csv.EnsureSuccessStatusCode();
        Assert.Equal("text/csv", csv.Content.Headers.ContentType?.MediaType);
        var bytes = await csv.Content.ReadAsByteArrayAsync(Ct);
        Assert.Equal(Encoding.UTF8.Preamble.ToArray(), bytes[..3]);
        var text = Encoding.UTF8.GetString(bytes[3..]);
        Assert.StartsWith("id,teamId,question,variants,answer,language,tags,enabled\r\n", text, StringComparison.Ordinal);
        Assert.Contains("怎么退货|如何退款", text, StringComparison.Ordinal);
        var json = await admin.GetByteArrayAsync("/api/v1/knowledge/export/json", Ct);

        foreach (var e in originals)
        {
            (await admin.DeleteAsync($"/api/v1/knowledge/{e.Id}", Ct)).EnsureSuccessStatusCode();
        }

        Assert.Empty(await ListAsync(admin, ""));
        var imported = await ImportAsync(admin, "/api/v1/knowledge/import/csv", bytes, "text/csv");
        Assert.Equal(new KnowledgeImportResult(2, 0), await imported.Content.ReadFromJsonAsync<KnowledgeImportResult>(Ct));
        AssertSame(originals, await ListAsync(admin, ""));

        // The JSON export puts the same entries back over themselves: updates, nothing else changes.
        var again = await ImportAsync(admin, "/api/v1/knowledge/import/json", json, "application/json");
        Assert.Equal(new KnowledgeImportResult(0, 2), await again.Content.ReadFromJsonAsync<KnowledgeImportResult>(Ct));
        AssertSame(originals, await ListAsync(admin, ""));
    }

    [Theory]
    [BothStores]
    public async Task SupervisorOfTeamA_NeverSeesOrChangesTeamBsEntries_AgentsOnlyRead(Store store)
    {
        await using var storage = await TestStorage.CreateAsync(store);
        await using var server = await ParleyServer.StartAsync(storage);
        var (admin, _) = await AgentClient.SignInAsync(server);
        using var _admin = admin;
        var teamA = await server.CreateTeamAsync("A");
        var teamB = await server.CreateTeamAsync("B");
        await server.CreateUserAsync("lead-a@test.local", "supervisor", teamA);
        await server.CreateUserAsync("agent-a@test.local", "agent", teamA);
        var a = await CreateAsync(admin, new KnowledgeEntryRequest("A question", "A answer", TeamId: teamA));
        var b = await CreateAsync(admin, new KnowledgeEntryRequest("B question", "B answer", TeamId: teamB));
        var everyone = await CreateAsync(admin, new KnowledgeEntryRequest("Shared question", "Shared answer"));

        using var lead = await server.SignInAsync("lead-a@test.local");
        Assert.Equal([everyone.Id, a.Id], (await ListAsync(lead, "")).Select(e => e.Id));
        Assert.Empty(await ListAsync(lead, $"?teamId={teamB}"));
        Assert.Empty(await ListAsync(lead, "?q=B%20answer"));
        Assert.Equal(HttpStatusCode.NotFound, (await lead.GetAsync($"/api/v1/knowledge/{b.Id}", Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await lead.PutAsJsonAsync($"/api/v1/knowledge/{b.Id}", new KnowledgeEntryRequest("Mine now", "x", TeamId: teamA), Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await lead.DeleteAsync($"/api/v1/knowledge/{b.Id}", Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await lead.PostAsync($"/api/v1/knowledge/{b.Id}/disable", null, Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await lead.PostAsJsonAsync("/api/v1/knowledge", new KnowledgeEntryRequest("Into B", "x", TeamId: teamB), Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await lead.PostAsJsonAsync("/api/v1/knowledge", new KnowledgeEntryRequest("For everyone", "x"), Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await lead.PutAsJsonAsync($"/api/v1/knowledge/{a.Id}", new KnowledgeEntryRequest("Move to B", "x", TeamId: teamB), Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await lead.PostAsync($"/api/v1/knowledge/{everyone.Id}/disable", null, Ct)).StatusCode);
        (await lead.PutAsJsonAsync($"/api/v1/knowledge/{a.Id}", new KnowledgeEntryRequest("A question", "A answer, edited", TeamId: teamA), Ct)).EnsureSuccessStatusCode();
        Assert.Equal(HttpStatusCode.Created, (await lead.PostAsJsonAsync("/api/v1/knowledge", new KnowledgeEntryRequest("A2", "x", TeamId: teamA), Ct)).StatusCode);
        var export = await lead.GetStringAsync("/api/v1/knowledge/export/csv", Ct);
        Assert.DoesNotContain("B question", export, StringComparison.Ordinal);
        Assert.Contains("A answer, edited", export, StringComparison.Ordinal);

        // An import that reaches into team B is refused whole.
        await AssertRefusedAsync(await ImportCsvAsync(lead, $"teamId,question,answer\n{teamA},A3,x\n{teamB},B2,x\n"), "forbidden", line: 3, row: 2, HttpStatusCode.Forbidden);
        await AssertRefusedAsync(await ImportCsvAsync(lead, $"id,teamId,question,answer\n{b.Id},{teamA},Hijack,x\n"), "forbidden", line: 2, row: 1, HttpStatusCode.Forbidden);
        Assert.Equal("B answer", (await admin.GetFromJsonAsync<KnowledgeEntryDto>($"/api/v1/knowledge/{b.Id}", Ct))!.Answer);

        using var agent = await server.SignInAsync("agent-a@test.local");
        Assert.Equal(3, (await ListAsync(agent, "")).Count);
        Assert.Equal(HttpStatusCode.OK, (await agent.GetAsync($"/api/v1/knowledge/{a.Id}", Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await agent.GetAsync($"/api/v1/knowledge/{b.Id}", Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await agent.PostAsJsonAsync("/api/v1/knowledge", new KnowledgeEntryRequest("Agent's", "x", TeamId: teamA), Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await agent.PutAsJsonAsync($"/api/v1/knowledge/{a.Id}", new KnowledgeEntryRequest("Agent's", "x", TeamId: teamA), Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await agent.DeleteAsync($"/api/v1/knowledge/{a.Id}", Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await ImportCsvAsync(agent, "question,answer\nQ,A\n")).StatusCode);
    }

    [Theory]
    [BothStores]
    public async Task Synonyms_AreReplacedWhole_ByAdmins_AndIntentExamples_AreAddedAndRemoved(Store store)
    {
        await using var storage = await TestStorage.CreateAsync(store);
        var recorder = new KnowledgeEventRecorder();
        await using var server = await ParleyServer.StartAsync(storage, configure: recorder.Register);
        var (admin, _) = await AgentClient.SignInAsync(server);
        using var _admin = admin;
        await server.CreateUserAsync("lead@test.local", "supervisor", Array.Empty<Guid>());
        await server.CreateUserAsync("agent@test.local", "agent", Array.Empty<Guid>());

        var saved = await admin.PutAsJsonAsync("/api/v1/knowledge/synonyms", new KnowledgeSynonymsRequest([["保修", "质保", "warranty", "Warranty", " guarantee "], ["lonely"], ["退款", "refund"]]), Ct);
        saved.EnsureSuccessStatusCode();
        var groups = await admin.GetFromJsonAsync<List<KnowledgeSynonymDto>>("/api/v1/knowledge/synonyms", Ct);
        Assert.Equal([["保修", "质保", "warranty", "guarantee"], ["退款", "refund"]], groups!.Select(g => g.Terms.ToList()));
        (await admin.PutAsJsonAsync("/api/v1/knowledge/synonyms", new KnowledgeSynonymsRequest([["发票", "invoice"]]), Ct)).EnsureSuccessStatusCode();
        Assert.Equal(["发票", "invoice"], Assert.Single((await admin.GetFromJsonAsync<List<KnowledgeSynonymDto>>("/api/v1/knowledge/synonyms", Ct))!).Terms);
        using var lead = await server.SignInAsync("lead@test.local");
        Assert.Equal(HttpStatusCode.Forbidden, (await lead.PutAsJsonAsync("/api/v1/knowledge/synonyms", new KnowledgeSynonymsRequest([]), Ct)).StatusCode);
        Assert.Equal("knowledge_invalid", await WidgetTestKit.ProblemCodeAsync(await admin.PutAsJsonAsync("/api/v1/knowledge/synonyms", new KnowledgeSynonymsRequest([["x", new string('y', 101)]]), Ct)));

        using var agent = await server.SignInAsync("agent@test.local");
        var example = await agent.PostAsJsonAsync("/api/v1/knowledge/intent-examples", new IntentExampleRequest("ask_price", "这个多少钱？"), Ct);
        Assert.Equal(HttpStatusCode.Created, example.StatusCode);
        var added = (await example.Content.ReadFromJsonAsync<IntentExampleDto>(Ct))!;
        Assert.Equal("intent_example_invalid", await WidgetTestKit.ProblemCodeAsync(await agent.PostAsJsonAsync("/api/v1/knowledge/intent-examples", new IntentExampleRequest("Ask Price", "x"), Ct)));
        Assert.Equal("message_not_found", await WidgetTestKit.ProblemCodeAsync(await agent.PostAsJsonAsync("/api/v1/knowledge/intent-examples", new IntentExampleRequest("ask_price", "x", 987654), Ct)));
        Assert.Equal(HttpStatusCode.Forbidden, (await agent.GetAsync("/api/v1/knowledge/intent-examples", Ct)).StatusCode);
        var listed = await lead.GetFromJsonAsync<Page<IntentExampleDto>>("/api/v1/knowledge/intent-examples?intent=ask_price", Ct);
        Assert.Equal(added, Assert.Single(listed!.Items)); // no lists inside: record equality is value equality
        Assert.Equal(HttpStatusCode.NoContent, (await lead.DeleteAsync($"/api/v1/knowledge/intent-examples/{added.Id}", Ct)).StatusCode);
        Assert.Empty((await lead.GetFromJsonAsync<Page<IntentExampleDto>>("/api/v1/knowledge/intent-examples", Ct))!.Items);

        var audit = (await admin.GetFromJsonAsync<AuditPage>("/api/v1/audit?limit=500", Ct))!.Items.Select(a => a.Action).ToList();
        Assert.Equal(2, audit.Count(a => a == "knowledge.synonyms_replaced"));
        Assert.Contains("knowledge.intent_example_created", audit);
        Assert.Contains("knowledge.intent_example_deleted", audit);
        // Published in the request, after the commit: heard before the response came back.
        Assert.Equal(2, recorder.Events.Count(e => e.Kind == KnowledgeChangeKind.IntentExamplesChanged));
        Assert.Equal(2, recorder.Events.Count(e => e.Kind == KnowledgeChangeKind.SynonymsChanged));
    }

    private static void AssertSame(KnowledgeEntryDto[] expected, List<KnowledgeEntryDto> actual)
    {
        static object Shape(KnowledgeEntryDto e) => (e.Id, e.TeamId, e.Question, string.Join('|', e.Variants), e.Answer, e.Language, string.Join('|', e.Tags), e.Enabled);
        Assert.Equal(expected.Select(Shape).OrderBy(s => s.ToString(), StringComparer.Ordinal), actual.Select(Shape).OrderBy(s => s.ToString(), StringComparer.Ordinal));
    }

    private static async Task AssertRefusedAsync(HttpResponseMessage response, string code, int? line, int? row, HttpStatusCode status = HttpStatusCode.BadRequest)
    {
        Assert.Equal(status, response.StatusCode);
        var problem = (await response.Content.ReadFromJsonAsync<Dictionary<string, JsonElement>>(Ct))!;
        Assert.Equal(code, problem["code"].GetString());
        Assert.Equal(line, problem.TryGetValue("line", out var l) ? l.GetInt32() : null);
        Assert.Equal(row, problem.TryGetValue("row", out var r) ? r.GetInt32() : null);
    }

    private static async Task<KnowledgeEntryDto> CreateAsync(HttpClient http, KnowledgeEntryRequest request)
    {
        var response = await http.PostAsJsonAsync("/api/v1/knowledge", request, Ct);
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync<KnowledgeEntryDto>(Ct))!;
    }

    private static async Task<List<KnowledgeEntryDto>> ListAsync(HttpClient http, string query) =>
        [.. (await http.GetFromJsonAsync<Page<KnowledgeEntryDto>>("/api/v1/knowledge" + query, Ct))!.Items];

    private static Task<HttpResponseMessage> ImportCsvAsync(HttpClient http, string csv) =>
        ImportAsync(http, "/api/v1/knowledge/import/csv", Encoding.UTF8.GetBytes(csv), "text/csv");

    private static Task<HttpResponseMessage> ImportJsonAsync(HttpClient http, string json) =>
        ImportAsync(http, "/api/v1/knowledge/import/json", Encoding.UTF8.GetBytes(json), "application/json");

    private static async Task<HttpResponseMessage> ImportAsync(HttpClient http, string path, byte[] body, string contentType)
    {
        var content = new ByteArrayContent(body);
        content.Headers.ContentType = new MediaTypeHeaderValue(contentType);
        return await http.PostAsync(path, content, Ct);
    }
}
