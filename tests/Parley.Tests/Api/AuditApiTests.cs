using System.Net;
using System.Net.Http.Json;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Parley.Server.Features.Access;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Api;

/// <summary>The audit log's filters and its CSV export, on both stores.</summary>
public sealed class AuditApiTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [BothStores]
    public async Task List_FiltersByActionPrefixActorTargetAndTime(Store store)
    {
        await using var storage = await TestStorage.CreateAsync(store);
        await using var server = await ParleyServer.StartAsync(storage);
        var ann = await server.CreateUserAsync("ann@test.local", "Ann Agent");
        var before = DateTimeOffset.UtcNow.AddSeconds(-1);
        await RecordAsync(server, "webhook.created", ann.Id, "Ann Agent", "webhook", "w-1");
        await RecordAsync(server, "webhook.deleted", ann.Id, "Ann Agent", "webhook", "w-2");
        await RecordAsync(server, "team.created", null, "System", "team", "t-1");
        using var http = (await AgentClient.SignInAsync(server)).Http;

        Assert.Equal(["webhook.deleted", "webhook.created"], await ActionsAsync(http, "action=webhook.*"));
        Assert.Equal(["webhook.created"], await ActionsAsync(http, "action=webhook.created"));
        Assert.Equal(["webhook.deleted", "webhook.created"], await ActionsAsync(http, $"actorId={ann.Id}"));
        Assert.Equal(["webhook.deleted"], await ActionsAsync(http, "targetType=webhook&targetId=w-2"));
        Assert.Equal(["team.created"], await ActionsAsync(http, "targetType=team"));
        var from = Uri.EscapeDataString(before.ToString("O"));
        Assert.Contains("team.created", await ActionsAsync(http, $"from={from}"));
        Assert.Empty(await ActionsAsync(http, $"to={from}&action=webhook.*"));
        Assert.Empty(await ActionsAsync(http, $"from={Uri.EscapeDataString(DateTimeOffset.UtcNow.AddHours(1).ToString("O"))}"));
        Assert.Equal(HttpStatusCode.BadRequest, (await http.GetAsync("/api/v1/audit?from=yesterday", Ct)).StatusCode);
    }

    [Theory]
    [BothStores]
    public async Task Export_IsUtf8WithBom_EscapesFormulas_QuotesCells_AndIsItselfAudited(Store store)
    {
        await using var storage = await TestStorage.CreateAsync(store);
        await using var server = await ParleyServer.StartAsync(storage);
        await RecordAsync(server, "contact.updated", null, "=HYPERLINK(\"http://evil\",\"x\")", "contact", "+1 555");
        await RecordAsync(server, "contact.updated", null, "张伟, 客服", "contact", "@c-2");
        await RecordAsync(server, "team.created", null, "-minus", "team", "t-1");
        using var http = (await AgentClient.SignInAsync(server)).Http;

        using var response = await http.GetAsync("/api/v1/audit/export?action=contact.*", Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/csv", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("utf-8", response.Content.Headers.ContentType?.CharSet);
        Assert.StartsWith("parley-audit-", response.Content.Headers.ContentDisposition?.FileNameStar ?? response.Content.Headers.ContentDisposition?.FileName);
        var bytes = await response.Content.ReadAsByteArrayAsync(Ct);
        Assert.Equal(Encoding.UTF8.Preamble.ToArray(), bytes[..3]);
        var lines = Encoding.UTF8.GetString(bytes[3..]).Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("id,at,actor_id,actor_name,action,target_type,target_id,ip_address,details", lines[0]);
        Assert.Equal(3, lines.Length); // the filter kept the team entry out
        Assert.Contains(",\"张伟, 客服\",contact.updated,contact,'@c-2,", lines[1], StringComparison.Ordinal);
        Assert.Contains(",\"'=HYPERLINK(\"\"http://evil\"\",\"\"x\"\")\",contact.updated,contact,'+1 555,", lines[2], StringComparison.Ordinal);

        var exported = (await http.GetFromJsonAsync<AuditPage>("/api/v1/audit?action=audit.exported", Ct))!.Items;
        var entry = Assert.Single(exported);
        Assert.Contains("\"rows\":2", entry.DetailsJson, StringComparison.Ordinal);
        Assert.Contains("\"action\":\"contact.*\"", entry.DetailsJson, StringComparison.Ordinal);
    }

    private static async Task RecordAsync(ParleyServer server, string action, Guid? actorId, string actorName, string targetType, string targetId)
    {
        using var scope = server.Services.CreateScope();
        await scope.ServiceProvider.GetRequiredService<AuditLog>().RecordAsync(action, actorId, actorName, targetType, targetId, cancellationToken: Ct);
    }

    private static async Task<List<string>> ActionsAsync(HttpClient http, string query) =>
        (await http.GetFromJsonAsync<AuditPage>($"/api/v1/audit?{query}", Ct))!.Items.Select(e => e.Action).Where(a => !a.StartsWith("auth.", StringComparison.Ordinal)).ToList();
}
