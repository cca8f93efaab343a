using System.Net.Http.Json;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Parley.Data;
using Parley.Server.Features.Supervision;
using Parley.Server.Messaging;
using Parley.Server.Routing;
using Parley.Tests.Infrastructure;
using static Parley.Tests.Routing.RoutingHarness;

namespace Parley.Tests.Reports;

/// <summary>
/// The supervisors' live view over the agent hub: a snapshot on SubscribeLive, then pushed snapshots when something
/// changes (no polling); only the supervisor's departments; first-response SLA breaches appear when the target passes
/// (no event needed) and end with the first agent reply. Real hub connections, both stores.
/// </summary>
public sealed class LiveViewTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [BothStores]
    public async Task Supervisor_SeesHisDepartmentsQueue_ABreach_AndItsEnd_Live(Store store)
    {
        await using var storage = await TestStorage.CreateAsync(store);
        var settings = FastRouting();
        settings["Parley:LiveView:MinIntervalMs"] = "200";
        await using var server = await ParleyServer.StartAsync(storage, settings);
        var (admin, _) = await AgentClient.SignInAsync(server);

        // Sales answers within 1 s (so the breach comes quickly); Support has an hour.
        var sales = await CreateTeamAsync(admin, "Sales", 1);
        var support = await CreateTeamAsync(admin, "Support", 3600);
        var supervisorId = await CreateAgentAsync(server, "lead@test.local", role: UserRole.Supervisor);
        var agentId = await CreateAgentAsync(server, "member@test.local");
        (await admin.PutAsync($"/api/v1/teams/{sales}/members/{supervisorId}", null, Ct)).EnsureSuccessStatusCode();
        (await admin.PutAsync($"/api/v1/teams/{sales}/members/{agentId}", null, Ct)).EnsureSuccessStatusCode();

        // An agent is refused.
        await using var agent = await ConnectAgentAsync(server, "member@test.local", agentId);
        await agent.Hub.InvokeAsync("SetStatus", "away", Ct);
        var refused = await Assert.ThrowsAsync<HubException>(() => agent.Hub.InvokeAsync<LiveViewDto>("SubscribeLive", Ct));
        Assert.Contains("forbidden", refused.Message, StringComparison.Ordinal);

        // The supervisor (away, so routing gives him nothing) subscribes: Sales and the general queue, not Support.
        await using var lead = await ConnectAgentAsync(server, "lead@test.local", supervisorId);
        await lead.Hub.InvokeAsync("SetStatus", "away", Ct);
        var pushes = new Inbox<LiveViewDto>();
        lead.Hub.On<LiveViewDto>(LiveViewService.LiveEvent, pushes.Add);
        var first = await lead.Hub.InvokeAsync<LiveViewDto>("SubscribeLive", Ct);
        Assert.Equal([null, sales], first.Departments.Select(d => d.TeamId));
        Assert.Equal(1, first.Departments.Single(d => d.TeamId == sales).FirstResponseTargetSeconds);
        Assert.Contains(first.Agents, a => a.Id == agentId && a.Status == "away");
        Assert.Empty(first.Queue);

        // Two visitors arrive; one is moved to Sales, the other to Support.
        await using var v1 = await VisitorClient.ConnectAsync(server);
        var c1 = await v1.StartConversationAsync();
        await v1.SendAsync(c1.Id, "你好，我想买一台笔记本电脑");
        await using var v2 = await VisitorClient.ConnectAsync(server);
        var c2 = await v2.StartConversationAsync();
        await v2.SendAsync(c2.Id, "My order never arrived");
        (await admin.PutAsJsonAsync($"/api/v1/routing/conversations/{c1.Id}", new RouteRequest(sales, null), Ct)).EnsureSuccessStatusCode();
        (await admin.PutAsJsonAsync($"/api/v1/routing/conversations/{c2.Id}", new RouteRequest(support, null), Ct)).EnsureSuccessStatusCode();

        // Pushed, not polled: Sales has one waiting visitor, and a second later (no event in between) a breach.
        // (Until it is moved, the second visitor waits in the general queue, which the supervisor sees.)
        var waiting = await pushes.WaitUntilAsync(p => p.Count > 0 && Dept(p[^1], sales).Waiting == 1 && p[^1].Queue.All(q => q.ConversationId != c2.Id), Wait);
        Assert.Equal(c1.Id, Assert.Single(waiting[^1].Queue).ConversationId);
        var breached = await pushes.WaitUntilAsync(p => p.Count > 0 && p[^1].Breaches.Any(b => b.ConversationId == c1.Id), Wait);
        var view = breached[^1];
        Assert.Equal(1, Dept(view, sales).SlaBreaches);
        Assert.NotNull(Dept(view, sales).OldestQueuedAt);
        Assert.DoesNotContain(pushes.Snapshot(), p => p.Departments.Any(d => d.TeamId == support) || p.Queue.Any(q => q.TeamId == support) || p.Breaches.Any(b => b.TeamId == support));
        Assert.True(pushes.Snapshot().Zip(pushes.Snapshot().Skip(1)).All(p => p.First.Version < p.Second.Version), "versions grow");

        // An admin sees every department, Support's visitor included (not breaching: an hour's target).
        await using var adminHub = await AgentClient.ConnectAsync(server);
        await adminHub.Hub.InvokeAsync("SetStatus", "away", Ct);
        var all = await adminHub.Hub.InvokeAsync<LiveViewDto>("SubscribeLive", Ct);
        Assert.Equal(3, all.Departments.Count);
        Assert.Contains(all.Queue, q => q.ConversationId == c2.Id);
        Assert.DoesNotContain(all.Breaches, b => b.ConversationId == c2.Id);

        // The supervisor picks it: in progress, still breaching until the first reply, which ends the breach.
        (await PostAsync(lead.Http, $"/api/v1/routing/conversations/{c1.Id}/pick")).EnsureSuccessStatusCode();
        await pushes.WaitUntilAsync(p => p.Count > 0 && Dept(p[^1], sales) is { Waiting: 0, InProgress: 1, SlaBreaches: 1 }, Wait);
        await lead.Hub.InvokeAsync<SendAck>("Send", new SendRequest { ConversationId = c1.Id.ToString(), ClientId = Guid.NewGuid().ToString(), Body = "您好，请问预算多少？" }, Ct);
        var answered = await pushes.WaitUntilAsync(p => p.Count > 0 && Dept(p[^1], sales).SlaBreaches == 0, Wait);
        Assert.Empty(answered[^1].Breaches);
        Assert.Contains(answered[^1].Agents, a => a.Id == supervisorId && a.Load == 1);

        // Unsubscribed: nothing more arrives for what changes next.
        await lead.Hub.InvokeAsync("UnsubscribeLive", Ct);
        var count = pushes.Snapshot().Count;
        (await PostAsync(admin, $"/api/v1/conversations/{c1.Id}/close")).EnsureSuccessStatusCode();
        var adminPushes = new Inbox<LiveViewDto>();
        adminHub.Hub.On<LiveViewDto>(LiveViewService.LiveEvent, adminPushes.Add);
        await adminPushes.WaitUntilAsync(p => p.Count > 0 && Dept(p[^1], sales).InProgress == 0, Wait); // the admin still hears it
        Assert.Equal(count, pushes.Snapshot().Count);
        admin.Dispose();
    }

    private static LiveDepartmentDto Dept(LiveViewDto view, Guid teamId) => view.Departments.Single(d => d.TeamId == teamId);

    private static async Task<Guid> CreateTeamAsync(HttpClient admin, string name, int targetSeconds)
    {
        var response = await admin.PostAsJsonAsync("/api/v1/teams", new TeamRequest { Name = name, FirstResponseTargetSeconds = targetSeconds }, Ct);
        response.EnsureSuccessStatusCode();
        var team = (await response.Content.ReadFromJsonAsync<TeamDto>(Ct))!;
        Assert.Equal(targetSeconds, team.FirstResponseTargetSeconds);
        return team.Id;
    }
}

