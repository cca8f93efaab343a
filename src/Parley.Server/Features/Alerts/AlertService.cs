using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Parley.Data;
using Parley.Server.Features.Access;
using Parley.Server.Features.Webhooks;
using Parley.Server.Infrastructure;
using Parley.Webhooks;

namespace Parley.Server.Features.Alerts;

/// <summary>
/// A channel as admins see it. The chat apps' URLs carry the robot's token and every secret is write-only, so the
/// URL comes back masked (<c>https://qyapi.weixin.qq.com/…a1b2</c>) and a secret only as <see cref="HasSecret"/>;
/// the generic webhook's URL is shown in full (its secret is separate). <see cref="Secret"/> is filled once: in the
/// answer that created a webhook channel whose secret the server generated.
/// </summary>
public sealed record AlertChannelDto(
    Guid Id, string Kind, string Name, string Url, string Language, bool HasSecret, bool Enabled, DateTime CreatedAt, DateTime UpdatedAt, string? Secret = null)
{
    public static AlertChannelDto From(AlertChannel c, string? secret = null) =>
        new(c.Id, c.Kind, c.Name, Mask(c), c.Language, c.Secret is { Length: > 0 }, c.Enabled, c.CreatedAt, c.UpdatedAt, secret);

    public static string Mask(AlertChannel c)
    {
        if (c.Kind == AlertChannelKinds.Webhook || !Uri.TryCreate(c.Url, UriKind.Absolute, out var uri))
        {
            return c.Url;
        }

        return $"{uri.Scheme}://{uri.Authority}/…{c.Url[^Math.Min(4, c.Url.Length)..]}";
    }
}

public sealed record CreateAlertChannelRequest(string? Kind, string? Name, string? Url, string? Secret = null, string? Language = null, bool Enabled = true);

/// <summary>Omitted fields stay; <c>secret: ""</c> removes a DingTalk robot's signing secret.</summary>
public sealed record UpdateAlertChannelRequest(string? Name = null, string? Url = null, string? Secret = null, string? Language = null, bool? Enabled = null);

public sealed record AlertRuleDto(
    Guid Id, string Kind, Guid? TeamId, string? TeamName, double Threshold, int RenotifyMinutes, bool Enabled, DateTime CreatedAt, DateTime UpdatedAt);

public sealed record CreateAlertRuleRequest(string? Kind, Guid? TeamId = null, double? Threshold = null, int? RenotifyMinutes = null, bool Enabled = true);

public sealed record UpdateAlertRuleRequest(double? Threshold = null, int? RenotifyMinutes = null, bool? Enabled = null);

public sealed record AlertIncidentDto(
    long Id, Guid RuleId, string Kind, string Subject, double Value, string? Detail, DateTime StartedAt, DateTime LastSeenAt,
    DateTime? NotifiedAt, int Notices, DateTime? ResolvedAt);

/// <summary>What the settings page offers: the kinds with their threshold's default and bounds.</summary>
public sealed record AlertRuleKindDto(string Kind, double DefaultThreshold, double Min, double Max, bool HasThreshold, bool PerDepartment);

/// <summary>Admin settings of alerts: channels, rules, the test button and the recent episodes. Every change is audited.</summary>
public sealed class AlertService(ParleyDbContext db, AuditLog audit, AlertSender sender, IOptions<AlertsOptions> options, TimeProvider time)
{
    public const int MaxRenotifyMinutes = 7 * 24 * 60;

    public async Task<List<AlertChannelDto>> ChannelsAsync(CancellationToken cancellationToken) =>
        (await db.AlertChannels.AsNoTracking().OrderBy(c => c.CreatedAt).ToListAsync(cancellationToken)).ConvertAll(c => AlertChannelDto.From(c));

    public async Task<AlertChannelDto> CreateChannelAsync(CreateAlertChannelRequest request, CancellationToken cancellationToken)
    {
        var kind = request.Kind?.Trim().ToLowerInvariant();
        if (kind is null || !AlertChannelKinds.All.Contains(kind))
        {
            throw Invalid("'kind' must be webhook, slack, wecom or dingtalk.");
        }

        var now = time.GetUtcNow().UtcDateTime;
        var channel = new AlertChannel
        {
            Id = Guid.CreateVersion7(),
            Kind = kind,
            Name = Name(request.Name),
            Url = await UrlAsync(kind, request.Url, cancellationToken),
            Language = Language(request.Language),
            Enabled = request.Enabled,
            CreatedAt = now,
            UpdatedAt = now,
        };
        string? generated = null;
        channel.Secret = Secret(kind, request.Secret);
        if (kind == AlertChannelKinds.Webhook && channel.Secret is null)
        {
            channel.Secret = generated = WebhookSignature.NewSecret();
        }

        db.AlertChannels.Add(channel);
        audit.StageByCaller("alert.channel_created", "alert_channel", channel.Id.ToString(), AuditLog.Change(null, Snapshot(channel)));
        await db.SaveChangesAsync(cancellationToken);
        return AlertChannelDto.From(channel, generated);
    }

