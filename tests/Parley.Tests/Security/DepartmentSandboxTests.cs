using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Parley.Server.Features.Conversations;
using Parley.Server.Features.Metrics;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Security;

/// <summary>
/// The department sandbox (FreeScout CVE-2026-41192/40570 class): an agent never reads, joins, writes or hears
/// about another department's conversation, through any transport.
/// </summary>
public sealed class DepartmentSandboxTests
{
    [Theory]
    [BothStores]
    public async Task Agent_CannotReachAnotherDepartmentsConversation_ThroughRestOrHub(Store store)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var storage = await TestStorage.CreateAsync(store);
        await using var server = await ParleyServer.StartAsync(storage);
        var sales = await server.CreateTeamAsync("Sales");
        var billing = await server.CreateTeamAsync("Billing");
        await server.CreateUserAsync("sam@test.local", "agent", sales);
        var (billingVisitor, billingChat) = await server.VisitorInTeamAsync(billing, "my card number is ...");
        var (salesVisitor, salesChat) = await server.VisitorInTeamAsync(sales);
        await using var _ = billingVisitor;
        await using var __ = salesVisitor;
        await using var sam = await AgentClient.ConnectAsAsync(server, "sam@test.local", SecurityFixtures.Password);

        // REST: the other department's conversation is indistinguishable from an unknown id.
        foreach (var path in new[] { $"/api/v1/conversations/{billingChat}", $"/api/v1/conversations/{billingChat}/messages" })
        {
            var response = await sam.Http.GetAsync(path, ct);
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
            Assert.Equal("conversation_not_found", (await response.Content.ReadFromJsonAsync<JsonElement>(ct)).GetProperty("code").GetString());
        }

        foreach (var action in new[] { "close", "reopen", "assign" })
        {
            var response = await sam.Http.PostAsJsonAsync($"/api/v1/conversations/{billingChat}/{action}", new { }, ct);
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        }

        var send = await sam.Http.PostAsJsonAsync($"/api/v1/conversations/{billingChat}/messages", new { clientId = Guid.NewGuid(), body = "hi" }, ct);
        Assert.Equal(HttpStatusCode.NotFound, send.StatusCode);

        var list = await sam.Http.GetFromJsonAsync<ConversationPage>("/api/v1/conversations?status=all", ct);
        Assert.Contains(list!.Items, c => c.Id == salesChat);
        Assert.DoesNotContain(list.Items, c => c.Id == billingChat);

        // Hub: joining (which would replay history) and sending are refused the same way.
        var join = await Assert.ThrowsAsync<HubException>(() => sam.JoinAsync(billingChat));
        Assert.Contains("conversation_not_found:", join.Message, StringComparison.Ordinal);
        var note = await Assert.ThrowsAsync<HubException>(() => sam.SendAsync(billingChat, "whisper", note: true));
        Assert.Contains("conversation_not_found:", note.Message, StringComparison.Ordinal);
        Assert.Equal(["my card number is ..."], (await server.MessagesAsync(billingChat)).Select(m => m.Body));