/// <summary>
/// What the live view costs (docs/benchmarks.md, "Live view"): the per-event work (a flag) and one snapshot over
/// many open conversations, which the service computes at most once per interval however many messages arrive.
/// </summary>
public sealed class LiveViewCostTests
{
    [Theory]
    [BothStores]
    public async Task OneSnapshot_Over2000OpenConversations_AndTheEventPath_AreCheap(Store store)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var storage = await TestStorage.CreateAsync(store);
        await using var server = await ParleyServer.StartAsync(storage);
        await using var visitor = await VisitorClient.ConnectAsync(server);
        var seed = await visitor.StartConversationAsync();
        await visitor.SendAsync(seed.Id, "hello");

        // 2,000 open conversations: half waiting in the queue, half held by the admin, none answered yet.
        await using (var scope = server.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<ParleyDbContext>();
            var template = await db.Conversations.AsNoTracking().SingleAsync(c => c.Id == seed.Id, ct);
            var adminId = (await db.Users.AsNoTracking().FirstAsync(ct)).Id;
            var now = DateTime.UtcNow;
            for (var i = 0; i < 2000; i++)
            {
                var id = Guid.CreateVersion7();
                var contact = new Contact { Id = Guid.CreateVersion7(), SiteId = template.SiteId, CreatedAt = now, LastSeenAt = now };
                db.Contacts.Add(contact); // one open conversation per contact
                db.Conversations.Add(new Conversation
                {
                    Id = id,
                    SiteId = template.SiteId,
                    ContactId = contact.Id,
                    Status = ConversationStatus.Open,
                    CreatedAt = now.AddSeconds(-i),
                    UpdatedAt = now,
                    QueuedAt = i % 2 == 0 ? now.AddSeconds(-i) : null,
                    AssigneeId = i % 2 == 0 ? null : adminId,
                    AssignedAt = i % 2 == 0 ? null : now,
                });
                db.ConversationFacts.Add(new ConversationFacts { ConversationId = id, SiteId = template.SiteId, CreatedAt = now.AddSeconds(-i), FirstQueuedAt = now.AddSeconds(-i), UpdatedAt = now });
            }

            await db.SaveChangesAsync(ct);
        }