    public async Task<AlertChannelDto> UpdateChannelAsync(Guid id, UpdateAlertChannelRequest request, CancellationToken cancellationToken)
    {
        var channel = await db.AlertChannels.FirstOrDefaultAsync(c => c.Id == id, cancellationToken) ?? throw new ParleyException(ErrorCatalogue.AlertChannelNotFound);
        var before = Snapshot(channel);
        if (request.Name is not null)
        {
            channel.Name = Name(request.Name);
        }

        if (request.Url is not null)
        {
            channel.Url = await UrlAsync(channel.Kind, request.Url, cancellationToken);
        }

        if (request.Secret is not null)
        {
            channel.Secret = request.Secret.Length == 0 && channel.Kind == AlertChannelKinds.DingTalk ? null : Secret(channel.Kind, request.Secret);
        }

        if (request.Language is not null)
        {
            channel.Language = Language(request.Language);
        }

        if (request.Enabled is { } enabled)
        {
            channel.Enabled = enabled;
        }

        channel.UpdatedAt = time.GetUtcNow().UtcDateTime;
        audit.StageByCaller("alert.channel_updated", "alert_channel", channel.Id.ToString(), AuditLog.Change(before, Snapshot(channel)));
        await db.SaveChangesAsync(cancellationToken);
        return AlertChannelDto.From(channel);
    }

    public async Task DeleteChannelAsync(Guid id, CancellationToken cancellationToken)
    {
        var channel = await db.AlertChannels.FirstOrDefaultAsync(c => c.Id == id, cancellationToken) ?? throw new ParleyException(ErrorCatalogue.AlertChannelNotFound);
        db.AlertChannels.Remove(channel);
        audit.StageByCaller("alert.channel_deleted", "alert_channel", id.ToString(), AuditLog.Change(Snapshot(channel), null));
        await db.SaveChangesAsync(cancellationToken);
    }

    /// <summary>Sends a test notice now, once, and answers what the receiver said (no retry: the admin is watching).</summary>
    public async Task<AlertSendResult> TestChannelAsync(Guid id, CancellationToken cancellationToken)
    {
        var channel = await db.AlertChannels.AsNoTracking().FirstOrDefaultAsync(c => c.Id == id, cancellationToken) ?? throw new ParleyException(ErrorCatalogue.AlertChannelNotFound);
        var result = await sender.SendOnceAsync(channel, AlertNotice.TestOf(AlertEvaluator.NodeName, time.GetUtcNow().UtcDateTime), cancellationToken);
        await audit.RecordByCallerAsync("alert.channel_tested", "alert_channel", id.ToString(), new { result.Ok, result.Status, result.Error }, cancellationToken);
        return result;
    }

    public async Task<List<AlertRuleDto>> RulesAsync(CancellationToken cancellationToken)
    {
        var rows = await (from r in db.AlertRules.AsNoTracking()
                          join t in db.Teams.AsNoTracking() on r.TeamId equals t.Id into teams
                          from t in teams.DefaultIfEmpty()
                          orderby r.CreatedAt
                          select new { r, TeamName = t == null ? null : t.Name }).ToListAsync(cancellationToken);
        return rows.ConvertAll(x => ToDto(x.r, x.TeamName));
    }

