using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Parley.Data;
using Parley.Server.Features.Csat;
using Parley.Server.Features.Reports;
using Parley.Tests.Infrastructure;
using Parley.Tests.Security;
using Parley.Tests.Widget;

namespace Parley.Tests.Reports;

/// <summary>
/// Report math against a fixture whose answers were computed by hand (docs/reports.md defines each metric), on both
/// stores: whole-day totals in UTC and Asia/Shanghai (a conversation on each side of the local midnight),
/// business-hours-only clipping, the sandbox, bad input and the CSV export. Plus the facts following a real
/// conversation through the message path, routing, close and rating.
/// </summary>
public sealed class ReportTests
{
    private static readonly DateTime Day = new(2026, 3, 2, 0, 0, 0, DateTimeKind.Utc); // a Monday

    [Theory]
    [BothStores]
    public async Task Summary_MatchesHandComputedFixture_InUtc_Shanghai_AndBusinessHours(Store store)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var storage = await TestStorage.CreateAsync(store);
        await using var server = await ParleyServer.StartAsync(storage);
        var world = await SeedAsync(server);
        var (admin, _) = await AgentClient.SignInAsync(server);
        using var _admin = admin;

        var utc = (await admin.GetFromJsonAsync<ReportSummaryDto>("/api/v1/reports/summary?from=2026-03-02&to=2026-03-02&tz=UTC", ct))!.Metrics;
        Assert.Equal((6, 5, 1, 1, 11, 5), (utc.Created, utc.Closed, utc.Missed, utc.Abandoned, utc.MessagesIn, utc.MessagesOut));
        Assert.Equal(new DurationStats(4, 120, 1200, 390), utc.FirstResponse);
        Assert.Equal(new DurationStats(4, 60, 300, 112.5), utc.QueueWait);
        Assert.Equal(new DurationStats(5, 1200, 1800, 1140), utc.Resolution);
        Assert.Equal(new DurationStats(3, 1500, 1740, 1420), utc.HandleTime);
        Assert.Equal((3, 4.0, 0.6), (utc.Csat.Responses, utc.Csat.Average, utc.Csat.ResponseRate));
        Assert.Equal([0, 0, 1, 1, 1], utc.Csat.Distribution);
        Assert.Equal((2, 1, 1, 0.5, 0.5), (utc.BotConversations, utc.HandedOff, utc.BotResolved, utc.HandOffRate, utc.BotResolvedRate));

        // Shanghai's 2 March ends at 16:00 UTC: C4 (17:00 UTC) is already 3 March there.
        var shanghai = (await admin.GetFromJsonAsync<ReportSummaryDto>("/api/v1/reports/summary?from=2026-03-02&to=2026-03-02&tz=Asia/Shanghai", ct))!.Metrics;
        Assert.Equal((5, 5), (shanghai.Created, shanghai.Closed));
        var days = (await admin.GetFromJsonAsync<TimeSeriesDto>("/api/v1/reports/timeseries?from=2026-03-02&to=2026-03-03&tz=Asia/Shanghai", ct))!;
        Assert.Equal(["2026-03-02", "2026-03-03"], days.Points.Select(p => p.Start));
        Assert.Equal([5, 1], days.Points.Select(p => p.Metrics.Created));
        var utcDays = (await admin.GetFromJsonAsync<TimeSeriesDto>("/api/v1/reports/timeseries?from=2026-03-02&to=2026-03-03&tz=UTC", ct))!;
        Assert.Equal([6, 0], utcDays.Points.Select(p => p.Metrics.Created));
        var hours = (await admin.GetFromJsonAsync<TimeSeriesDto>("/api/v1/reports/timeseries?from=2026-03-02&to=2026-03-02&tz=UTC&interval=hour", ct))!;
        Assert.Equal(24, hours.Points.Count);
        Assert.Equal(1, hours.Points.Single(p => p.Start == "2026-03-02T09:00").Metrics.Created);
        Assert.Equal(1, hours.Points.Single(p => p.Start == "2026-03-02T10:00").Metrics.Closed); // C2 closed 10:20

