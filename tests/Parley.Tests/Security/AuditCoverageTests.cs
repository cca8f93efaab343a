using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Parley.Data;
using Parley.Server.Infrastructure;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Security;

/// <summary>
/// #21: every state-changing admin or supervisor endpoint, and every change of shared configuration (canned replies,
/// labels, the knowledge base), writes an audit entry. The list of endpoints comes from the live OpenAPI document, the rule "admin or
/// supervisor" from each endpoint's authorization metadata: a new endpoint that needs neither a request below nor an
/// exemption fails this test until someone decides which it is.
/// </summary>
public sealed class AuditCoverageTests
{
    /// <summary>In scope though open to every agent: these change configuration other agents share.</summary>
    private static readonly HashSet<string> ConfigurationTags = ["Canned replies", "Labels", "Knowledge base"];

    /// <summary>Admin or supervisor endpoints that change state but are not audited, each with its reason. Keep it short.</summary>
    private static readonly Dictionary<string, string> Exempt = new()
    {
        ["PreviewCannedReply"] = "Renders a reply's variables for the editor's preview; it reads and stores nothing.",
        ["PostBusinessEvent"] = "Data an integration reports about a customer (an order was paid), not a change of configuration; the event itself is stored with its source on the contact's timeline.",
    };

    private static readonly string[] WebhookEvents = ["conversation.*"];

    private static readonly string[][] SynonymGroups = [["退款", "退钱"]];

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task EveryStateChangingAdminEndpoint_WritesAnAuditEntry()
    {
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage, new Dictionary<string, string?> { ["Parley:Retention:Enabled"] = "false" });
        var (admin, _) = await AgentClient.SignInAsync(server);
        using var _admin = admin;

        var inScope = await StateChangingAdminOperationsAsync(server, admin);
        var steps = Steps();
        var undecided = inScope.Where(op => !Exempt.ContainsKey(op) && steps.All(s => s.Operation != op)).Order().ToList();
        Assert.True(undecided.Count == 0, "Add a request (and an audit entry) or an exemption for: " + string.Join(", ", undecided));
        Assert.DoesNotContain(Exempt.Keys, op => !inScope.Contains(op)); // a stale exemption hides nothing
        Assert.Empty(steps.Select(s => s.Operation).Where(op => !inScope.Contains(op)).Distinct());

        var ctx = new Context(server, admin);
        var unaudited = new List<string>();
        foreach (var step in steps)
        {
            var last = await LastAuditIdAsync(server);
            var response = await step.Call(ctx);
            Assert.True(response.IsSuccessStatusCode, $"{step.Operation}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync(Ct)}");
            await response.Content.LoadIntoBufferAsync(Ct);
            var entries = await AuditSinceAsync(server, last);
            if (entries.Count == 0 || entries.Any(e => e.ActorId is null))
            {
                unaudited.Add(step.Operation);
                continue;
            }

            if (step.Settings)
            {
                var details = JsonNode.Parse(entries[^1].DetailsJson ?? "{}")!.AsObject();
                Assert.True(details.ContainsKey("before") && details.ContainsKey("after"), $"{step.Operation} ({entries[^1].Action}) records no before/after: {entries[^1].DetailsJson}");
            }
        }

