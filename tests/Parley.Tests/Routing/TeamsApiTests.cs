using System.Net;
using System.Net.Http.Json;
using Parley.Server.Routing;
using Parley.Tests.Infrastructure;
using static Parley.Tests.Routing.RoutingHarness;

namespace Parley.Tests.Routing;

public sealed class TeamsApiTests
{
    [Theory]
    [BothStores]
    public async Task Teams_Crud_Members_Hours(Store store)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var storage = await TestStorage.CreateAsync(store);
        await using var server = await ParleyServer.StartAsync(storage);
        var (admin, _) = await AgentClient.SignInAsync(server);
        var a = await CreateAgentAsync(server, "ann@test.local", capacity: 5);
        var b = await CreateAgentAsync(server, "bob@test.local");

        var created = await admin.PostAsJsonAsync("/api/v1/teams", new { name = "Sales", strategy = "roundRobin", offerTimeoutSeconds = 30, skills = "en zh" }, ct);
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var sales = (await created.Content.ReadFromJsonAsync<TeamDto>(ct))!;
        Assert.Equal("roundRobin", sales.Strategy);
        Assert.True(sales.Sticky);
        Assert.Equal("UTC", sales.TimeZone);

        var support = (await (await admin.PostAsJsonAsync("/api/v1/teams", new { name = "Support" }, ct)).Content.ReadFromJsonAsync<TeamDto>(ct))!;
        Assert.Equal("leastBusy", support.Strategy);

        var updated = await admin.PutAsJsonAsync($"/api/v1/teams/{sales.Id}", new { name = "Sales EU", strategy = "manual", sticky = false, overflowAfterMinutes = 5, overflowTeamId = support.Id }, ct);
        var salesEu = (await updated.Content.ReadFromJsonAsync<TeamDto>(ct))!;
        Assert.Equal(("Sales EU", "manual", false, 5, support.Id), (salesEu.Name, salesEu.Strategy, salesEu.Sticky, salesEu.OverflowAfterMinutes!.Value, salesEu.OverflowTeamId!.Value));

        Guid[] both = [a, b];
        var members = await admin.PutAsJsonAsync($"/api/v1/teams/{sales.Id}/members", new { userIds = both }, ct);
        Assert.Equal(both.Order(), (await members.Content.ReadFromJsonAsync<TeamDto>(ct))!.Members.Select(m => m.UserId).Order());
        (await admin.DeleteAsync($"/api/v1/teams/{sales.Id}/members/{b}", ct)).EnsureSuccessStatusCode();

        var hours = await admin.PutAsJsonAsync($"/api/v1/teams/{sales.Id}/hours", new
        {
            timeZone = "Europe/Berlin",
            hours = new HoursDto { Weekly = [new OpeningSpan("monday", "09:00", "17:00")], Holidays = ["2026-12-25"] },
        }, ct);
        var withHours = (await hours.Content.ReadFromJsonAsync<TeamDto>(ct))!;
        Assert.Equal("Europe/Berlin", withHours.TimeZone);
        Assert.Equal(new OpeningSpan("monday", "09:00", "17:00"), Assert.Single(withHours.Hours.Weekly));
        Assert.Equal(["2026-12-25"], withHours.Hours.Holidays);

        var list = (await admin.GetFromJsonAsync<List<TeamDto>>("/api/v1/teams", ct))!;
        Assert.Equal(["Sales EU", "Support"], list.Select(t => t.Name));
        Assert.Equal(a, Assert.Single(list[0].Members).UserId);

        var agents = (await admin.GetFromJsonAsync<List<AgentRoutingDto>>("/api/v1/routing/agents", ct))!;
        Assert.Equal((5, "offline", 0), (agents.Single(x => x.Id == a).Capacity, agents.Single(x => x.Id == a).Status, agents.Single(x => x.Id == a).Load));
        Assert.Equal([sales.Id], agents.Single(x => x.Id == a).TeamIds);
        (await admin.PatchAsJsonAsync($"/api/v1/users/{a}", new { capacity = 7 }, ct)).EnsureSuccessStatusCode();
        Assert.Equal(7, (await admin.GetFromJsonAsync<List<AgentRoutingDto>>("/api/v1/routing/agents", ct))!.Single(x => x.Id == a).Capacity);

        Assert.Equal(HttpStatusCode.NoContent, (await admin.DeleteAsync($"/api/v1/teams/{support.Id}", ct)).StatusCode);
        Assert.Null((await admin.GetFromJsonAsync<TeamDto>($"/api/v1/teams/{sales.Id}", ct))!.OverflowTeamId);
        admin.Dispose();
    }

    [Theory]
    [InlineData("""{"name":""}""", "invalid_name")]
    [InlineData("""{"name":"X","strategy":"random"}""", "invalid_strategy")]
    [InlineData("""{"name":"X","overflowAfterMinutes":0}""", "invalid_overflow")]
    [InlineData("""{"name":"X","overflowTeamId":"6f1c1f5e-0000-0000-0000-000000000000"}""", "invalid_overflow")]
    [InlineData("""{"name":"X","offerTimeoutSeconds":-1}""", "invalid_offer_timeout")]
    [InlineData("""{"name":"X","timeZone":"Nowhere/Town"}""", "invalid_time_zone")]
    [InlineData("""{"name":"X","hours":{"weekly":[{"day":"monday","open":"25:00","close":"17:00"}]}}""", "invalid_hours")]
    public async Task CreateTeam_BadInput_IsRejectedWithACode(string json, string code)
    {
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage);
        var (admin, _) = await AgentClient.SignInAsync(server);
        var response = await admin.PostAsync("/api/v1/teams", new StringContent(json, System.Text.Encoding.UTF8, "application/json"), TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal(code, await ErrorCodeAsync(response));
        admin.Dispose();
    }

    [Fact]
    public async Task Agents_CanReadTeams_ButNotChangeThem()
    {
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage);
        await CreateAgentAsync(server, "plain@test.local");
        var (agent, _) = await AgentClient.SignInAsync(server, "plain@test.local", AgentPassword);
        Assert.Equal(HttpStatusCode.OK, (await agent.GetAsync("/api/v1/teams", TestContext.Current.CancellationToken)).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await PostAsync(agent, "/api/v1/teams", new { name = "Mine" })).StatusCode);
        agent.Dispose();
    }
}