        // Business hours only: Sales is open 09:00-18:00 Shanghai (01:00-10:00 UTC); C3 came at 20:00 there and
        // does not count; C2's times are clipped at 10:00 UTC. Support and the bot's unteamed chat are always open.
        var open = (await admin.GetFromJsonAsync<ReportSummaryDto>("/api/v1/reports/summary?from=2026-03-02&to=2026-03-02&tz=UTC&businessHours=true", ct))!.Metrics;
        Assert.Equal((5, 4, 0, 0), (open.Created, open.Closed, open.Missed, open.Abandoned));
        Assert.Equal(new DurationStats(4, 120, 600, 240), open.FirstResponse);
        Assert.Equal(new DurationStats(4, 60, 300, 112.5), open.QueueWait);
        Assert.Equal(new DurationStats(4, 600, 1800, 975), open.Resolution);
        Assert.Equal(new DurationStats(3, 1020, 1740, 1020), open.HandleTime);

        // Breakdowns.
        var agents = (await admin.GetFromJsonAsync<BreakdownDto>("/api/v1/reports/breakdown?from=2026-03-02&to=2026-03-02&by=agent", ct))!;
        var alice = agents.Rows.Single(r => r.Key == world.Alice.ToString());
        Assert.Equal(("alice", 2, 2, 4.0), (alice.Name, alice.Metrics.Created, alice.Metrics.Closed, alice.Metrics.Csat.Average));
        Assert.Equal([2], alice.Daily);
        Assert.Equal(2, agents.Rows.Single(r => r.Key is null).Metrics.Created);
        var intents = (await admin.GetFromJsonAsync<BreakdownDto>("/api/v1/reports/breakdown?from=2026-03-02&to=2026-03-02&by=intent", ct))!;
        Assert.Equal(1, intents.Rows.Single(r => r.Key == "refund").Metrics.Created);
        var labels = (await admin.GetFromJsonAsync<BreakdownDto>("/api/v1/reports/breakdown?from=2026-03-02&to=2026-03-02&by=label", ct))!;
        Assert.Equal(("vip", 2), (labels.Rows.Single().Name, labels.Rows.Single().Metrics.Created));
        var departments = (await admin.GetFromJsonAsync<BreakdownDto>("/api/v1/reports/breakdown?from=2026-03-02&to=2026-03-02&by=department", ct))!;
        Assert.Equal(3, departments.Rows.Single(r => r.Name == "Sales").Metrics.Created);