        Assert.True(unaudited.Count == 0, "No audit entry by the caller for: " + string.Join(", ", unaudited));
    }

    /// <summary>POST/PUT/PATCH/DELETE operations of the live document whose endpoint needs an admin or supervisor, or that change shared configuration.</summary>
    private static async Task<HashSet<string>> StateChangingAdminOperationsAsync(ParleyServer server, HttpClient http)
    {
        var document = JsonNode.Parse(await http.GetStringAsync("/openapi/v1.json", Ct))!;
        var endpoints = server.Services.GetRequiredService<EndpointDataSource>().Endpoints
            .Where(e => e.Metadata.GetMetadata<IEndpointNameMetadata>() is not null)
            .ToDictionary(e => e.Metadata.GetMetadata<IEndpointNameMetadata>()!.EndpointName);
        var result = new HashSet<string>();
        foreach (var (_, path) in document["paths"]!.AsObject())
        {
            foreach (var (method, operation) in path!.AsObject())
            {
                if (method is not ("post" or "put" or "patch" or "delete"))
                {
                    continue;
                }

                var id = operation!["operationId"]!.GetValue<string>();
                var tags = operation["tags"]?.AsArray().Select(t => t!.GetValue<string>()) ?? [];
                Assert.True(endpoints.TryGetValue(id, out var endpoint), $"{id} is in the document but no endpoint has that name");
                if (NeedsAdminOrSupervisor(endpoint!) || tags.Any(ConfigurationTags.Contains))
                {
                    result.Add(id);
                }
            }
        }

        return result;
    }

    private static bool NeedsAdminOrSupervisor(Endpoint endpoint)
    {
        var data = endpoint.Metadata.GetOrderedMetadata<IAuthorizeData>();
        if (data.Any(d => d.Policy is ParleyClaims.AdminPolicy or ParleyClaims.SupervisorPolicy))
        {
            return true;
        }

        // RequireAuthorization(p => p.RequireRole("admin")) leaves the policy object itself.
        return endpoint.Metadata.GetOrderedMetadata<AuthorizationPolicy>()
            .SelectMany(p => p.Requirements.OfType<Microsoft.AspNetCore.Authorization.Infrastructure.RolesAuthorizationRequirement>())
            .Any(r => !r.AllowedRoles.Contains("agent"));
    }

    private static async Task<long> LastAuditIdAsync(ParleyServer server)
    {
        await using var scope = server.Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<ParleyDbContext>().AuditEntries.MaxAsync(e => (long?)e.Id, Ct) ?? 0;
    }

    private static async Task<List<AuditEntry>> AuditSinceAsync(ParleyServer server, long after)
    {
        await using var scope = server.Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<ParleyDbContext>().AuditEntries.AsNoTracking()
            .Where(e => e.Id > after && !e.Action.StartsWith("auth.")).OrderBy(e => e.Id).ToListAsync(Ct);
    }

    private sealed record Step(string Operation, Func<Context, Task<HttpResponseMessage>> Call, bool Settings = false);

    /// <summary>Ids made by earlier steps for later ones.</summary>
    private sealed class Context(ParleyServer server, HttpClient http)
    {
        public ParleyServer Server { get; } = server;

        public HttpClient Http { get; } = http;

        public Dictionary<string, string> Ids { get; } = [];

        public async Task<HttpResponseMessage> KeepAsync(Task<HttpResponseMessage> call, string name, Func<JsonNode, string> pick)
        {
            var response = await call;
            if (response.IsSuccessStatusCode)
            {
                Ids[name] = pick(JsonNode.Parse(await response.Content.ReadAsStringAsync(Ct))!);
            }

            return response;
        }

        public string this[string name] => Ids[name];
    }

    private static ByteArrayContent Raw(byte[] body, string contentType)
    {
        var content = new ByteArrayContent(body);
        content.Headers.ContentType = new MediaTypeHeaderValue(contentType);
        return content;
    }

    /// <summary>A minimal valid request per operation, in an order where each finds what it needs.</summary>
    private static List<Step> Steps() =>
    [
        new("CreateSite", c => c.KeepAsync(c.Http.PostAsJsonAsync("/api/v1/sites", new { name = "Audit", key = "audit-site" }, Ct), "site", j => j["id"]!.ToString())),
        new("UpdateSite", c => c.Http.PatchAsJsonAsync($"/api/v1/sites/{c["site"]}", new { name = "Audit 2" }, Ct), Settings: true),
        new("RotateSiteIdentitySecret", c => c.Http.PostAsync($"/api/v1/sites/{c["site"]}/identity-secret/rotate", null, Ct)),
        new("PutWidgetSettings", async c => await c.Http.PutAsync($"/api/v1/sites/{c["site"]}/widget-settings",
            JsonContent.Create(JsonNode.Parse(await c.Http.GetStringAsync($"/api/v1/sites/{c["site"]}/widget-settings", Ct))), Ct), Settings: true),
        new("PutAiSettings", async c => await c.Http.PutAsync($"/api/v1/sites/{c["site"]}/ai-settings",
            JsonContent.Create(JsonNode.Parse(await c.Http.GetStringAsync($"/api/v1/sites/{c["site"]}/ai-settings", Ct))), Ct), Settings: true),
        new("PutLlmProvider", c => c.Http.PutAsJsonAsync("/api/v1/ai/provider", new { chatModel = "qwen2.5:7b-instruct", timeoutMilliseconds = 4000 }, Ct), Settings: true),
        new("TestLlmProvider", c => c.Http.PostAsJsonAsync("/api/v1/ai/provider/test", new { }, Ct)),
        new("PutSiteRetention", c => c.Http.PutAsJsonAsync($"/api/v1/sites/{c["site"]}/retention", new { days = 30, mode = "anonymise" }, Ct), Settings: true),
        new("CreateTeam", c => c.KeepAsync(c.Http.PostAsJsonAsync("/api/v1/teams", new { name = "Audit team" }, Ct), "team", j => j["id"]!.ToString()), Settings: true),
        new("UpdateTeam", c => c.Http.PutAsJsonAsync($"/api/v1/teams/{c["team"]}", new { name = "Audit team 2", strategy = "roundRobin" }, Ct), Settings: true),
        new("SetTeamHours", c => c.Http.PutAsJsonAsync($"/api/v1/teams/{c["team"]}/hours", new { timeZone = "Asia/Shanghai" }, Ct), Settings: true),
        new("CreateUser", c => c.KeepAsync(c.Http.PostAsJsonAsync("/api/v1/users", new { email = "lin@audit.local", displayName = "Lin", role = "agent", password = SecurityFixtures.Password }, Ct), "user", j => j["user"]!["id"]!.ToString())),
        new("UpdateUser", c => c.Http.PatchAsJsonAsync($"/api/v1/users/{c["user"]}", new { displayName = "Lin Wei" }, Ct), Settings: true),
        new("SetUserTeams", c => c.Http.PutAsJsonAsync($"/api/v1/users/{c["user"]}/teams", new { teamIds = new[] { c["team"] } }, Ct), Settings: true),
        new("ResetUserPassword", c => c.Http.PostAsJsonAsync($"/api/v1/users/{c["user"]}/password", new { newPassword = "Another-Pass-77" }, Ct)),
        new("RevokeUserSessions", c => c.Http.DeleteAsync($"/api/v1/users/{c["user"]}/sessions", Ct)),
        new("SetTeamMembers", c => c.Http.PutAsJsonAsync($"/api/v1/teams/{c["team"]}/members", new { userIds = Array.Empty<string>() }, Ct), Settings: true),
        new("AddTeamMember", c => c.Http.PutAsync($"/api/v1/teams/{c["team"]}/members/{c["user"]}", null, Ct)),
        new("RemoveTeamMember", c => c.Http.DeleteAsync($"/api/v1/teams/{c["team"]}/members/{c["user"]}", Ct)),
        new("CreateWebhook", c => c.KeepAsync(c.Http.PostAsJsonAsync("/api/v1/webhooks", new { url = "https://hooks.audit.invalid/parley", eventTypes = WebhookEvents }, Ct), "webhook", j => j["id"]!.ToString())),
        new("UpdateWebhook", c => c.Http.PatchAsJsonAsync($"/api/v1/webhooks/{c["webhook"]}", new { description = "CRM" }, Ct), Settings: true),
        new("RotateWebhookSecret", c => c.Http.PostAsync($"/api/v1/webhooks/{c["webhook"]}/rotate-secret", null, Ct)),
        new("RedeliverWebhook", async c => await c.Http.PostAsync($"/api/v1/webhooks/{c["webhook"]}/deliveries/{await FailedDeliveryAsync(c)}/redeliver", null, Ct)),
        new("DeleteWebhook", c => c.Http.DeleteAsync($"/api/v1/webhooks/{c["webhook"]}", Ct)),
        new("CreateAlertChannel", c => c.KeepAsync(c.Http.PostAsJsonAsync("/api/v1/alerts/channels", new { kind = "wecom", name = "On call", url = "https://hooks.audit.invalid/cgi-bin/webhook/send?key=abc" }, Ct), "alertChannel", j => j["id"]!.ToString()), Settings: true),
        new("UpdateAlertChannel", c => c.Http.PatchAsJsonAsync($"/api/v1/alerts/channels/{c["alertChannel"]}", new { name = "On call 2", language = "zh-CN" }, Ct), Settings: true),
        new("TestAlertChannel", c => c.Http.PostAsync($"/api/v1/alerts/channels/{c["alertChannel"]}/test", null, Ct)),
        new("DeleteAlertChannel", c => c.Http.DeleteAsync($"/api/v1/alerts/channels/{c["alertChannel"]}", Ct), Settings: true),
        new("CreateAlertRule", c => c.KeepAsync(c.Http.PostAsJsonAsync("/api/v1/alerts/rules", new { kind = "queue_wait", teamId = c["team"], threshold = 120 }, Ct), "alertRule", j => j["id"]!.ToString()), Settings: true),
        new("UpdateAlertRule", c => c.Http.PatchAsJsonAsync($"/api/v1/alerts/rules/{c["alertRule"]}", new { threshold = 300, renotifyMinutes = 30 }, Ct), Settings: true),
        new("DeleteAlertRule", c => c.Http.DeleteAsync($"/api/v1/alerts/rules/{c["alertRule"]}", Ct), Settings: true),
        new("CreateCannedReply", c => c.KeepAsync(c.Http.PostAsJsonAsync("/api/v1/canned-replies", new { shortcut = "hi", body = "Hello {{visitor.name}}", shared = true }, Ct), "canned", j => j["id"]!.ToString()), Settings: true),
        new("UpdateCannedReply", c => c.Http.PutAsJsonAsync($"/api/v1/canned-replies/{c["canned"]}", new { shortcut = "hello", body = "Hello!", shared = true }, Ct), Settings: true),
        new("DeleteCannedReply", c => c.Http.DeleteAsync($"/api/v1/canned-replies/{c["canned"]}", Ct)),
        new("CreateLabel", c => c.KeepAsync(c.Http.PostAsJsonAsync("/api/v1/labels", new { name = "vip" }, Ct), "label", j => j["id"]!.ToString())),
        new("DeleteLabel", c => c.Http.DeleteAsync($"/api/v1/labels/{c["label"]}", Ct)),
        new("CreateKnowledgeEntry", c => c.KeepAsync(c.Http.PostAsJsonAsync("/api/v1/knowledge", new { question = "Opening hours?", answer = "9 to 5" }, Ct), "entry", j => j["id"]!.ToString()), Settings: true),
        new("UpdateKnowledgeEntry", c => c.Http.PutAsJsonAsync($"/api/v1/knowledge/{c["entry"]}", new { question = "Opening hours?", answer = "9 to 6" }, Ct), Settings: true),
        new("DisableKnowledgeEntry", c => c.Http.PostAsync($"/api/v1/knowledge/{c["entry"]}/disable", null, Ct), Settings: true),
        new("EnableKnowledgeEntry", c => c.Http.PostAsync($"/api/v1/knowledge/{c["entry"]}/enable", null, Ct), Settings: true),
        new("ImportKnowledgeJson", async c => await c.Http.PostAsync("/api/v1/knowledge/import/json", Raw(await c.Http.GetByteArrayAsync("/api/v1/knowledge/export/json", Ct), "application/json"), Ct)),
        new("ImportKnowledgeCsv", async c => await c.Http.PostAsync("/api/v1/knowledge/import/csv", Raw(await c.Http.GetByteArrayAsync("/api/v1/knowledge/export/csv", Ct), "text/csv"), Ct)),
        new("DeleteKnowledgeEntry", c => c.Http.DeleteAsync($"/api/v1/knowledge/{c["entry"]}", Ct)),
        new("ReplaceKnowledgeSynonyms", c => c.Http.PutAsJsonAsync("/api/v1/knowledge/synonyms", new { groups = SynonymGroups }, Ct), Settings: true),
        new("CreateIntentExample", c => c.KeepAsync(c.Http.PostAsJsonAsync("/api/v1/knowledge/intent-examples", new { intent = "ask_price", text = "how much?" }, Ct), "example", j => j["id"]!.ToString())),
        new("DeleteIntentExample", c => c.Http.DeleteAsync($"/api/v1/knowledge/intent-examples/{c["example"]}", Ct)),
        new("WhisperToAgent", async c => await c.Http.PostAsJsonAsync($"/api/v1/conversations/{await AssignedConversationAsync(c)}/whisper", new { clientId = Guid.NewGuid(), body = "Offer the coupon" }, Ct)),
        new("TakeOverConversation", c => c.Http.PostAsync($"/api/v1/conversations/{c["conversation"]}/take-over", null, Ct)),
        new("MergeContact", async c => await c.Http.PostAsJsonAsync($"/api/v1/contacts/{c["contact"]}/merge", new { contactId = await NewContactAsync(c) }, Ct), Settings: true),
        new("EraseContact", c => c.Http.PostAsync($"/api/v1/contacts/{c["contact"]}/erase", null, Ct)),
        new("DeleteTeam", c => c.Http.DeleteAsync($"/api/v1/teams/{c["team"]}", Ct)),
    ];

    /// <summary>A failed delivery of an event to the webhook, as the dispatcher leaves it for an unreachable target.</summary>
    private static async Task<long> FailedDeliveryAsync(Context c)
    {
        await using var scope = c.Server.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ParleyDbContext>();
        var ev = new IntegrationEvent { Type = "conversation.created", DataJson = "{}", CreatedAt = DateTime.UtcNow };
        db.IntegrationEvents.Add(ev);
        await db.SaveChangesAsync(Ct);
        var delivery = new WebhookDelivery { EndpointId = Guid.Parse(c["webhook"]), EventId = ev.Id, Status = WebhookDeliveryStatus.Failed, Attempts = 8, NextAttemptAt = DateTime.UtcNow, CreatedAt = DateTime.UtcNow, CompletedAt = DateTime.UtcNow };
        db.WebhookDeliveries.Add(delivery);
        await db.SaveChangesAsync(Ct);
        return delivery.Id;
    }

    /// <summary>A visitor's conversation held by the agent made earlier (the whisper goes to them, the take-over takes it from them).</summary>
    private static async Task<string> AssignedConversationAsync(Context c)
    {
        await using var visitor = await VisitorClient.ConnectAsync(c.Server);
        var conversation = await visitor.StartConversationAsync();
        await visitor.SendAsync(conversation.Id, "hello");
        (await c.Http.PostAsJsonAsync($"/api/v1/conversations/{conversation.Id}/assign", new { userId = c["user"] }, Ct)).EnsureSuccessStatusCode();
        c.Ids["conversation"] = conversation.Id.ToString();
        await using var scope = c.Server.Services.CreateAsyncScope();
        c.Ids["contact"] = (await scope.ServiceProvider.GetRequiredService<ParleyDbContext>().Conversations.FirstAsync(x => x.Id == conversation.Id, Ct)).ContactId.ToString();
        return conversation.Id.ToString();
    }

    private static async Task<Guid> NewContactAsync(Context c)
    {
        var session = await VisitorClient.CreateSessionAsync(c.Server);
        return session.ContactId;
    }
}
