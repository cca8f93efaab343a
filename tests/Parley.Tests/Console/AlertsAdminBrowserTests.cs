using System.Net.Http.Json;
using Microsoft.Playwright;
using Parley.Server.Features.Alerts;
using Parley.Tests.E2E;
using Parley.Tests.Infrastructure;
using Parley.Tests.Operations;

namespace Parley.Tests.Console;

/// <summary>The alerts settings page in real Chromium (zh-CN), against a WeCom-shaped receiver on loopback.</summary>
public sealed class AlertsAdminBrowserTests(BrowserFixture browser) : IClassFixture<BrowserFixture>
{
    private const int Timeout = 20_000;
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Admin_AddsAWeComChannel_SendsATestAlert_AndAddsARule_InChinese()
    {
        browser.SkipIfUnavailable();
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage, new Dictionary<string, string?>
        {
            ["Parley:Alerts:Enabled"] = "false",
            ["Parley:Alerts:AllowPrivateTargets"] = "true", // the receiver listens on loopback
        });
        await using var receiver = await AlertReceiver.StartAsync();
        using var http = (await AgentClient.SignInAsync(server)).Http;
        (await http.PostAsJsonAsync("/api/v1/teams", new { name = "售后" }, Ct)).EnsureSuccessStatusCode();

        await using var context = await browser.Browser.NewContextAsync(new() { Locale = "zh-CN", ViewportSize = new() { Width = 1440, Height = 1000 } });
        var page = await ConsolePage.SignInAsync(context, server);
        await ConsolePage.NavigateAsync(page, "nav-alerts");
        await Assertions.Expect(page.GetByTestId("nav-alerts")).ToHaveTextAsync("告警");
        await Assertions.Expect(page.GetByTestId("alerts-admin")).ToContainTextAsync("还没有通道", new() { Timeout = Timeout });

        // A WeCom URL without its key is refused before sending, with the server's code and the Chinese text.
        await page.GetByTestId("alert-channel-new").ClickAsync();
        await page.GetByTestId("alert-channel-kind").SelectOptionAsync("wecom");
        await page.GetByTestId("alert-channel-name").FillAsync("运维群");
        await page.GetByTestId("alert-channel-url").FillAsync(receiver.Url("/cgi-bin/webhook/send"));
        await page.GetByTestId("alert-channel-save").ClickAsync();
        var error = page.GetByTestId("alert-error");
        await Assertions.Expect(error).ToHaveAttributeAsync("data-code", "alert_channel_invalid");
        await Assertions.Expect(error).ToContainTextAsync("企业微信需带 key");

        // One only the server can refuse (a cloud metadata address, refused whatever the settings).
        await page.GetByTestId("alert-channel-url").FillAsync("http://169.254.169.254/cgi-bin/webhook/send?key=x");
        await page.GetByTestId("alert-channel-save").ClickAsync();
        await Assertions.Expect(error).ToHaveAttributeAsync("data-code", "alert_target_forbidden", new() { Timeout = Timeout });

        await page.GetByTestId("alert-channel-url").FillAsync(receiver.Url("/cgi-bin/webhook/send?key=wecom-robot-key"));
        await page.GetByTestId("alert-channel-save").ClickAsync();
        await Assertions.Expect(page.GetByTestId("alert-status")).ToHaveTextAsync("通道已添加。", new() { Timeout = Timeout });
        var row = page.GetByTestId("alert-channel-row");
        await Assertions.Expect(row).ToHaveCountAsync(1);
        await Assertions.Expect(row.GetByTestId("alert-channel-url-masked")).ToContainTextAsync("…-key");
        await Assertions.Expect(row.GetByTestId("alert-channel-url-masked")).Not.ToContainTextAsync("wecom-robot");
        Assert.Equal("zh-CN", Assert.Single((await http.GetFromJsonAsync<List<AlertChannelDto>>("/api/v1/alerts/channels", Ct))!).Language);

