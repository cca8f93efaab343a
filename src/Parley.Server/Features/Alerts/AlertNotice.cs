using System.Globalization;

namespace Parley.Server.Features.Alerts;

public enum NoticeState
{
    Firing,
    Reminder,
    Resolved,
    Test,
}

/// <summary>What one notice says, before a channel formats it.</summary>
public sealed record AlertNotice(
    NoticeState State, string Rule, string Subject, double Value, double Threshold, string? Detail, DateTime StartedAt, DateTime At, long IncidentId, string Server)
{
    /// <summary>Stable per incident and state (the generic webhook's <c>webhook-id</c>; retries repeat it).</summary>
    public string Id => State == NoticeState.Test
        ? "alert_test_" + At.Ticks.ToString(CultureInfo.InvariantCulture)
        : string.Create(CultureInfo.InvariantCulture, $"alert_{IncidentId}_{StateName}_{At.Ticks}");

    public string StateName => State switch
    {
        NoticeState.Firing => "firing",
        NoticeState.Reminder => "reminder",
        NoticeState.Resolved => "resolved",
        _ => "test",
    };

    public static AlertNotice TestOf(string server, DateTime at) => new(NoticeState.Test, "test", server, 0, 0, null, at, at, 0, server);
}

/// <summary>The words of a notice in English and Simplified Chinese.</summary>
public static class AlertTexts
{
    public static bool Chinese(string language) => language.StartsWith("zh", StringComparison.OrdinalIgnoreCase);

    /// <summary>"[FIRING] Queue wait above target" and the like.</summary>
    public static string Title(AlertNotice n, string language)
    {
        var zh = Chinese(language);
        var state = n.State switch
        {
            NoticeState.Firing => zh ? "【告警】" : "[FIRING] ",
            NoticeState.Reminder => zh ? "【持续告警】" : "[STILL FIRING] ",
            NoticeState.Resolved => zh ? "【已恢复】" : "[RESOLVED] ",
            _ => zh ? "【测试】" : "[TEST] ",
        };
        return state + RuleName(n.Rule, zh);
    }

    public static string RuleName(string rule, bool zh) => rule switch
    {
        "queue_wait" => zh ? "排队等待超过目标" : "Queue wait above target",
        "no_agent_online" => zh ? "营业时间内没有客服在线" : "No agent online in business hours",
        "error_rate" => zh ? "HTTP 5xx 错误率过高" : "HTTP 5xx error rate high",
        "commit_latency" => zh ? "消息提交延迟 p99 超过目标" : "Commit latency p99 above target",
        "disk_space" => zh ? "磁盘空间不足" : "Disk space low",
        "webhook_disabled" => zh ? "Webhook 端点已被停用" : "Webhook endpoint disabled",
        _ => zh ? "Parley 测试告警" : "Test alert from Parley",
    };

    /// <summary>The sentence about the measured value; <paramref name="subject"/> is already escaped for the channel.</summary>
    public static string Body(AlertNotice n, string language, string subject, string? detail)
    {
        var zh = Chinese(language);
        var c = CultureInfo.InvariantCulture;
        return n.Rule switch
        {
            "queue_wait" => zh
                ? $"{subject}：等待最久的访客已等待 {Duration(n.Value, true)}（目标 {Duration(n.Threshold, true)}）"
                : $"{subject}: the longest-waiting visitor has waited {Duration(n.Value, false)} (target {Duration(n.Threshold, false)})",
            "no_agent_online" => zh ? $"{subject}：营业时间内，没有客服在线" : $"{subject}: open for business, but no agent is online",
            "error_rate" => zh
                ? string.Create(c, $"{subject}：最近 {n.Value:P1} 的请求以 5xx 失败（目标低于 {n.Threshold:P1}）")
                : string.Create(c, $"{subject}: {n.Value:P1} of recent requests failed with 5xx (target below {n.Threshold:P1})"),
            "commit_latency" => zh
                ? string.Create(c, $"{subject}：提交延迟 p99 为 {n.Value * 1000:0} ms（目标 {n.Threshold * 1000:0} ms）")
                : string.Create(c, $"{subject}: commit p99 is {n.Value * 1000:0} ms (target {n.Threshold * 1000:0} ms)"),
            "disk_space" => zh
                ? string.Create(c, $"{subject}：数据目录所在磁盘只剩 {n.Value:0} MB（目标至少 {n.Threshold:0} MB）")
                : string.Create(c, $"{subject}: {n.Value:0} MB free where the data directory lives (target at least {n.Threshold:0} MB)"),
            "webhook_disabled" => zh ? $"{subject}：{detail}" : $"{subject}: {detail}",
            _ => zh ? $"告警通道工作正常（来自 {subject}）。" : $"This alert channel works (sent by {subject}).",
        };
    }

    /// <summary>"Since", "Lasted" and "Server" lines.</summary>
    public static IEnumerable<string> Facts(AlertNotice n, string language, string server)
    {
        var zh = Chinese(language);
        if (n.State != NoticeState.Test)
        {
            yield return (zh ? "开始：" : "Since: ") + Time(n.StartedAt);
            if (n.State == NoticeState.Resolved)
            {
                yield return (zh ? "持续：" : "Lasted: ") + Duration((n.At - n.StartedAt).TotalSeconds, zh);
            }
        }

        yield return (zh ? "服务器：" : "Server: ") + server;
    }

    public static string Time(DateTime at) => at.ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture);

    public static string Duration(double seconds, bool zh)
    {
        var span = TimeSpan.FromSeconds(Math.Max(0, seconds));
        var c = CultureInfo.InvariantCulture;
        if (span.TotalMinutes < 1)
        {
            return zh ? string.Create(c, $"{span.Seconds} 秒") : string.Create(c, $"{span.Seconds} s");
        }

        if (span.TotalHours < 1)
        {
            return zh ? string.Create(c, $"{(int)span.TotalMinutes} 分 {span.Seconds} 秒") : string.Create(c, $"{(int)span.TotalMinutes} min {span.Seconds} s");
        }

        return zh ? string.Create(c, $"{(int)span.TotalHours} 小时 {span.Minutes} 分") : string.Create(c, $"{(int)span.TotalHours} h {span.Minutes} min");
    }
}