        var live = server.Services.GetRequiredService<LiveViewService>();
        await live.ComputeAsync(ct); // warm up (query plans, JIT)
        var clock = System.Diagnostics.Stopwatch.StartNew();
        const int Snapshots = 10;
        for (var i = 0; i < Snapshots; i++)
        {
            var snapshot = await live.ComputeAsync(ct);
            Assert.NotNull(snapshot);
        }

        var perSnapshot = clock.Elapsed / Snapshots;

        // The event path a message takes: one flag, whatever the rate.
        var message = new MessageCommitted(
            new Message { Id = 1, ConversationId = seed.Id, SenderKind = SenderKind.Agent, Body = "hi", ClientId = Guid.NewGuid() },
            ConversationState.From(new Conversation { Id = seed.Id }, null, null));
        clock.Restart();
        const int Events = 1_000_000;
        for (var i = 0; i < Events; i++)
        {
            live.Handle(message);
        }

        var perEvent = clock.Elapsed / Events;

        // At 1,000 messages a second: 1,000 events plus at most one snapshot per second.
        var share = ((perEvent * 1000) + perSnapshot) / TimeSpan.FromSeconds(1);
        TestContext.Current.TestOutputHelper?.WriteLine(
            $"{store}: snapshot over 2,001 open conversations {perSnapshot.TotalMilliseconds:F1} ms; event {perEvent.TotalNanoseconds:F0} ns; at 1,000 msgs/s ≈ {share:P2} of one core");
        Assert.True(perEvent < TimeSpan.FromMicroseconds(5), $"event path {perEvent.TotalNanoseconds:F0} ns");
        Assert.True(perSnapshot < TimeSpan.FromMilliseconds(500), $"snapshot {perSnapshot.TotalMilliseconds:F1} ms");
    }
}