        // "Send test alert": the robot gets WeCom markdown in Chinese, and the page says it was delivered.
        await row.GetByTestId("alert-channel-test").ClickAsync();
        var result = row.GetByTestId("alert-channel-test-result");
        await Assertions.Expect(result).ToHaveAttributeAsync("data-ok", "true", new() { Timeout = Timeout });
        await Assertions.Expect(result).ToContainTextAsync("已送达");
        var sent = Assert.Single(await receiver.Requests.WaitUntilAsync(r => r.Count == 1));
        Assert.Equal("markdown", sent.Json["msgtype"]!.GetValue<string>());
        Assert.Contains("【测试】Parley 测试告警", sent.Json["markdown"]!["content"]!.GetValue<string>(), StringComparison.Ordinal);

        // A robot that refuses (errcode) is shown as not delivered, with its reason.
        receiver.Answer = """{"errcode":93000,"errmsg":"invalid webhook url"}""";
        await row.GetByTestId("alert-channel-test").ClickAsync();
        await Assertions.Expect(result).ToHaveAttributeAsync("data-ok", "false", new() { Timeout = Timeout });
        await Assertions.Expect(result).ToContainTextAsync("93000");

        // A rule: queue wait in one department above 120 s, reminded every 30 minutes.
        await page.GetByTestId("alert-rule-new").ClickAsync();
        await page.GetByTestId("alert-rule-kind").SelectOptionAsync("queue_wait");
        await page.GetByTestId("alert-rule-team").SelectOptionAsync(new SelectOptionValue { Label = "售后" });
        await page.GetByTestId("alert-rule-threshold").FillAsync("120");
        await page.GetByTestId("alert-rule-renotify").FillAsync("30");
        await page.GetByTestId("alert-rule-save").ClickAsync();
        await Assertions.Expect(page.GetByTestId("alert-status")).ToHaveTextAsync("规则已添加。", new() { Timeout = Timeout });
        var ruleRow = page.GetByTestId("alert-rule-row");
        await Assertions.Expect(ruleRow).ToContainTextAsync("排队等待超过 120 秒");
        await Assertions.Expect(ruleRow).ToContainTextAsync("售后");
        var rule = Assert.Single((await http.GetFromJsonAsync<List<AlertRuleDto>>("/api/v1/alerts/rules", Ct))!);
        Assert.Equal(("queue_wait", 120d, 30, "售后"), (rule.Kind, rule.Threshold, rule.RenotifyMinutes, rule.TeamName));

        // An out-of-range threshold is the server's refusal, shown the same way.
        await page.GetByTestId("alert-rule-new").ClickAsync();
        await page.GetByTestId("alert-rule-kind").SelectOptionAsync("error_rate");
        await page.GetByTestId("alert-rule-threshold").FillAsync("5");
        await page.GetByTestId("alert-rule-save").ClickAsync();
        await Assertions.Expect(error).ToHaveAttributeAsync("data-code", "alert_rule_invalid", new() { Timeout = Timeout });
        await page.Keyboard.PressAsync("Escape");
        await page.ScreenshotAsync(new() { Path = Screenshots.PathOf("console-alerts.png"), FullPage = true });

        // Switch a rule off, delete the channel after confirming.
        await ruleRow.GetByTestId("alert-rule-toggle").ClickAsync();
        await Assertions.Expect(ruleRow).ToHaveClassAsync(new System.Text.RegularExpressions.Regex("off"), new() { Timeout = Timeout });
        Assert.False(Assert.Single((await http.GetFromJsonAsync<List<AlertRuleDto>>("/api/v1/alerts/rules", Ct))!).Enabled);
        await row.GetByTestId("alert-channel-delete").ClickAsync();
        await page.GetByTestId("confirm-ok").ClickAsync();
        await Assertions.Expect(page.GetByTestId("alert-channel-row")).ToHaveCountAsync(0, new() { Timeout = Timeout });
        Assert.Empty((await http.GetFromJsonAsync<List<AlertChannelDto>>("/api/v1/alerts/channels", Ct))!);
    }
}