        var times = (await admin.GetFromJsonAsync<ResponseTimesDto>("/api/v1/reports/response-times?from=2026-03-02&to=2026-03-02", ct))!;
        Assert.Equal([0, 0, 1, 2, 0, 1, 0, 0], times.Buckets.Select(b => b.FirstResponse)); // 60 | 120, 180 | 1200
        var csat = (await admin.GetFromJsonAsync<CsatReportDto>("/api/v1/reports/csat?from=2026-03-02&to=2026-03-02", ct))!;
        Assert.Equal(["=HYPERLINK(\"http://evil\",\"x\")", "慢"], csat.Comments.Select(c => c.Comment));
    }

    [Theory]
    [BothStores]
    public async Task Reports_StayInTheCallersSandbox_AndRefuseBadInput(Store store)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var storage = await TestStorage.CreateAsync(store);
        await using var server = await ParleyServer.StartAsync(storage);
        var world = await SeedAsync(server);
        await server.CreateUserAsync("sue@test.local", "supervisor", world.Sales);
        using var sue = await server.SignInAsync("sue@test.local");
        using var bob = await server.SignInAsync("bob@test.local");

        var sales = (await sue.GetFromJsonAsync<ReportSummaryDto>("/api/v1/reports/summary?from=2026-03-02&to=2026-03-02", ct))!.Metrics;
        Assert.Equal(4, sales.Created); // C1-C3 of Sales, and C5 without a department (visible to every department by default)
        var own = (await bob.GetFromJsonAsync<ReportSummaryDto>("/api/v1/reports/summary?from=2026-03-02&to=2026-03-02", ct))!.Metrics;
        Assert.Equal(2, own.Created); // C4 and C6: his own
        var bobAgents = (await bob.GetFromJsonAsync<BreakdownDto>("/api/v1/reports/breakdown?from=2026-03-02&to=2026-03-02&by=agent", ct))!;
        Assert.Equal([world.Bob.ToString()], bobAgents.Rows.Select(r => r.Key));

        async Task ExpectAsync(HttpClient http, string query, string code)
        {
            var response = await http.GetAsync("/api/v1/reports/" + query, ct);
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            Assert.Equal(code, (await response.Content.ReadFromJsonAsync<JsonElement>(ct)).GetProperty("code").GetString());
        }

        await ExpectAsync(sue, "summary?from=2026-03-05&to=2026-03-02", "invalid_report_range");
        await ExpectAsync(sue, "summary?from=2025-01-01&to=2026-03-02", "invalid_report_range");
        await ExpectAsync(sue, "summary?from=2026-03-02", "invalid_report_range");
        await ExpectAsync(sue, "summary?from=02.03.2026&to=2026-03-02", "invalid_report_range");
        await ExpectAsync(sue, "timeseries?from=2026-01-01&to=2026-03-02&interval=hour", "invalid_report_range");
        await ExpectAsync(sue, "summary?from=2026-03-02&to=2026-03-02&tz=Mars/Olympus", "invalid_time_zone");
        await ExpectAsync(sue, "timeseries?from=2026-03-02&to=2026-03-02&interval=minute", "invalid_report_option");
        await ExpectAsync(sue, "breakdown?from=2026-03-02&to=2026-03-02&by=colour", "invalid_report_option");
        await ExpectAsync(sue, "export/everything?from=2026-03-02&to=2026-03-02", "invalid_report_option");
        await ExpectAsync(sue, $"summary?from=2026-03-02&to=2026-03-02&teamId={Guid.NewGuid()}", "report_filter_unknown");
        await ExpectAsync(sue, $"summary?from=2026-03-02&to=2026-03-02&teamId={world.Support}", "report_filter_unknown"); // not hers
        await ExpectAsync(sue, $"summary?from=2026-03-02&to=2026-03-02&agentId={world.Bob}", "report_filter_unknown"); // not in Sales
        await ExpectAsync(bob, $"summary?from=2026-03-02&to=2026-03-02&agentId={world.Alice}", "report_filter_unknown");
        await ExpectAsync(sue, $"summary?from=2026-03-02&to=2026-03-02&siteId={Guid.NewGuid()}", "report_filter_unknown");
        await ExpectAsync(sue, $"summary?from=2026-03-02&to=2026-03-02&labelId={Guid.NewGuid()}", "report_filter_unknown");

        var filtered = (await sue.GetFromJsonAsync<ReportSummaryDto>($"/api/v1/reports/summary?from=2026-03-02&to=2026-03-02&agentId={world.Alice}", ct))!.Metrics;
        Assert.Equal(2, filtered.Created);
    }

    [Theory]
    [BothStores]
    public async Task CsvExport_IsUtf8WithBom_AndDefusesFormulas(Store store)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var storage = await TestStorage.CreateAsync(store);
        await using var server = await ParleyServer.StartAsync(storage);
        await SeedAsync(server);
        var (admin, _) = await AgentClient.SignInAsync(server);
        using var _admin = admin;

        var response = await admin.GetAsync("/api/v1/reports/export/csat?from=2026-03-02&to=2026-03-02", ct);
        response.EnsureSuccessStatusCode();
        Assert.Equal("text/csv", response.Content.Headers.ContentType!.MediaType);
        Assert.Contains("parley-csat-2026-03-02-2026-03-02.csv", response.Content.Headers.ContentDisposition!.ToString(), StringComparison.Ordinal);
        var bytes = await response.Content.ReadAsByteArrayAsync(ct);
        Assert.Equal(new byte[] { 0xEF, 0xBB, 0xBF }, bytes[..3]);
        var text = Encoding.UTF8.GetString(bytes, 3, bytes.Length - 3);
        Assert.StartsWith("conversation_id,score,comment,rated_at,agent\r\n", text, StringComparison.Ordinal);
        Assert.Contains(",5,\"'=HYPERLINK(\"\"http://evil\"\",\"\"x\"\")\",", text, StringComparison.Ordinal);
        Assert.Contains(",3,慢,", text, StringComparison.Ordinal);

        foreach (var table in new[] { "summary", "timeseries", "breakdown?by=agent", "response-times" })
        {
            var path = table.Contains('?', StringComparison.Ordinal) ? $"{table}&from=2026-03-02&to=2026-03-02" : $"{table}?from=2026-03-02&to=2026-03-02";
            var csv = await admin.GetByteArrayAsync("/api/v1/reports/export/" + path, ct);
            Assert.Equal(0xEF, csv[0]);
        }

        var agents = Encoding.UTF8.GetString(await admin.GetByteArrayAsync("/api/v1/reports/export/breakdown?by=agent&from=2026-03-02&to=2026-03-02", ct));
        Assert.Contains(",'-bob the builder,", agents, StringComparison.Ordinal);
        Assert.Equal("'@SUM(A1)", ReportCsv.Defuse("@SUM(A1)"));
        Assert.Equal("'\t=1", ReportCsv.Defuse("\t=1"));
        Assert.Equal("plain", ReportCsv.Defuse("plain"));
        Assert.Equal("-5", ReportCsv.Cell(-5));
    }

    [Theory]
    [BothStores]
    public async Task Facts_FollowARealConversation_ThroughMessagesAssignmentCloseAndRating(Store store)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var storage = await TestStorage.CreateAsync(store);
        await using var server = await ParleyServer.StartAsync(storage);
        await using var visitor = await VisitorClient.ConnectAsync(server);
        await using var agent = await AgentClient.ConnectAsync(server);
        var conversation = await visitor.StartConversationAsync();
        await visitor.SendAsync(conversation.Id, "你好");
        await visitor.SendAsync(conversation.Id, "退款什么时候到账");
        (await agent.Http.PostAsJsonAsync($"/api/v1/conversations/{conversation.Id}/assign", new { }, ct)).EnsureSuccessStatusCode();
        (await agent.Http.PostAsJsonAsync($"/api/v1/conversations/{conversation.Id}/messages", new { clientId = Guid.NewGuid(), body = "Sure" }, ct)).EnsureSuccessStatusCode();
        (await agent.Http.PostAsJsonAsync($"/api/v1/conversations/{conversation.Id}/messages", new { clientId = Guid.NewGuid(), body = "internal", note = true }, ct)).EnsureSuccessStatusCode();
        (await agent.Http.PostAsync($"/api/v1/conversations/{conversation.Id}/close", null, ct)).EnsureSuccessStatusCode();
        using var visitorHttp = WidgetTestKit.VisitorHttp(server, visitor.Token);
        (await visitorHttp.PostAsJsonAsync($"/api/v1/widget/conversations/{conversation.Id}/rating", new RatingRequest(4, "ok"), ct)).EnsureSuccessStatusCode();

        var facts = await Eventually.ValueAsync(
            async () =>
            {
                await using var scope = server.Services.CreateAsyncScope();
                return await scope.ServiceProvider.GetRequiredService<ParleyDbContext>().ConversationFacts.AsNoTracking()
                    .FirstOrDefaultAsync(f => f.ConversationId == conversation.Id, ct);
            },
            f => f is { CsatScore: not null, ClosedAt: not null });
        Assert.NotNull(facts);
        Assert.Equal((2, 1, 0), (facts.MessagesIn, facts.MessagesOut, facts.BotMessages)); // the note and the event lines do not count
        Assert.Equal(4, facts.CsatScore);
        Assert.False(facts.BotStarted);
        Assert.False(facts.Abandoned); // the agent answered last
        Assert.Equal(facts.CreatedAt, facts.FirstQueuedAt);
        Assert.NotNull(facts.FirstAssignedAt);
        Assert.NotNull(facts.AssigneeId);
        Assert.True(facts.FirstResponseAt >= facts.FirstVisitorMessageAt);
        // The AI module's conversation intent: the first visitor message that is more than a greeting.
        var engines = server.Services.GetRequiredService<Parley.Server.Features.Ai.AiService>().Engines;
        var expected = engines.ConversationIntent(((string[])["你好", "退款什么时候到账"]).Select(t => engines.Analyzer.Analyze(t)))?.Intent;
        Assert.NotNull(expected);
        Assert.Equal(expected, facts.Intent);

        var today = DateOnly.FromDateTime(facts.CreatedAt).ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture);
        var summary = (await agent.Http.GetFromJsonAsync<ReportSummaryDto>($"/api/v1/reports/summary?from={today}&to={today}", ct))!.Metrics;
        Assert.Equal((1, 1, 2, 1, 1, 4.0), (summary.Created, summary.Closed, summary.MessagesIn, summary.MessagesOut, summary.Csat.Responses, summary.Csat.Average));
    }

    internal sealed record World(Guid Sales, Guid Support, Guid Alice, Guid Bob);

    /// <summary>
    /// The hand-computed fixture (times UTC, 2 March 2026). Sales: Mon-Fri 09:00-18:00 Asia/Shanghai = 01:00-10:00 UTC.
    /// C1 Sales/alice 02:00, assigned 02:01, replied 02:02, closed 02:30, 3 in/2 out, CSAT 5 with a formula comment, intent refund, label vip.
    /// C2 Sales/alice 09:50, assigned 09:55, replied 10:10, closed 10:20, 2/1, CSAT 3 "慢".
    /// C3 Sales 12:00 (20:00 Shanghai: closed hours), never assigned, closed 12:10 while the visitor waited: missed and abandoned, 1/0.
    /// C4 Support/bob 17:00 (01:00 on 3 March in Shanghai), assigned 17:00:30, replied 17:01, open, 1/1, label vip.
    /// C5 the bot alone (no team) 05:00, closed 05:05, 2/0: bot-resolved.
    /// C6 Support/bob, bot first 06:00, handed off 06:02, assigned 06:03, replied 06:05, closed 06:20, 2/1, CSAT 4.
    /// </summary>
    internal static async Task<World> SeedAsync(ParleyServer server)
    {
        var sales = await server.CreateTeamAsync("Sales");
        var support = await server.CreateTeamAsync("Support");
        var alice = (await server.CreateUserAsync("alice@test.local", "agent", sales)).Id;
        var bob = (await server.CreateUserAsync("bob@test.local", "agent", support)).Id;
        await using var scope = server.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ParleyDbContext>();
        await db.Users.Where(u => u.Id == bob).ExecuteUpdateAsync(s => s.SetProperty(u => u.DisplayName, "-bob the builder"));
        await db.Teams.Where(t => t.Id == sales).ExecuteUpdateAsync(s => s
            .SetProperty(t => t.TimeZone, "Asia/Shanghai")
            .SetProperty(t => t.HoursJson, """{"weekly":[{"day":"monday","open":"09:00","close":"18:00"},{"day":"tuesday","open":"09:00","close":"18:00"}],"holidays":[]}"""));
        var site = await db.Sites.Select(s => s.Id).FirstAsync();
        var label = new Label { Id = Guid.CreateVersion7(), Name = "vip", Color = "#ff0000", CreatedAt = Day };
        db.Labels.Add(label);

        DateTime T(int h, int m, int s = 0) => Day.AddHours(h).AddMinutes(m).AddSeconds(s);
        var rows = new[]
        {
            new ConversationFacts { TeamId = sales, AssigneeId = alice, CreatedAt = T(2, 0), FirstQueuedAt = T(2, 0), FirstAssignedAt = T(2, 1), FirstResponseAt = T(2, 2), ClosedAt = T(2, 30), MessagesIn = 3, MessagesOut = 2, CsatScore = 5, Intent = "refund" },
            new ConversationFacts { TeamId = sales, AssigneeId = alice, CreatedAt = T(9, 50), FirstQueuedAt = T(9, 50), FirstAssignedAt = T(9, 55), FirstResponseAt = T(10, 10), ClosedAt = T(10, 20), MessagesIn = 2, MessagesOut = 1, CsatScore = 3 },
            new ConversationFacts { TeamId = sales, CreatedAt = T(12, 0), FirstQueuedAt = T(12, 0), ClosedAt = T(12, 10), MessagesIn = 1, Abandoned = true },
            new ConversationFacts { TeamId = support, AssigneeId = bob, CreatedAt = T(17, 0), FirstQueuedAt = T(17, 0), FirstAssignedAt = T(17, 0, 30), FirstResponseAt = T(17, 1), MessagesIn = 1, MessagesOut = 1 },
            new ConversationFacts { CreatedAt = T(5, 0), ClosedAt = T(5, 5), MessagesIn = 2, BotStarted = true, BotMessages = 2 },
            new ConversationFacts { TeamId = support, AssigneeId = bob, CreatedAt = T(6, 0), FirstQueuedAt = T(6, 2), FirstAssignedAt = T(6, 3), FirstResponseAt = T(6, 5), ClosedAt = T(6, 20), MessagesIn = 2, MessagesOut = 1, BotStarted = true, HandedOff = true, CsatScore = 4 },
        };
        var comments = new Dictionary<int, string> { [5] = "=HYPERLINK(\"http://evil\",\"x\")", [3] = "慢" };
        for (var i = 0; i < rows.Length; i++)
        {
            var f = rows[i];
            var contact = new Contact { Id = Guid.CreateVersion7(), SiteId = site, CreatedAt = f.CreatedAt, LastSeenAt = f.CreatedAt };
            var conversation = new Conversation
            {
                Id = Guid.CreateVersion7(),
                SiteId = site,
                ContactId = contact.Id,
                TeamId = f.TeamId,
                AssigneeId = f.AssigneeId,
                Status = f.ClosedAt is null ? ConversationStatus.Open : ConversationStatus.Closed,
                CreatedAt = f.CreatedAt,
                UpdatedAt = f.CreatedAt,
                ClosedAt = f.ClosedAt,
            };
            f.ConversationId = conversation.Id;
            f.SiteId = site;
            f.UpdatedAt = f.CreatedAt;
            db.Contacts.Add(contact);
            db.Conversations.Add(conversation);
            db.ConversationFacts.Add(f);
            if (f.CsatScore is { } score)
            {
                // Rated one minute after closing; the formula comment is the newest.
                db.ConversationRatings.Add(new ConversationRating { ConversationId = conversation.Id, ContactId = contact.Id, Score = score, Comment = comments.GetValueOrDefault(score), CreatedAt = score == 5 ? Day.AddDays(1) : f.ClosedAt!.Value.AddMinutes(1) });
            }

            if (i is 0 or 3)
            {
                db.ConversationLabels.Add(new ConversationLabel { ConversationId = conversation.Id, LabelId = label.Id });
            }
        }

        await db.SaveChangesAsync();

        // Written behind the refresher's back: mark their hours so the rollups (and reports) take them in.
        await ReportRollupMaterialiser.MarkAllAsync(db, default);
        return new World(sales, support, alice, bob);
    }
}
