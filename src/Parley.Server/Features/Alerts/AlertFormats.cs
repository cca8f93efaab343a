using System.Globalization;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Parley.Data;
using Parley.Webhooks;

namespace Parley.Server.Features.Alerts;

/// <summary>
/// The HTTP request each channel kind expects (pure, so each format is tested byte for byte):
/// <list type="bullet">
/// <item>webhook: a JSON document signed like Parley's webhooks (Standard Webhooks headers, HMAC-SHA256 over
/// <c>id.timestamp.body</c> with the channel's <c>whsec_</c> secret).</item>
/// <item>slack: an incoming webhook's <c>{"text": ...}</c> in Slack's mrkdwn.</item>
/// <item>wecom: a group robot's <c>{"msgtype":"markdown","markdown":{"content":...}}</c>.</item>
/// <item>dingtalk: a robot's <c>{"msgtype":"markdown","markdown":{"title":...,"text":...}}</c>, with
/// <c>&amp;timestamp=...&amp;sign=...</c> added when the robot has a signing secret (DingTalk's "加签").</item>
/// </list>
/// Names an admin typed (departments, endpoint descriptions) are neutralised for the channel's markup.
/// </summary>
public static class AlertFormats
{
    public sealed record Request(Uri Url, byte[] Body, IReadOnlyList<KeyValuePair<string, string>> Headers);

    public static Request Build(AlertChannel channel, AlertNotice notice, DateTimeOffset now)
    {
        var language = channel.Language;
        var title = AlertTexts.Title(notice, language);
        switch (channel.Kind)
        {
            case AlertChannelKinds.Webhook:
                {
                    var body = WebhookBody(notice, language, now);
                    var timestamp = now.ToUnixTimeSeconds();
                    var headers = new List<KeyValuePair<string, string>>
                    {
                        new(WebhookSignature.IdHeader, notice.Id),
                        new(WebhookSignature.TimestampHeader, timestamp.ToString(CultureInfo.InvariantCulture)),
                    };
                    if (channel.Secret is { Length: > 0 } secret)
                    {
                        headers.Add(new(WebhookSignature.SignatureHeader, WebhookSignature.Sign(secret, notice.Id, timestamp, body)));
                    }

                    return new Request(new Uri(channel.Url), body, headers);
                }

            case AlertChannelKinds.Slack:
                {
                    var icon = notice.State switch { NoticeState.Resolved => ":large_green_circle:", NoticeState.Test => ":information_source:", _ => ":red_circle:" };
                    var lines = new List<string> { $"{icon} *{SlackEscape(title)}*", AlertTexts.Body(notice, language, SlackEscape(notice.Subject), SlackEscape(notice.Detail)) };
                    lines.AddRange(AlertTexts.Facts(notice, language, SlackEscape(notice.Server)));
                    return Json(channel.Url, new { text = string.Join('\n', lines) });
                }

            case AlertChannelKinds.WeCom:
                {
                    var color = notice.State switch { NoticeState.Resolved => "info", NoticeState.Test => "comment", _ => "warning" };
                    var lines = new List<string> { $"**<font color=\"{color}\">{Neutral(title)}</font>**", AlertTexts.Body(notice, language, Neutral(notice.Subject), Neutral(notice.Detail)) };
                    lines.AddRange(AlertTexts.Facts(notice, language, Neutral(notice.Server)).Select(f => $"> {f}"));
                    return Json(channel.Url, new { msgtype = "markdown", markdown = new { content = string.Join('\n', lines) } });
                }

            case AlertChannelKinds.DingTalk:
                {
                    var lines = new List<string> { $"### {Neutral(title)}", "", AlertTexts.Body(notice, language, Neutral(notice.Subject), Neutral(notice.Detail)), "" };
                    lines.AddRange(AlertTexts.Facts(notice, language, Neutral(notice.Server)).Select(f => $"- {f}"));
                    var url = channel.Secret is { Length: > 0 } secret ? DingTalkSigned(channel.Url, secret, now) : channel.Url;
                    return Json(url, new { msgtype = "markdown", markdown = new { title = Neutral(title), text = string.Join('\n', lines) } });
                }

            default:
                throw new InvalidOperationException($"Unknown alert channel kind '{channel.Kind}'.");
        }
    }