    public async Task<AlertRuleDto> CreateRuleAsync(CreateAlertRuleRequest request, CancellationToken cancellationToken)
    {
        var kind = AlertRuleKinds.Find(request.Kind?.Trim().ToLowerInvariant())
            ?? throw RuleInvalid("'kind' must be one of " + string.Join(", ", AlertRuleKinds.All.Select(k => k.Name)) + ".");
        string? teamName = null;
        if (request.TeamId is { } teamId)
        {
            if (!kind.PerDepartment)
            {
                throw RuleInvalid($"A {kind.Name} rule watches the whole server; it takes no department.");
            }

            teamName = await db.Teams.AsNoTracking().Where(t => t.Id == teamId).Select(t => t.Name).FirstOrDefaultAsync(cancellationToken)
                ?? throw new ParleyException(ErrorCatalogue.TeamNotFound);
        }

        var now = time.GetUtcNow().UtcDateTime;
        var rule = new AlertRule
        {
            Id = Guid.CreateVersion7(),
            Kind = kind.Name,
            TeamId = request.TeamId,
            Threshold = Threshold(kind, request.Threshold ?? kind.DefaultThreshold),
            RenotifyMinutes = Renotify(request.RenotifyMinutes ?? 0),
            Enabled = request.Enabled,
            CreatedAt = now,
            UpdatedAt = now,
        };
        db.AlertRules.Add(rule);
        audit.StageByCaller("alert.rule_created", "alert_rule", rule.Id.ToString(), AuditLog.Change(null, Snapshot(rule)));
        await db.SaveChangesAsync(cancellationToken);
        return ToDto(rule, teamName);
    }

    public async Task<AlertRuleDto> UpdateRuleAsync(Guid id, UpdateAlertRuleRequest request, CancellationToken cancellationToken)
    {
        var rule = await db.AlertRules.FirstOrDefaultAsync(r => r.Id == id, cancellationToken) ?? throw new ParleyException(ErrorCatalogue.AlertRuleNotFound);
        var before = Snapshot(rule);
        var kind = AlertRuleKinds.Find(rule.Kind)!;
        if (request.Threshold is { } threshold)
        {
            rule.Threshold = Threshold(kind, threshold);
        }

        if (request.RenotifyMinutes is { } renotify)
        {
            rule.RenotifyMinutes = Renotify(renotify);
        }

        if (request.Enabled is { } enabled)
        {
            rule.Enabled = enabled;
        }

        rule.UpdatedAt = time.GetUtcNow().UtcDateTime;
        audit.StageByCaller("alert.rule_updated", "alert_rule", rule.Id.ToString(), AuditLog.Change(before, Snapshot(rule)));
        await db.SaveChangesAsync(cancellationToken);
        var teamName = rule.TeamId is { } teamId ? await db.Teams.AsNoTracking().Where(t => t.Id == teamId).Select(t => t.Name).FirstOrDefaultAsync(cancellationToken) : null;
        return ToDto(rule, teamName);
    }

    public async Task DeleteRuleAsync(Guid id, CancellationToken cancellationToken)
    {
        var rule = await db.AlertRules.FirstOrDefaultAsync(r => r.Id == id, cancellationToken) ?? throw new ParleyException(ErrorCatalogue.AlertRuleNotFound);
        db.AlertRules.Remove(rule);
        audit.StageByCaller("alert.rule_deleted", "alert_rule", id.ToString(), AuditLog.Change(Snapshot(rule), null));
        await db.SaveChangesAsync(cancellationToken);
    }

    public async Task<List<AlertIncidentDto>> IncidentsAsync(int limit, CancellationToken cancellationToken)
    {
        var take = Math.Clamp(limit, 1, 200);
        var rows = await (from i in db.AlertIncidents.AsNoTracking()
                          join r in db.AlertRules.AsNoTracking() on i.RuleId equals r.Id
                          orderby i.Id descending
                          select new { i, r.Kind }).Take(take).ToListAsync(cancellationToken);
        return rows.ConvertAll(x => new AlertIncidentDto(x.i.Id, x.i.RuleId, x.Kind, x.i.Subject, x.i.Value, x.i.Detail, x.i.StartedAt, x.i.LastSeenAt, x.i.NotifiedAt, x.i.Notices, x.i.ResolvedAt));
    }

    public static IReadOnlyList<AlertRuleKindDto> Kinds { get; } =
        [.. AlertRuleKinds.All.Select(k => new AlertRuleKindDto(k.Name, k.DefaultThreshold, k.Min, k.Max, k.HasThreshold, k.PerDepartment))];

    private static AlertRuleDto ToDto(AlertRule r, string? teamName) =>
        new(r.Id, r.Kind, r.TeamId, teamName, r.Threshold, r.RenotifyMinutes, r.Enabled, r.CreatedAt, r.UpdatedAt);

    /// <summary>What the audit log keeps of a channel: never its secret, and the chat apps' URL only masked.</summary>
    private static object Snapshot(AlertChannel c) => new { c.Kind, c.Name, Url = AlertChannelDto.Mask(c), c.Language, HasSecret = c.Secret is { Length: > 0 }, c.Enabled };

