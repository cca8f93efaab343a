using System.Net;
using System.Net.Http.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Parley.Data;
using Parley.Server.Features.Console;
using Parley.Tests.Infrastructure;
using Parley.Tests.Security;

namespace Parley.Tests.Console;

/// <summary>
/// #21: a shared canned reply may be limited to departments. Agents see their own, the ones shared with everyone and
/// the ones shared with their departments (AccessPolicy.CannedReplies); a supervisor shares only with his own.
/// </summary>
public sealed class CannedRepliesPerDepartmentTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [BothStores]
    public async Task SharedReplies_LimitedToDepartments_AreSeenOnlyThere(Store store)
    {
        await using var storage = await TestStorage.CreateAsync(store);
        await using var server = await ParleyServer.StartAsync(storage);
        var billing = await server.CreateTeamAsync("Billing");
        var sales = await server.CreateTeamAsync("Sales");
        await server.CreateUserAsync("sue@test.local", "supervisor", billing);
        await server.CreateUserAsync("ann@test.local", "agent", billing);
        await server.CreateUserAsync("bob@test.local", "agent", sales);
        await server.CreateUserAsync("cat@test.local", "agent", Array.Empty<Guid>());
        var (admin, _) = await AgentClient.SignInAsync(server);
        using var _admin = admin;
        using var sue = await server.SignInAsync("sue@test.local");
        using var ann = await server.SignInAsync("ann@test.local");
        using var bob = await server.SignInAsync("bob@test.local");
        using var cat = await server.SignInAsync("cat@test.local");

        var hello = await CreateAsync(admin, new { shortcut = "hello", body = "Hello!", shared = true });
        Assert.False(hello.TeamsOnly);
        var pricing = await CreateAsync(admin, new { shortcut = "pricing", body = "Our prices…", shared = true, teamIds = new[] { sales } });
        Assert.Equal([sales], pricing.TeamIds);
        var refund = await CreateAsync(sue, new { shortcut = "refund", body = "Refunds take 3 days.", shared = true, teamIds = new[] { billing, billing } });
        Assert.True(refund.TeamsOnly);
        Assert.Equal([billing], refund.TeamIds);

        // Refusals: a supervisor shares only with his departments; only shared replies have departments; teams must exist.
        await ConsoleApiTests.AssertProblemAsync(await sue.PostAsJsonAsync("/api/v1/canned-replies", new { shortcut = "sales", body = "x", shared = true, teamIds = new[] { sales } }, Ct), HttpStatusCode.Forbidden, "forbidden");
        await ConsoleApiTests.AssertProblemAsync(await ann.PostAsJsonAsync("/api/v1/canned-replies", new { shortcut = "mine", body = "x", teamIds = new[] { billing } }, Ct), HttpStatusCode.BadRequest, "canned_reply_team_invalid");
        await ConsoleApiTests.AssertProblemAsync(await admin.PostAsJsonAsync("/api/v1/canned-replies", new { shortcut = "ghost", body = "x", shared = true, teamIds = new[] { Guid.NewGuid() } }, Ct), HttpStatusCode.BadRequest, "canned_reply_team_invalid");
        await ConsoleApiTests.AssertProblemAsync(await ann.PostAsJsonAsync("/api/v1/canned-replies", new { shortcut = "x", body = "x", shared = true, teamIds = new[] { billing } }, Ct), HttpStatusCode.Forbidden, "forbidden");

        Assert.Equal(["hello", "refund"], await ShortcutsAsync(ann));
        Assert.Equal(["hello", "pricing"], await ShortcutsAsync(bob));
        Assert.Equal(["hello"], await ShortcutsAsync(cat));
        Assert.Equal(["hello", "pricing", "refund"], await ShortcutsAsync(admin));
        Assert.Equal(["hello", "refund"], await ShortcutsAsync(sue));

        // Out of sight is out of reach: the supervisor cannot change Sales' reply (it does not exist for him).
        await ConsoleApiTests.AssertProblemAsync(await sue.PutAsJsonAsync($"/api/v1/canned-replies/{pricing.Id}", new { shortcut = "pricing", body = "x", shared = true }, Ct), HttpStatusCode.NotFound, "canned_reply_not_found");

        // The admin widens refund to Sales: Bob sees it, and the supervisor may no longer change it (not all his).
        var widened = await admin.PutAsJsonAsync($"/api/v1/canned-replies/{refund.Id}", new { shortcut = "refund", body = "Refunds take 3 days.", shared = true, teamIds = new[] { billing, sales } }, Ct);
        Assert.Equal(HttpStatusCode.OK, widened.StatusCode);
        Assert.Equal(["hello", "pricing", "refund"], await ShortcutsAsync(bob));
        await ConsoleApiTests.AssertProblemAsync(await sue.PutAsJsonAsync($"/api/v1/canned-replies/{refund.Id}", new { shortcut = "refund", body = "x", shared = true, teamIds = new[] { billing } }, Ct), HttpStatusCode.Forbidden, "forbidden");

        // Audited with the departments before and after.
        await using (var scope = server.Services.CreateAsyncScope())
        {
            var entry = await scope.ServiceProvider.GetRequiredService<ParleyDbContext>().AuditEntries.AsNoTracking()
                .Where(e => e.Action == "canned_reply.updated" && e.TargetId == refund.Id.ToString()).SingleAsync(Ct);
            Assert.Contains(sales.ToString(), entry.DetailsJson!, StringComparison.Ordinal);
            Assert.Contains("\"before\"", entry.DetailsJson!, StringComparison.Ordinal);
        }

        // Deleting Sales does not share its reply with everyone: it is hidden (admins still see it, limited to no one).
        Assert.Equal(HttpStatusCode.NoContent, (await admin.DeleteAsync($"/api/v1/teams/{sales}", Ct)).StatusCode);
        Assert.Equal(["hello"], await ShortcutsAsync(cat));
        var orphan = Assert.Single(await ListAsync(admin), r => r.Shortcut == "pricing");
        Assert.True(orphan.TeamsOnly);
        Assert.Empty(orphan.TeamIds);
        Assert.Equal([billing], Assert.Single(await ListAsync(admin), r => r.Shortcut == "refund").TeamIds);
    }

    private static async Task<CannedReplyDto> CreateAsync(HttpClient http, object body)
    {
        var response = await http.PostAsJsonAsync("/api/v1/canned-replies", body, Ct);
        Assert.True(response.IsSuccessStatusCode, $"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync(Ct)}");
        return (await response.Content.ReadFromJsonAsync<CannedReplyDto>(Ct))!;
    }

    private static async Task<List<CannedReplyDto>> ListAsync(HttpClient http) =>
        (await http.GetFromJsonAsync<List<CannedReplyDto>>("/api/v1/canned-replies", Ct))!;

    private static async Task<List<string>> ShortcutsAsync(HttpClient http) => [.. (await ListAsync(http)).Select(r => r.Shortcut).Order(StringComparer.Ordinal)];
}