    /// <summary>
    /// DingTalk's signature: <c>sign</c> = URL-encoded base64 of HMAC-SHA256 over <c>"{timestamp}\n{secret}"</c> keyed
    /// with the secret, <c>timestamp</c> in milliseconds; both added to the robot's URL.
    /// </summary>
    public static string DingTalkSign(string secret, long timestampMs)
    {
        var key = Encoding.UTF8.GetBytes(secret);
        var data = Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"{timestampMs}\n{secret}"));
        return Convert.ToBase64String(HMACSHA256.HashData(key, data));
    }

    public static string DingTalkSigned(string url, string secret, DateTimeOffset now)
    {
        var timestamp = now.ToUnixTimeMilliseconds();
        var separator = url.Contains('?', StringComparison.Ordinal) ? '&' : '?';
        return string.Create(CultureInfo.InvariantCulture, $"{url}{separator}timestamp={timestamp}&sign={Uri.EscapeDataString(DingTalkSign(secret, timestamp))}");
    }

    /// <summary>
    /// Whether the receiver accepted the notice: a 2xx, and for WeCom and DingTalk (which answer 200 to everything)
    /// also <c>errcode</c> 0 in the JSON answer.
    /// </summary>
    public static (bool Ok, string? Error) Accepted(string kind, int status, string body)
    {
        if (status is < 200 or >= 300)
        {
            return (false, string.Create(CultureInfo.InvariantCulture, $"HTTP {status}"));
        }

        if (kind is AlertChannelKinds.WeCom or AlertChannelKinds.DingTalk)
        {
            try
            {
                using var json = JsonDocument.Parse(body);
                if (json.RootElement.ValueKind == JsonValueKind.Object && json.RootElement.TryGetProperty("errcode", out var code)
                    && code.ValueKind == JsonValueKind.Number && code.TryGetInt64(out var value) && value != 0)
                {
                    var message = json.RootElement.TryGetProperty("errmsg", out var m) ? m.ToString() : "";
                    return (false, string.Create(CultureInfo.InvariantCulture, $"errcode {value}: {message}"));
                }
            }
            catch (JsonException)
            {
                return (false, "The answer is not the robot's JSON.");
            }
        }

        return (true, null);
    }

    public static void Apply(Request request, HttpRequestMessage message)
    {
        message.Content = new ByteArrayContent(request.Body);
        message.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json") { CharSet = "utf-8" };
        foreach (var (name, value) in request.Headers)
        {
            message.Headers.TryAddWithoutValidation(name, value);
        }

        message.Headers.UserAgent.ParseAdd("Parley-Alerts/1");
    }

    private static byte[] WebhookBody(AlertNotice n, string language, DateTimeOffset now) =>
        JsonSerializer.SerializeToUtf8Bytes(new
        {
            id = n.Id,
            type = "alert." + n.StateName,
            rule = n.Rule,
            subject = n.Subject,
            value = n.Value,
            threshold = n.Threshold,
            detail = n.Detail,
            title = AlertTexts.Title(n, language),
            text = AlertTexts.Body(n, language, n.Subject, n.Detail),
            startedAt = n.StartedAt,
            resolvedAt = n.State == NoticeState.Resolved ? n.At : (DateTime?)null,
            incidentId = n.IncidentId == 0 ? (long?)null : n.IncidentId,
            server = n.Server,
            timestamp = now.UtcDateTime,
        }, JsonSerializerOptions.Web);

    private static Request Json(string url, object payload) =>
        new(new Uri(url), JsonSerializer.SerializeToUtf8Bytes(payload, JsonSerializerOptions.Web), []);

    /// <summary>Slack's three escapes (&amp;, &lt;, &gt;): a name cannot become a link or a mention.</summary>
    private static string SlackEscape(string? text) =>
        (text ?? "").Replace("&", "&amp;", StringComparison.Ordinal).Replace("<", "&lt;", StringComparison.Ordinal).Replace(">", "&gt;", StringComparison.Ordinal);

    /// <summary>
    /// WeCom's and DingTalk's markdown have no escape character: markup characters in a name become their full-width
    /// forms, so a department called "**x**" or "&lt;font&gt;" reads as typed and styles nothing.
    /// </summary>
    private static string Neutral(string? text)
    {
        var builder = new StringBuilder(text?.Length ?? 0);
        foreach (var ch in text ?? "")
        {
            builder.Append(ch switch
            {
                '*' => '＊',
                '_' => '＿',
                '[' => '［',
                ']' => '］',
                '`' => '｀',
                '#' => '＃',
                '<' => '＜',
                '>' => '＞',
                '\n' or '\r' => ' ',
                _ => ch,
            });
        }

        return builder.ToString();
    }
}
