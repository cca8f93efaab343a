using System.Net.Http.Json;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Parley.Data;
using Parley.Server.Features.Access;
using Parley.Server.Features.Conversations;
using Parley.Server.Features.Supervision;
using Parley.Server.Messaging;
using Parley.Server.Realtime;
using Parley.Server.Realtime.Presence;
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

    /// <summary>
    /// The view is kept in memory from events (only the rows an event names are read back); after a random sequence
    /// of routing, assignment, transfer, close, reopen, first replies and visitor messages it shows exactly what a
    /// fresh read of the database shows, without having read everything again.
    /// </summary>
    [Theory]
    [BothStores]
    public async Task Memory_AfterARandomSequenceOfChanges_EqualsAFreshDatabaseRead(Store store)
    {
        await using var storage = await TestStorage.CreateAsync(store);
        var settings = FastRouting();
        settings["Parley:LiveView:MinIntervalMs"] = "100";
        settings["Parley:LiveView:ReloadSeconds"] = "3600";
        await using var server = await ParleyServer.StartAsync(storage, settings);
        var (admin, _) = await AgentClient.SignInAsync(server);
        var sales = await CreateTeamAsync(admin, "Sales", 3600);
        var support = await CreateTeamAsync(admin, "Support", 3600);
        var a1 = await CreateAgentAsync(server, "a1@test.local");
        var a2 = await CreateAgentAsync(server, "a2@test.local");
        (await admin.PutAsync($"/api/v1/teams/{sales}/members/{a1}", null, Ct)).EnsureSuccessStatusCode();
        (await admin.PutAsync($"/api/v1/teams/{support}/members/{a2}", null, Ct)).EnsureSuccessStatusCode();

        // Someone watches (memory is kept only then); away, so routing gives the admin nothing by itself.
        await using var adminHub = await AgentClient.ConnectAsync(server);
        await adminHub.Hub.InvokeAsync("SetStatus", "away", Ct);
        await adminHub.Hub.InvokeAsync<LiveViewDto>("SubscribeLive", Ct);
        var live = server.Services.GetRequiredService<LiveViewService>();
        var (reloads, reread) = live.Memory.Reads;

        var visitors = new List<(VisitorClient Client, Guid Conversation)>();
        for (var i = 0; i < 5; i++)
        {
            var v = await VisitorClient.ConnectAsync(server);
            var c = await v.StartConversationAsync();
            await v.SendAsync(c.Id, $"第{i}位访客：你好");
            visitors.Add((v, c.Id));
        }

        Guid adminId;
        await using (var scope = server.Services.CreateAsyncScope())
        {
            adminId = (await scope.ServiceProvider.GetRequiredService<ParleyDbContext>().Users.AsNoTracking().SingleAsync(u => u.Email == ParleyServer.AdminEmail, Ct)).Id;
        }

        var random = new Random(18);
        Guid?[] teams = [sales, support, null];
        Guid[] agents = [a1, a2, adminId];
        var steps = new List<string>();
        for (var step = 0; step < 60; step++)
        {
            var (visitor, id) = visitors[random.Next(visitors.Count)];
            var op = random.Next(7);
            HttpResponseMessage? response = op switch
            {
                0 => await admin.PutAsJsonAsync($"/api/v1/routing/conversations/{id}", new RouteRequest(teams[random.Next(teams.Length)], random.Next(2)), Ct),
                1 => await admin.PostAsJsonAsync($"/api/v1/conversations/{id}/assign", new AssignRequest(agents[random.Next(agents.Length)]), Ct), // assign or transfer
                2 => await PostAsync(admin, $"/api/v1/routing/conversations/{id}/unassign"),
                3 => await PostAsync(admin, $"/api/v1/conversations/{id}/close"),
                4 => await PostAsync(admin, $"/api/v1/conversations/{id}/reopen"),
                5 => await admin.PostAsJsonAsync($"/api/v1/conversations/{id}/messages", new SendRequest { ConversationId = id.ToString(), ClientId = Guid.NewGuid().ToString(), Body = "您好，我来帮您看看" }, Ct),
                _ => null,
            };
            if (response is null)
            {
                try
                {
                    await visitor.SendAsync(id, "还在吗？");
                }
                catch (HubException)
                {
                    // A closed conversation refuses the visitor; that is part of the sequence too.
                }
            }

            // Refusals (a closed conversation, a full agent) are legitimate steps; a server error is not.
            Assert.True(response is null || (int)response.StatusCode < 500, $"step {step} op {op}: {response?.StatusCode}");
            steps.Add($"{op}:{response?.StatusCode}");
        }

        var scopeOfAdmin = (await server.Services.GetRequiredService<AccessDirectory>().GetAsync(adminId, Ct))!;
        var deadline = DateTime.UtcNow + Wait;
        string memory, database;
        do
        {
            memory = LiveViewService.Fingerprint((await live.ComputeAsync(Ct)).For(scopeOfAdmin));
            database = LiveViewService.Fingerprint((await live.ComputeFromDatabaseAsync(Ct)).For(scopeOfAdmin));
            if (memory == database || DateTime.UtcNow > deadline)
            {
                break;
            }

            // The facts refresher writes a moment after a change: wait for the database to settle, not for memory.
            await Task.Delay(100, Ct);
        }
        while (true);

        Assert.Equal(database, memory);
        Assert.Equal(reloads, live.Memory.Reads.Reloads); // never read whole again
        Assert.True(live.Memory.Reads.RowsReread > reread, "rows were read back one by one");
        TestContext.Current.TestOutputHelper?.WriteLine($"{string.Join(' ', steps)}; rows read back {live.Memory.Reads.RowsReread - reread}");
        foreach (var (v, _) in visitors)
        {
            await v.DisposeAsync();
        }
    }

    /// <summary>A breach appears exactly when the department's target passes, the service wakes for it, and a reply ends it.</summary>
    [Fact]
    public void Breach_AppearsAtTheConfiguredTarget_AndTheFirstReplyEndsIt()
    {
        var team = new LiveViewService.TeamRow(Guid.NewGuid(), "Sales", 60);
        var since = new DateTime(2026, 12, 5, 12, 0, 0, DateTimeKind.Utc);
        var queued = new LiveViewService.OpenRow(Guid.NewGuid(), team.Id, null, null, since, 0, false, true, since.AddSeconds(-5), null, since, null);
        var general = new LiveViewService.OpenRow(Guid.NewGuid(), null, null, null, since, 0, false, true, since, null, null, null);
        var admin = new AccessScope(Guid.NewGuid(), UserRole.Admin, true, new HashSet<Guid>(), true);
        LiveViewDto At(DateTime now, out DateTime? next, params LiveViewService.OpenRow[] rows)
        {
            var snapshot = LiveViewService.Snapshot.Build(now, [team], [], Array.Empty<Guid>().ToLookup(x => x), rows, new Dictionary<Guid, AgentStatus>(), 120, 1);
            next = snapshot.NextBreach;
            return snapshot.For(admin);
        }

        var before = At(since.AddSeconds(60).AddTicks(-1), out var next, queued, general);
        Assert.Empty(before.Breaches);
        Assert.Equal(since.AddSeconds(60), next); // the loop wakes exactly then

        var at = At(since.AddSeconds(60), out next, queued, general);
        Assert.Equal(queued.Id, Assert.Single(at.Breaches).ConversationId);
        Assert.Equal(60, at.Breaches[0].TargetSeconds);
        Assert.Equal(since.AddSeconds(120), next); // the general queue's default target comes next

        var both = At(since.AddSeconds(120), out _, queued, general);
        Assert.Equal(2, both.Breaches.Count);
        Assert.Equal(1, both.Departments.Single(d => d.TeamId is null).SlaBreaches);

        var answered = At(since.AddSeconds(120), out _, queued with { FirstResponseAt = since.AddSeconds(61) }, general);
        Assert.Equal(general.Id, Assert.Single(answered.Breaches).ConversationId);
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

        // One conversation already answered: an agent's message in it is the common case the event path sees.
        await using (var scope = server.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<ParleyDbContext>();
            await db.ConversationFacts.Where(f => f.ConversationId == seed.Id).ExecuteUpdateAsync(s => s.SetProperty(f => f.FirstResponseAt, DateTime.UtcNow), ct);
        }

        // A supervisor watches (memory is kept only while someone on the node does).
        await using var watcher = await AgentClient.ConnectAsync(server);
        await watcher.Hub.InvokeAsync("SetStatus", "away", ct);
        await watcher.Hub.InvokeAsync<LiveViewDto>("SubscribeLive", ct);
        var live = server.Services.GetRequiredService<LiveViewService>();
        await live.ComputeAsync(ct); // warm up (query plans, JIT)

        // Each run is timed alone: the mean is what this (shared) machine gave, the best run what an idle core gives.
        // The whole read: when a supervisor starts watching on this node and every ReloadSeconds (safety net).
        var perReload = await TimeAsync(5, () =>
        {
            live.Memory.ReloadAll();
            return live.ComputeAsync(ct);
        });

        // A snapshot with nothing to read back: one pass over memory.
        var (reloads, reread) = live.Memory.Reads;
        var perQuiet = await TimeAsync(200, () => live.ComputeAsync(ct));
        Assert.Equal((reloads, reread), live.Memory.Reads); // no database read at all

        // A busy second at 1,000 msgs/s (10 messages a conversation: ~100 conversations start and ~100 end each
        // second, each changing a few times): 200 conversations named by events, read back in one query, then the pass.
        var open = live.Memory.Open.Select(r => r.Id).Take(200).ToList();
        var changes = open.ConvertAll(id => new ConversationChanged(ConversationState.From(new Conversation { Id = id }, null, null)));
        const int Busy = 20;
        var perBusy = await TimeAsync(Busy, () =>
        {
            foreach (var change in changes)
            {
                live.Handle(change);
            }

            return live.ComputeAsync(ct);
        });
        Assert.Equal(reloads, live.Memory.Reads.Reloads);
        Assert.Equal(reread + (Busy * open.Count), live.Memory.Reads.RowsReread);

        // The event path a message takes: a look-up in memory (the conversation was answered before).
        var message = new MessageCommitted(
            new Message { Id = 1, ConversationId = seed.Id, SenderKind = SenderKind.Agent, Body = "hi", ClientId = Guid.NewGuid() },
            ConversationState.From(new Conversation { Id = seed.Id }, null, null));
        var clock = System.Diagnostics.Stopwatch.StartNew();
        const int Events = 1_000_000;
        for (var i = 0; i < Events; i++)
        {
            live.Handle(message);
        }

        var perEvent = clock.Elapsed / Events;
        var afterBusy = live.Memory.Reads;
        await live.ComputeAsync(ct);
        Assert.Equal(afterBusy, live.Memory.Reads); // answered before: nothing to read back

        // At 1,000 messages a second: 1,000 events, one busy snapshot a second, a whole read every ReloadSeconds (60).
        var reloadSeconds = new LiveViewOptions().ReloadSeconds;
        double Share(TimeSpan busy, TimeSpan reload) => ((perEvent * 1000) + busy + (reload / reloadSeconds)) / TimeSpan.FromSeconds(1);
        TestContext.Current.TestOutputHelper?.WriteLine(
            $"{store}: 2,001 open conversations (mean / best run, ms): whole read {perReload.Mean.TotalMilliseconds:F1} / {perReload.Best.TotalMilliseconds:F1}; "
            + $"snapshot from memory {perQuiet.Mean.TotalMilliseconds:F2} / {perQuiet.Best.TotalMilliseconds:F2}; "
            + $"with 200 rows read back {perBusy.Mean.TotalMilliseconds:F2} / {perBusy.Best.TotalMilliseconds:F2}; event {perEvent.TotalNanoseconds:F0} ns; "
            + $"at 1,000 msgs/s ≈ {Share(perBusy.Mean, perReload.Mean):P2} (mean) / {Share(perBusy.Best, perReload.Best):P2} (best) of one core; "
            + $"load average {File.ReadAllText("/proc/loadavg").Trim()}");
        Assert.True(perEvent < TimeSpan.FromMicroseconds(5), $"event path {perEvent.TotalNanoseconds:F0} ns");
        Assert.True(perQuiet.Mean < TimeSpan.FromMilliseconds(50), $"snapshot from memory {perQuiet.Mean.TotalMilliseconds:F1} ms");
        Assert.True(perReload.Mean < TimeSpan.FromMilliseconds(1000), $"whole read {perReload.Mean.TotalMilliseconds:F1} ms");
    }

    private static async Task<(TimeSpan Mean, TimeSpan Best)> TimeAsync(int runs, Func<Task> run)
    {
        var total = TimeSpan.Zero;
        var best = TimeSpan.MaxValue;
        for (var i = 0; i < runs; i++)
        {
            var started = System.Diagnostics.Stopwatch.GetTimestamp();
            await run();
            var elapsed = System.Diagnostics.Stopwatch.GetElapsedTime(started);
            total += elapsed;
            best = elapsed < best ? elapsed : best;
        }

        return (total / runs, best);
    }
}
