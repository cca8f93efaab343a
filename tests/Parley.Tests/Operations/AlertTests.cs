using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using System.Web;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Parley.Data;
using Parley.Server.Features.Alerts;
using Parley.Server.Features.Metrics;
using Parley.Server.Realtime.Presence;
using Parley.Tests.Infrastructure;
using Parley.Webhooks;

namespace Parley.Tests.Operations;

/// <summary>
/// Alerts to people (#19): each channel's format against a local receiver over real HTTP (signatures checked with
/// their own math), settings refused at save, one notice per episode with reminders and recovery under a fake clock,
/// one sending node, and a failing or hanging channel retried without holding anything up.
/// </summary>
public sealed class AlertTests
{
    private const string WebhookSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    private const string DingTalkSecret = "SEC0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static Dictionary<string, string?> Settings(params (string Key, string Value)[] extra)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Parley:Alerts:Enabled"] = "false", // the tests drive the evaluator themselves
            ["Parley:Alerts:AllowPrivateTargets"] = "true", // receivers listen on loopback
        };
        foreach (var (key, value) in extra)
        {
            settings[key] = value;
        }

        return settings;
    }

    [Fact]
    public async Task EachChannel_SendsItsPlatformsFormat_AndTheTestButtonSaysWhatTheReceiverAnswered()
    {
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage, Settings());
        await using var receiver = await AlertReceiver.StartAsync();
        var (http, _) = await AgentClient.SignInAsync(server);
        using var _http = http;

        var webhook = await CreateChannelAsync(http, new { kind = "webhook", name = "On-call", url = receiver.Url("/oncall"), secret = WebhookSecret });
        var slack = await CreateChannelAsync(http, new { kind = "slack", name = "#ops", url = receiver.Url("/services/T0/B0/slacktoken") });
        var wecom = await CreateChannelAsync(http, new { kind = "wecom", name = "运维群", url = receiver.Url("/cgi-bin/webhook/send?key=wecomkey"), language = "zh-CN" });
        var dingtalk = await CreateChannelAsync(http, new { kind = "dingtalk", name = "钉钉", url = receiver.Url("/robot/send?access_token=dingtoken"), secret = DingTalkSecret, language = "zh-CN" });

        // Secrets are write-only and the robots' URLs (which carry their tokens) come back masked.
        var listed = (await http.GetFromJsonAsync<List<AlertChannelDto>>("/api/v1/alerts/channels", Ct))!;
        Assert.All(listed, c => Assert.Null(c.Secret));
        Assert.DoesNotContain(listed, c => c.Url.Contains("slacktoken", StringComparison.Ordinal) || c.Url.Contains("wecomkey", StringComparison.Ordinal) || c.Url.Contains("dingtoken", StringComparison.Ordinal));
        Assert.True(listed.Single(c => c.Kind == "dingtalk").HasSecret);
        var raw = await http.GetStringAsync("/api/v1/alerts/channels", Ct);
        Assert.DoesNotContain(WebhookSecret, raw, StringComparison.Ordinal);
        Assert.DoesNotContain(DingTalkSecret, raw, StringComparison.Ordinal);

        // Generic webhook: Standard Webhooks headers, HMAC-SHA256 over id.timestamp.body with the channel's secret.
        Assert.True((await TestAsync(http, webhook)).Ok);
        var hook = Assert.Single(receiver.Requests.Snapshot());
        Assert.Equal("/oncall", hook.Path);
        Assert.True(WebhookSignature.Verify(WebhookSecret, hook.Headers["webhook-id"], hook.Headers["webhook-timestamp"], hook.Headers["webhook-signature"], hook.Body, DateTimeOffset.UtcNow));
        Assert.Equal(ExpectedStandardSignature(WebhookSecret, hook.Headers["webhook-id"], hook.Headers["webhook-timestamp"], hook.Body), hook.Headers["webhook-signature"]);
        Assert.Equal("alert.test", hook.Json["type"]!.GetValue<string>());
        Assert.StartsWith("application/json", hook.Headers["content-type"], StringComparison.Ordinal);

        // Slack incoming webhook: { text } in mrkdwn.
        Assert.True((await TestAsync(http, slack)).Ok);
        var slackRequest = (await receiver.Requests.WaitUntilAsync(r => r.Count == 2))[^1];
        Assert.Equal("/services/T0/B0/slacktoken", slackRequest.Path);
        var text = slackRequest.Json["text"]!.GetValue<string>();
        Assert.Contains("*[TEST] Test alert from Parley*", text, StringComparison.Ordinal);
        Assert.Equal(["text"], slackRequest.Json.AsObject().Select(p => p.Key));

        // WeCom group robot: msgtype markdown, in the channel's language (zh-CN).
        Assert.True((await TestAsync(http, wecom)).Ok);
        var wecomRequest = (await receiver.Requests.WaitUntilAsync(r => r.Count == 3))[^1];
        Assert.Equal("?key=wecomkey", wecomRequest.Query);
        Assert.Equal("markdown", wecomRequest.Json["msgtype"]!.GetValue<string>());
        var content = wecomRequest.Json["markdown"]!["content"]!.GetValue<string>();
        Assert.StartsWith("**<font color=\"comment\">【测试】Parley 测试告警</font>**", content, StringComparison.Ordinal);

        // DingTalk robot with 加签: timestamp (ms) and sign = base64(HMAC-SHA256(secret, "timestamp\nsecret")) on the URL.
        Assert.True((await TestAsync(http, dingtalk)).Ok);
        var ding = (await receiver.Requests.WaitUntilAsync(r => r.Count == 4))[^1];
        var query = HttpUtility.ParseQueryString(ding.Query);
        Assert.Equal("dingtoken", query["access_token"]);
        var timestamp = long.Parse(query["timestamp"]!, System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() - timestamp, 0, 60_000); // DingTalk refuses older than an hour
        using (var hmac = new HMACSHA256(Encoding.UTF8.GetBytes(DingTalkSecret)))
        {
            Assert.Equal(Convert.ToBase64String(hmac.ComputeHash(Encoding.UTF8.GetBytes(timestamp + "\n" + DingTalkSecret))), query["sign"]);
        }

        Assert.Contains("sign=" + Uri.EscapeDataString(query["sign"]!), ding.Query, StringComparison.Ordinal); // URL-encoded (+, /, =)
        Assert.Equal("markdown", ding.Json["msgtype"]!.GetValue<string>());
        Assert.Equal("【测试】Parley 测试告警", ding.Json["markdown"]!["title"]!.GetValue<string>());
        Assert.StartsWith("### 【测试】Parley 测试告警", ding.Json["markdown"]!["text"]!.GetValue<string>(), StringComparison.Ordinal);

        // The robots answer 200 to everything: a non-zero errcode is a failure the test button shows.
        receiver.Answer = """{"errcode":310000,"errmsg":"sign not match"}""";
        var refused = await TestAsync(http, dingtalk);
        Assert.False(refused.Ok);
        Assert.Equal(200, refused.Status);
        Assert.Contains("310000", refused.Error, StringComparison.Ordinal);
        receiver.Status = 404;
        var missing = await TestAsync(http, slack);
        Assert.False(missing.Ok);
        Assert.Equal(404, missing.Status);
    }

    [Fact]
    public void Formats_NeutraliseNamesAnAdminTyped()
    {
        var notice = new AlertNotice(NoticeState.Firing, "queue_wait", "**VIP** <font color=\"info\">x</font> [link](http://e)", 400, 300, null, DateTime.UtcNow, DateTime.UtcNow, 7, "node-1");
        var wecom = new Parley.Data.AlertChannel { Kind = "wecom", Name = "w", Url = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k", Language = "en" };
        var content = JsonNode.Parse(AlertFormats.Build(wecom, notice, DateTimeOffset.UtcNow).Body)!["markdown"]!["content"]!.GetValue<string>();
        Assert.Contains("＊＊VIP＊＊ ＜font color=\"info\"＞x＜/font＞ ［link］(http://e): the longest-waiting visitor has waited 6 min 40 s (target 5 min 0 s)", content, StringComparison.Ordinal);
        var slack = new Parley.Data.AlertChannel { Kind = "slack", Name = "s", Url = "https://hooks.slack.com/services/x", Language = "en" };
        var text = JsonNode.Parse(AlertFormats.Build(slack, notice, DateTimeOffset.UtcNow).Body)!["text"]!.GetValue<string>();
        Assert.Contains("&lt;font color=\"info\"&gt;", text, StringComparison.Ordinal);
        Assert.DoesNotContain("<font", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task InvalidChannelsAndRules_AreRefusedAtSave_WithTheirCodes()
    {
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage, new Dictionary<string, string?> { ["Parley:Alerts:Enabled"] = "false" });
        var (http, _) = await AgentClient.SignInAsync(server);
        using var _http = http;

        async Task Refused(string path, object body, string code)
        {
            var response = await http.PostAsJsonAsync(path, body, Ct);
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            Assert.Equal(code, JsonNode.Parse(await response.Content.ReadAsStringAsync(Ct))!["code"]!.GetValue<string>());
        }

        await Refused("/api/v1/alerts/channels", new { kind = "pager", name = "x", url = "https://203.0.113.10/" }, "alert_channel_invalid");
        await Refused("/api/v1/alerts/channels", new { kind = "slack", name = "x", url = "ftp://example.com/" }, "alert_channel_invalid");
        await Refused("/api/v1/alerts/channels", new { kind = "slack", name = "", url = "https://203.0.113.10/services/a" }, "alert_channel_invalid");
        await Refused("/api/v1/alerts/channels", new { kind = "wecom", name = "x", url = "https://203.0.113.10/cgi-bin/webhook/send" }, "alert_channel_invalid");
        await Refused("/api/v1/alerts/channels", new { kind = "dingtalk", name = "x", url = "https://203.0.113.10/robot/send" }, "alert_channel_invalid");
        await Refused("/api/v1/alerts/channels", new { kind = "webhook", name = "x", url = "https://203.0.113.10/", secret = "not-a-secret" }, "alert_channel_invalid");
        await Refused("/api/v1/alerts/channels", new { kind = "slack", name = "x", url = "https://203.0.113.10/services/a", secret = "s" }, "alert_channel_invalid");
        await Refused("/api/v1/alerts/channels", new { kind = "slack", name = "x", url = "https://203.0.113.10/services/a", language = "fr" }, "alert_channel_invalid");
        await Refused("/api/v1/alerts/channels", new { kind = "slack", name = "x", url = "http://127.0.0.1:9/hook" }, "alert_target_forbidden");
        await Refused("/api/v1/alerts/channels", new { kind = "slack", name = "x", url = "http://169.254.169.254/latest" }, "alert_target_forbidden");
        await Refused("/api/v1/alerts/rules", new { kind = "cpu" }, "alert_rule_invalid");
        await Refused("/api/v1/alerts/rules", new { kind = "queue_wait", threshold = 1 }, "alert_rule_invalid");
        await Refused("/api/v1/alerts/rules", new { kind = "error_rate", threshold = 1.5 }, "alert_rule_invalid");
        await Refused("/api/v1/alerts/rules", new { kind = "queue_wait", renotifyMinutes = -1 }, "alert_rule_invalid");
        await Refused("/api/v1/alerts/rules", new { kind = "disk_space", teamId = Guid.NewGuid() }, "alert_rule_invalid");
        Assert.Empty((await http.GetFromJsonAsync<List<AlertChannelDto>>("/api/v1/alerts/channels", Ct))!);
        Assert.Empty((await http.GetFromJsonAsync<List<AlertRuleDto>>("/api/v1/alerts/rules", Ct))!);

        // A generated webhook secret is answered once, at creation.
        var created = await CreateChannelAsync(http, new { kind = "webhook", name = "ok", url = "https://203.0.113.10/oncall" });
        Assert.StartsWith("whsec_", created.Secret, StringComparison.Ordinal);
        Assert.Null((await http.GetFromJsonAsync<List<AlertChannelDto>>("/api/v1/alerts/channels", Ct))!.Single().Secret);
        var rule = await (await http.PostAsJsonAsync("/api/v1/alerts/rules", new { kind = "error_rate" }, Ct)).Content.ReadFromJsonAsync<AlertRuleDto>(Ct);
        Assert.Equal(0.05, rule!.Threshold);
    }

    [Theory]
    [BothStores]
    public async Task OneNoticePerEpisode_RemindersAndRecovery_FromOneNode_UnderAFakeClock(Store store)
    {
        await using var storage = await TestStorage.CreateAsync(store);
        await using var server = await ParleyServer.StartAsync(storage, Settings());
        await using var receiver = await AlertReceiver.StartAsync();
        var (http, _) = await AgentClient.SignInAsync(server);
        using var _http = http;
        await CreateChannelAsync(http, new { kind = "webhook", name = "On-call", url = receiver.Url("/oncall"), secret = WebhookSecret });
        (await http.PostAsJsonAsync("/api/v1/alerts/rules", new { kind = "queue_wait", threshold = 60, renotifyMinutes = 10 }, Ct)).EnsureSuccessStatusCode();

        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var nodeA = Evaluator(server, clock);
        var nodeB = Evaluator(server, clock);
        var waiting = Snapshot(("general", 2, 90));
        var calm = Snapshot(("general", 0, 0));

        // The first node to evaluate takes the lease and sends; the other evaluates its own rules only.
        Assert.True(await nodeA.RunOnceAsync(waiting, Ct));
        Assert.False(await nodeB.RunOnceAsync(waiting, Ct));
        var first = Assert.Single(await receiver.Requests.WaitUntilAsync(r => r.Count == 1));
        Assert.Equal("alert.firing", first.Json["type"]!.GetValue<string>());
        Assert.Equal("general", first.Json["subject"]!.GetValue<string>());
        Assert.Equal(90, first.Json["value"]!.GetValue<double>());

        // Still firing a minute later: nothing new.
        clock.Advance(TimeSpan.FromMinutes(1));
        Assert.True(await nodeA.RunOnceAsync(waiting, Ct));

        // Node A stops; once its lease expires node B takes over and does not repeat what A sent.
        clock.Advance(TimeSpan.FromMinutes(2));
        Assert.True(await nodeB.RunOnceAsync(waiting, Ct));
        Assert.False(await nodeA.RunOnceAsync(waiting, Ct));

        // The reminder interval (10 min) after the first notice: one reminder.
        clock.Advance(TimeSpan.FromMinutes(7));
        Assert.True(await nodeB.RunOnceAsync(waiting, Ct));
        Assert.True(await nodeB.RunOnceAsync(waiting, Ct));
        await receiver.Requests.WaitUntilAsync(r => r.Count == 2);

        // The queue empties: one recovery notice.
        clock.Advance(TimeSpan.FromSeconds(30));
        Assert.True(await nodeB.RunOnceAsync(calm, Ct));
        Assert.True(await nodeB.RunOnceAsync(calm, Ct));
        await receiver.Requests.WaitUntilAsync(r => r.Count == 3);

        // A new episode is a new incident and a new first notice.
        clock.Advance(TimeSpan.FromMinutes(1));
        Assert.True(await nodeB.RunOnceAsync(waiting, Ct));
        await receiver.Requests.WaitUntilAsync(r => r.Count == 4);

        // Everything queued went out (nothing is waiting to arrive late), and it was exactly this.
        await Eventually.ValueAsync(() => Task.FromResult(server.Services.GetRequiredService<AlertSender>().Pending), p => p == 0);
        var all = receiver.Requests.Snapshot();
        Assert.Equal(["alert.firing", "alert.reminder", "alert.resolved", "alert.firing"], all.Select(r => r.Json["type"]!.GetValue<string>()));
        Assert.Equal(all[0].Json["incidentId"]!.GetValue<long>(), all[2].Json["incidentId"]!.GetValue<long>());
        Assert.NotEqual(all[0].Json["incidentId"]!.GetValue<long>(), all[3].Json["incidentId"]!.GetValue<long>());
        Assert.NotNull(all[2].Json["resolvedAt"]);
        foreach (var request in all)
        {
            Assert.True(WebhookSignature.Verify(WebhookSecret, request.Headers["webhook-id"], request.Headers["webhook-timestamp"], request.Headers["webhook-signature"], request.Body, DateTimeOffset.UtcNow));
        }

        var incidents = (await http.GetFromJsonAsync<List<AlertIncidentDto>>("/api/v1/alerts/incidents", Ct))!;
        Assert.Equal(2, incidents.Count);
        Assert.Null(incidents[0].ResolvedAt);
        Assert.Equal(2, incidents[1].Notices); // the first notice and the reminder
        Assert.Equal(clock.GetUtcNow().UtcDateTime.AddMinutes(-1), incidents[1].ResolvedAt!.Value, TimeSpan.FromSeconds(1));
    }

    [Theory]
    [BothStores]
    public async Task WithNothingToEvaluate_NoLeaseIsTaken_AndADisabledRulesEpisodeStillEndsWithItsRecovery(Store store)
    {
        await using var storage = await TestStorage.CreateAsync(store);
        await using var server = await ParleyServer.StartAsync(storage, Settings());
        await using var receiver = await AlertReceiver.StartAsync();
        var (http, _) = await AgentClient.SignInAsync(server);
        using var _http = http;
        await CreateChannelAsync(http, new { kind = "webhook", name = "On-call", url = receiver.Url("/oncall"), secret = WebhookSecret });
        var scopes = server.Services.GetRequiredService<IServiceScopeFactory>();
        async Task<bool> LeaseTakenAsync()
        {
            await using var scope = scopes.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<ParleyDbContext>();
            return await db.NodeLeases.AnyAsync(l => l.Name == AlertEvaluator.LeaseName, Ct);
        }

        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var node = Evaluator(server, clock);
        var waiting = Snapshot(("general", 2, 90));

        // No rule: the evaluation writes nothing, not even the lease.
        Assert.False(await node.RunOnceAsync(waiting, Ct));
        Assert.False(await LeaseTakenAsync());

        // A rule: the node leads, the episode opens and is announced.
        var rule = (await (await http.PostAsJsonAsync("/api/v1/alerts/rules", new { kind = "queue_wait", threshold = 60 }, Ct)).Content.ReadFromJsonAsync<AlertRuleDto>(Ct))!;
        Assert.True(await node.RunOnceAsync(waiting, Ct));
        Assert.True(await LeaseTakenAsync());
        await receiver.Requests.WaitUntilAsync(r => r.Count == 1);

        // The rule switched off while its episode is open: that episode still has to end, and the recovery goes out.
        (await http.PatchAsJsonAsync($"/api/v1/alerts/rules/{rule.Id}", new { enabled = false }, Ct)).EnsureSuccessStatusCode();
        clock.Advance(TimeSpan.FromSeconds(15));
        Assert.True(await node.RunOnceAsync(waiting, Ct));
        var notices = await receiver.Requests.WaitUntilAsync(r => r.Count == 2);
        Assert.Equal(["alert.firing", "alert.resolved"], notices.Select(r => r.Json["type"]!.GetValue<string>()));

        // Then nothing is left to do: no lease is renewed, however long the queue.
        clock.Advance(TimeSpan.FromSeconds(15));
        Assert.False(await node.RunOnceAsync(waiting, Ct));
        var incident = Assert.Single((await http.GetFromJsonAsync<List<AlertIncidentDto>>("/api/v1/alerts/incidents", Ct))!);
        Assert.NotNull(incident.ResolvedAt);
    }

    [Theory]
    [BothStores]
    public async Task NodeLocalRules_FireAndRecover_PerNode(Store store)
    {
        await using var storage = await TestStorage.CreateAsync(store);
        await using var server = await ParleyServer.StartAsync(storage, Settings());
        await using var receiver = await AlertReceiver.StartAsync();
        var (http, _) = await AgentClient.SignInAsync(server);
        using var _http = http;
        await CreateChannelAsync(http, new { kind = "slack", name = "#ops", url = receiver.Url("/services/x") });
        foreach (var rule in new object[] { new { kind = "error_rate", threshold = 0.1 }, new { kind = "commit_latency", threshold = 0.25 }, new { kind = "disk_space", threshold = 1024 } })
        {
            (await http.PostAsJsonAsync("/api/v1/alerts/rules", rule, Ct)).EnsureSuccessStatusCode();
        }

        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var signals = new AlertSignals(clock, server.Services.GetRequiredService<IOptions<AlertsOptions>>(), new DummyMeterFactory());
        var node = Evaluator(server, clock, signals);
        for (var i = 0; i < 30; i++)
        {
            signals.RecordRequest(i < 6 ? 503 : 200); // 20 % 5xx
            signals.RecordCommit(i < 1 ? 0.9 : 0.01); // p99 of 30 commits: the slow one
        }

        var lowDisk = OperationsSnapshot.Empty with { DataDirectoryFreeBytes = 500L * 1024 * 1024 };
        Assert.True(await node.RunOnceAsync(lowDisk, Ct));
        var texts = (await receiver.Requests.WaitUntilAsync(r => r.Count == 3)).Select(r => r.Json["text"]!.GetValue<string>()).ToList();
        Assert.Contains(texts, t => t.Contains("HTTP 5xx error rate high", StringComparison.Ordinal) && t.Contains("20.0 %", StringComparison.Ordinal));
        Assert.Contains(texts, t => t.Contains("Commit latency p99 above target", StringComparison.Ordinal));
        Assert.Contains(texts, t => t.Contains("Disk space low", StringComparison.Ordinal) && t.Contains("500 MB free", StringComparison.Ordinal));

        // Past the measuring window (5 min) the old requests and commits no longer count; plenty of disk again.
        clock.Advance(TimeSpan.FromMinutes(6));
        Assert.True(await node.RunOnceAsync(OperationsSnapshot.Empty with { DataDirectoryFreeBytes = 50L * 1024 * 1024 * 1024 }, Ct));
        var resolved = (await receiver.Requests.WaitUntilAsync(r => r.Count == 6)).Skip(3).Select(r => r.Json["text"]!.GetValue<string>()).ToList();
        Assert.All(resolved, t => Assert.Contains("[RESOLVED]", t, StringComparison.Ordinal));
    }

    [Fact]
    public async Task AFailingChannel_IsRetriedWithBackoff_AndAHangingOne_HoldsUpNeitherTheOthersNorTheEvaluator()
    {
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage, Settings(
            ("Parley:Alerts:RetrySchedule:0", "00:00:00.100"), ("Parley:Alerts:RetrySchedule:1", "00:00:00.200"), ("Parley:Alerts:RequestTimeout", "00:01:00")));
        await using var hanging = await AlertReceiver.StartAsync();
        await using var failing = await AlertReceiver.StartAsync();
        await using var healthy = await AlertReceiver.StartAsync();
        hanging.Hold = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        failing.Status = 500;
        var (http, _) = await AgentClient.SignInAsync(server);
        using var _http = http;
        await CreateChannelAsync(http, new { kind = "slack", name = "hangs", url = hanging.Url("/services/hang") });
        await CreateChannelAsync(http, new { kind = "slack", name = "fails", url = failing.Url("/services/fail") });
        await CreateChannelAsync(http, new { kind = "slack", name = "works", url = healthy.Url("/services/ok") });
        (await http.PostAsJsonAsync("/api/v1/alerts/rules", new { kind = "queue_wait", threshold = 60 }, Ct)).EnsureSuccessStatusCode();

        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var evaluation = Evaluator(server, clock).RunOnceAsync(Snapshot(("general", 1, 120)), Ct);
        Assert.True(await evaluation.WaitAsync(TimeSpan.FromSeconds(30), Ct)); // returns with the hanging request still open

        await hanging.Requests.WaitUntilAsync(r => r.Count == 1);
        await healthy.Requests.WaitUntilAsync(r => r.Count == 1);
        Assert.False(hanging.Hold.Task.IsCompleted);

        // The failing channel: the first attempt and the two retries of the schedule, then it is given up.
        await failing.Requests.WaitUntilAsync(r => r.Count == 3);
        var sender = server.Services.GetRequiredService<AlertSender>();
        await Eventually.ValueAsync(() => Task.FromResult(sender.Pending), p => p == 1); // only the hanging one is left
        Assert.Equal(3, failing.Requests.Snapshot().Count);
        Assert.Single(healthy.Requests.Snapshot());

        hanging.Hold.TrySetResult();
        await Eventually.ValueAsync(() => Task.FromResult(sender.Pending), p => p == 0);
        Assert.Single(hanging.Requests.Snapshot());
    }

    private static AlertEvaluator Evaluator(ParleyServer server, TimeProvider clock, AlertSignals? signals = null)
    {
        var services = server.Services;
        var options = services.GetRequiredService<IOptions<AlertsOptions>>();
        return new AlertEvaluator(
            services.GetRequiredService<IServiceScopeFactory>(),
            services.GetRequiredService<ParleyMetrics>(),
            signals ?? new AlertSignals(clock, options, new DummyMeterFactory()),
            services.GetRequiredService<AlertSender>(),
            services.GetRequiredService<IAgentPresence>(),
            options,
            clock,
            services.GetRequiredService<IHostApplicationLifetime>(),
            services.GetRequiredService<ILogger<AlertEvaluator>>());
    }

    private static OperationsSnapshot Snapshot(params (string Department, int Depth, double Oldest)[] queues) =>
        OperationsSnapshot.Empty with { Queues = [.. queues.Select(q => new QueueSample(q.Department, q.Depth, q.Oldest))] };

    private static async Task<AlertChannelDto> CreateChannelAsync(HttpClient http, object body)
    {
        var response = await http.PostAsJsonAsync("/api/v1/alerts/channels", body, Ct);
        Assert.True(response.StatusCode == HttpStatusCode.Created, await response.Content.ReadAsStringAsync(Ct));
        return (await response.Content.ReadFromJsonAsync<AlertChannelDto>(Ct))!;
    }

    private static async Task<AlertSendResult> TestAsync(HttpClient http, AlertChannelDto channel)
    {
        var response = await http.PostAsync($"/api/v1/alerts/channels/{channel.Id}/test", null, Ct);
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync<AlertSendResult>(Ct))!;
    }

    /// <summary>Standard Webhooks' signature, computed here independently of the server's code.</summary>
    private static string ExpectedStandardSignature(string secret, string id, string timestamp, byte[] body)
    {
        var key = Convert.FromBase64String(secret["whsec_".Length..]);
        using var hmac = new HMACSHA256(key);
        return "v1," + Convert.ToBase64String(hmac.ComputeHash([.. Encoding.UTF8.GetBytes($"{id}.{timestamp}."), .. body]));
    }

    /// <summary>Meters nobody else uses: a test's signals hear only what the test records.</summary>
    private sealed class DummyMeterFactory : IMeterFactory
    {
        public Meter Create(MeterOptions options) => new(options.Name, options.Version, options.Tags, this);

        public void Dispose()
        {
        }
    }
}