    private static object Snapshot(AlertRule r) => new { r.Kind, r.TeamId, r.Threshold, r.RenotifyMinutes, r.Enabled };

    private static ParleyException Invalid(string message) => new(ErrorCatalogue.AlertChannelInvalid, message);

    private static ParleyException RuleInvalid(string message) => new(ErrorCatalogue.AlertRuleInvalid, message);

    private static string Name(string? value)
    {
        var name = value?.Trim();
        if (string.IsNullOrEmpty(name) || name.Length > 200 || !TextInput.IsAllowed(name, multiline: false))
        {
            throw Invalid("'name' must be 1 to 200 characters on one line.");
        }

        return name;
    }

    private static string Language(string? value) => value switch
    {
        null or "" or "en" => "en",
        "zh-CN" or "zh" => "zh-CN",
        _ => throw Invalid("'language' must be en or zh-CN."),
    };

    private static string? Secret(string kind, string? value)
    {
        if (value is null)
        {
            return null;
        }

        switch (kind)
        {
            case AlertChannelKinds.Webhook:
                if (!value.StartsWith(WebhookSignature.SecretPrefix, StringComparison.Ordinal) || value.Length > 200
                    || !Convert.TryFromBase64String(value[WebhookSignature.SecretPrefix.Length..], new byte[value.Length], out var bytes) || bytes < 16)
                {
                    throw Invalid("A webhook channel's secret is whsec_ followed by at least 16 bytes in base64 (leave it out to have one generated).");
                }

                return value;
            case AlertChannelKinds.DingTalk:
                if (value.Length is 0 or > 200 || value.Any(char.IsWhiteSpace) || !TextInput.IsAllowed(value, multiline: false))
                {
                    throw Invalid("A DingTalk signing secret is the robot's SEC... text, without spaces.");
                }

                return value;
            default:
                throw Invalid($"A {kind} channel has no secret: its URL carries the token.");
        }
    }

    /// <summary>
    /// Absolute http(s) URL without credentials, checked against the SSRF guard as webhooks are; WeCom's must carry
    /// its <c>key</c> and DingTalk's its <c>access_token</c>.
    /// </summary>
    private async Task<string> UrlAsync(string kind, string? value, CancellationToken cancellationToken)
    {
        if (!Uri.TryCreate(value?.Trim(), UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttps && uri.Scheme != Uri.UriSchemeHttp)
            || !string.IsNullOrEmpty(uri.UserInfo) || uri.AbsoluteUri.Length > 2000)
        {
            throw Invalid("The URL must be an absolute http or https URL without credentials, at most 2000 characters.");
        }

        var query = System.Web.HttpUtility.ParseQueryString(uri.Query);
        if (kind == AlertChannelKinds.WeCom && string.IsNullOrEmpty(query["key"]))
        {
            throw Invalid("A WeCom robot's URL carries its key: https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=...");
        }

        if (kind == AlertChannelKinds.DingTalk && string.IsNullOrEmpty(query["access_token"]))
        {
            throw Invalid("A DingTalk robot's URL carries its access_token: https://oapi.dingtalk.com/robot/send?access_token=...");
        }

        try
        {
            await SsrfGuard.ResolveAsync(uri.IdnHost, options.Value.AllowPrivateTargets, cancellationToken);
        }
        catch (TargetForbiddenException ex)
        {
            throw new ParleyException(ErrorCatalogue.AlertTargetForbidden, ex.Message);
        }
        catch (System.Net.Sockets.SocketException)
        {
            // Not resolvable now: sending will fail, retry and log; the test button shows it at once.
        }

        return uri.AbsoluteUri;
    }

    private static double Threshold(AlertRuleKind kind, double value)
    {
        if (!kind.HasThreshold)
        {
            return 0;
        }

        if (double.IsNaN(value) || value < kind.Min || value > kind.Max)
        {
            throw RuleInvalid(FormattableString.Invariant($"A {kind.Name} threshold must lie between {kind.Min} and {kind.Max}."));
        }

        return value;
    }

    private static int Renotify(int minutes) =>
        minutes is >= 0 and <= MaxRenotifyMinutes ? minutes : throw RuleInvalid($"'renotifyMinutes' must lie between 0 (once per episode) and {MaxRenotifyMinutes}.");
}