        // Own department works on both transports.
        Assert.Single((await sam.JoinAsync(salesChat)).Messages);
        await sam.SendAsync(salesChat, "Hi from sales");
        Assert.Equal(HttpStatusCode.OK, (await sam.Http.GetAsync($"/api/v1/conversations/{salesChat}/messages", ct)).StatusCode);
    }

    /// <summary>
    /// A console user's send is checked against the conversation row its own commit locks (not a read before it): once
    /// the conversation has moved to a department the agent is not in (a transfer committed by another node, or just
    /// before, and handed to an agent of that department), the agent's next send is refused like an unknown id and
    /// nothing is stored.
    /// </summary>
    [Theory]
    [BothStores]
    public async Task AgentsSend_IsRefused_OnceTheConversationMovedToAnotherDepartment(Store store)
    {
        await using var storage = await TestStorage.CreateAsync(store);
        await using var server = await ParleyServer.StartAsync(storage);
        var sales = await server.CreateTeamAsync("Sales");
        var billing = await server.CreateTeamAsync("Billing");
        await server.CreateUserAsync("sam@test.local", "agent", sales);
        var bea = await server.CreateUserAsync("bea@test.local", "agent", billing);
        var (visitor, chat) = await server.VisitorInTeamAsync(sales, "where is my parcel?");
        await using var _ = visitor;
        await using var sam = await AgentClient.ConnectAsAsync(server, "sam@test.local", SecurityFixtures.Password);
        await sam.SendAsync(chat, "Let me check");

        await using (var scope = server.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<Parley.Data.ParleyDbContext>();
            Assert.Equal(1, await db.Conversations.Where(c => c.Id == chat)
                .ExecuteUpdateAsync(s => s.SetProperty(c => c.TeamId, billing).SetProperty(c => c.AssigneeId, bea.Id), TestContext.Current.CancellationToken));
        }

        var reply = await Assert.ThrowsAsync<HubException>(() => sam.SendAsync(chat, "Found it"));
        Assert.Contains("conversation_not_found:", reply.Message, StringComparison.Ordinal);
        var note = await Assert.ThrowsAsync<HubException>(() => sam.SendAsync(chat, "note to self", note: true));
        Assert.Contains("conversation_not_found:", note.Message, StringComparison.Ordinal);
        Assert.Equal(["where is my parcel?", "Let me check"], (await server.MessagesAsync(chat)).Select(m => m.Body));
    }

    /// <param name="underPressure">
    /// Under Pressure the summaries are held and go out per tick, several in one <c>conversationsUpdated</c> event,
    /// each agent's cut to what he may see (docs/operations.md, shedding step 3).
    /// </param>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task InboxUpdates_ReachOnlyAgentsWhoMaySeeTheConversation(bool underPressure)
    {
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        Dictionary<string, string?>? settings = null;
        if (underPressure)
        {
            settings = Api.MetricsTests.GovernedByCommits(overload: false, calmSeconds: 3600); // every commit: Pressure
            settings["Parley:Governor:InboxSummaryMilliseconds"] = "60000"; // no tick within the test: flushed below
        }

        await using var server = await ParleyServer.StartAsync(storage, settings);
        var sales = await server.CreateTeamAsync("Sales");
        var billing = await server.CreateTeamAsync("Billing");
        await server.CreateUserAsync("sam@test.local", "agent", sales);
        await server.CreateUserAsync("bea@test.local", "agent", billing);
        await using var sam = await AgentClient.ConnectAsAsync(server, "sam@test.local", SecurityFixtures.Password);
        await using var bea = await AgentClient.ConnectAsAsync(server, "bea@test.local", SecurityFixtures.Password);
        await using var admin = await AgentClient.ConnectAsync(server);
        if (underPressure)
        {
            var states = new Inbox<LoadStateEvent>();
            admin.Hub.On<LoadStateEvent>("loadState", states.Add);
            var (warmUp, _) = await server.VisitorInTeamAsync(billing, "a first commit");
            await using var ___ = warmUp;
            await states.WaitUntilAsync(e => e.Any(x => x.Shedding.Contains("inbox_summaries")), TimeSpan.FromSeconds(30));
        }

        var coalescer = server.Services.GetRequiredService<InboxSummaryCoalescer>();

        var (salesVisitor, salesChat) = await server.VisitorInTeamAsync(sales, "sales question");
        await using var _ = salesVisitor;
        var (billingVisitor, billingChat) = await server.VisitorInTeamAsync(billing, "billing question");
        await using var __ = billingVisitor;
        if (underPressure)
        {
            // Both held, with their first message, for the same tick, which comes now.
            await Eventually.ValueAsync(
                () => Task.FromResult((coalescer.HeldSummary(salesChat)?.LastMessagePreview, coalescer.HeldSummary(billingChat)?.LastMessagePreview)),
                held => held == ("sales question", "billing question"));
            coalescer.Flush();
        }

        await sam.Conversations.WaitUntilAsync(items => items.Any(c => c.Id == salesChat && c.TeamId == sales));
        await admin.Conversations.WaitUntilAsync(items => items.Any(c => c.Id == salesChat && c.TeamId == sales));

        // Barrier: a later (or the same) update Bea may see. Each connection's queue is ordered, so once it arrived,
        // an update about the sales conversation would have arrived before it.
        await bea.Conversations.WaitUntilAsync(items => items.Any(c => c.Id == billingChat && c.TeamId == billing));

        Assert.DoesNotContain(bea.Conversations.Snapshot(), c => c.TeamId == sales);
        Assert.DoesNotContain(bea.Conversations.Snapshot(), c => c.LastMessagePreview == "sales question");
        if (underPressure)
        {
            // The admin sees both departments: the two new conversations reached him in one event.
            await admin.SummaryBatches.WaitUntilAsync(b => b.Any(x => x.Any(c => c.Id == salesChat) && x.Any(c => c.Id == billingChat)));
        }
    }

    [Fact]
    public async Task RemovedFromDepartment_LosesAccessAtOnce_AndAllDepartmentsGrantWidensIt()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage);
        var sales = await server.CreateTeamAsync("Sales");
        var billing = await server.CreateTeamAsync("Billing");
        var sam = await server.CreateUserAsync("sam@test.local", "agent", sales);
        var (visitor, salesChat) = await server.VisitorInTeamAsync(sales);
        await using var _ = visitor;
        using var samHttp = await server.SignInAsync("sam@test.local");
        Assert.Equal(HttpStatusCode.OK, (await samHttp.GetAsync($"/api/v1/conversations/{salesChat}", ct)).StatusCode);

        var (adminHttp, _) = await AgentClient.SignInAsync(server);
        using (adminHttp)
        {
            (await adminHttp.PutAsJsonAsync($"/api/v1/users/{sam.Id}/teams", new { teamIds = new[] { billing } }, ct)).EnsureSuccessStatusCode();
            Assert.Equal(HttpStatusCode.NotFound, (await samHttp.GetAsync($"/api/v1/conversations/{salesChat}", ct)).StatusCode);

            (await adminHttp.PatchAsJsonAsync($"/api/v1/users/{sam.Id}", new { allDepartments = true }, ct)).EnsureSuccessStatusCode();
            Assert.Equal(HttpStatusCode.OK, (await samHttp.GetAsync($"/api/v1/conversations/{salesChat}", ct)).StatusCode);
        }
    }

    [Fact]
    public async Task UnteamedConversations_AreTheSharedQueue_UnlessTheSandboxIsStrict()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage, new Dictionary<string, string?> { ["Parley:Access:UnteamedVisibleToAll"] = "false" });
        var sales = await server.CreateTeamAsync("Sales");
        await server.CreateUserAsync("sam@test.local", "agent", sales);
        var (visitor, unrouted) = await server.VisitorInTeamAsync(null);
        await using var _ = visitor;
        using var samHttp = await server.SignInAsync("sam@test.local");
        Assert.Equal(HttpStatusCode.NotFound, (await samHttp.GetAsync($"/api/v1/conversations/{unrouted}", ct)).StatusCode);

        // Assigned to Sam: the assignee always sees it.
        var (adminHttp, _) = await AgentClient.SignInAsync(server);
        using (adminHttp)
        {
            var me = await samHttp.GetFromJsonAsync<JsonElement>("/api/v1/auth/me", ct);
            (await adminHttp.PostAsJsonAsync($"/api/v1/conversations/{unrouted}/assign", new { userId = me.GetProperty("id").GetGuid() }, ct)).EnsureSuccessStatusCode();
        }

        Assert.Equal(HttpStatusCode.OK, (await samHttp.GetAsync($"/api/v1/conversations/{unrouted}", ct)).StatusCode);
    }

    [Fact]
    public async Task Agents_ClaimButDoNotReassign_SupervisorsTakeOverWithinTheirDepartment()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage);
        var sales = await server.CreateTeamAsync("Sales");
        var billing = await server.CreateTeamAsync("Billing");
        var sam = await server.CreateUserAsync("sam@test.local", "agent", sales);
        var ann = await server.CreateUserAsync("ann@test.local", "agent", sales);
        var bea = await server.CreateUserAsync("bea@test.local", "agent", billing);
        await server.CreateUserAsync("sue@test.local", "supervisor", sales);
        var (visitor, chat) = await server.VisitorInTeamAsync(sales);
        await using var _ = visitor;
        using var samHttp = await server.SignInAsync("sam@test.local");
        using var annHttp = await server.SignInAsync("ann@test.local");
        using var sueHttp = await server.SignInAsync("sue@test.local");

        Assert.Equal(HttpStatusCode.OK, (await samHttp.PostAsJsonAsync($"/api/v1/conversations/{chat}/assign", new { }, ct)).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await samHttp.PostAsJsonAsync($"/api/v1/conversations/{chat}/assign", new { userId = ann.Id }, ct)).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await annHttp.PostAsJsonAsync($"/api/v1/conversations/{chat}/assign", new { }, ct)).StatusCode);

        // The supervisor watches it live, whispers (an internal note) and takes over.
        await using var sue = await AgentClient.ConnectAsAsync(server, "sue@test.local", SecurityFixtures.Password);
        Assert.NotEmpty((await sue.JoinAsync(chat)).Messages);
        await sue.SendAsync(chat, "Offer the 10% discount", note: true);
        Assert.Equal(HttpStatusCode.OK, (await sueHttp.PostAsJsonAsync($"/api/v1/conversations/{chat}/assign", new { }, ct)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await sueHttp.PostAsJsonAsync($"/api/v1/conversations/{chat}/assign", new { userId = ann.Id }, ct)).StatusCode);
        var outside = await sueHttp.PostAsJsonAsync($"/api/v1/conversations/{chat}/assign", new { userId = bea.Id }, ct);
        Assert.Equal(HttpStatusCode.Forbidden, outside.StatusCode);
        Assert.Equal("assignee_out_of_department", (await outside.Content.ReadFromJsonAsync<JsonElement>(ct)).GetProperty("code").GetString());
        Assert.NotEqual(sam.Id, bea.Id);
    }

    [Fact]
    public async Task AdminEndpoints_RefuseAgentsAndSupervisors_AndARoleChangeEndsOldSessions()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage);
        var sam = await server.CreateUserAsync("sam@test.local", "agent");
        await server.CreateUserAsync("sue@test.local", "supervisor");
        using var samHttp = await server.SignInAsync("sam@test.local");
        using var sueHttp = await server.SignInAsync("sue@test.local");

        foreach (var http in new[] { samHttp, sueHttp })
        {
            Assert.Equal(HttpStatusCode.Forbidden, (await http.PostAsJsonAsync("/api/v1/users", new { email = "x@test.local", role = "admin", password = "Whatever-123" }, ct)).StatusCode);
            Assert.Equal(HttpStatusCode.Forbidden, (await http.PatchAsJsonAsync($"/api/v1/users/{sam.Id}", new { role = "admin" }, ct)).StatusCode);
        }

        var (adminHttp, _) = await AgentClient.SignInAsync(server);
        using (adminHttp)
        {
            (await adminHttp.PatchAsJsonAsync($"/api/v1/users/{sam.Id}", new { role = "supervisor" }, ct)).EnsureSuccessStatusCode();
        }

        Assert.Equal(HttpStatusCode.Unauthorized, (await samHttp.GetAsync("/api/v1/auth/me", ct)).StatusCode);
    }
}
