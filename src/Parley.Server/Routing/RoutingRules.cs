using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Parley.Data;

namespace Parley.Server.Routing;

/// <summary>What routing knows about a new conversation; rules fill in the team and priority.</summary>
public sealed class RoutingContext
{
    public required Guid SiteId { get; init; }

    public required Guid ContactId { get; init; }

    /// <summary>The contact's custom attributes (a JSON object), when any.</summary>
    public string? ContactAttributesJson { get; init; }

    /// <summary>The browser language the widget reported (BCP 47, e.g. <c>zh-CN</c>), when known.</summary>
    public string? VisitorLanguage { get; init; }

    /// <summary>
    /// What the visitor wrote first, read by the AI engines, when routing waited for it (intent routing: the site's
    /// <c>firstMessageWaitSeconds</c>); null when routing runs before any message.
    /// </summary>
    public FirstMessage? FirstMessage { get; init; }

    /// <summary>The team to queue in; null is the general queue every online agent serves.</summary>
    public Guid? TeamId { get; set; }

    /// <summary>Higher is served first (the VIP lane).</summary>
    public int Priority { get; set; }

    /// <summary>The language to serve the visitor in: a <c>language</c> contact attribute, else <see cref="VisitorLanguage"/>.</summary>
    public string? Language
    {
        get => field ?? VisitorLanguage;
        set;
    }
}

/// <summary>The visitor's first message as routing sees it: its text, intent and sentiment (docs/routing.md).</summary>
/// <param name="Intent">complaint, consult, sales, after_sales, greeting or an admin-defined intent.</param>
/// <param name="SentimentLabel">very_negative, negative, neutral or positive.</param>
public sealed record FirstMessage(string Text, string Intent, double IntentConfidence, string SentimentLabel, double SentimentScore);

/// <summary>
/// A routing rule hook: runs, in registration order, when a conversation enters routing, and may choose its team
/// and priority. Intent-based (AI) routing plugs in here by registering another implementation (scoped service).
/// </summary>
public interface IRoutingRule
{
    ValueTask ApplyAsync(RoutingContext context, CancellationToken cancellationToken);
}

/// <summary>
/// The built-in rule: contact attributes set by the site (setUser) or the contacts API.
/// <c>priority</c> (integer) or <c>vip: true</c> (priority 10) pick the lane; <c>team</c> (a team id or name)
/// picks the department, which is how a site lets the visitor choose one; <c>language</c> overrides the browser's
/// language for <see cref="LanguageSkillRule"/>.
/// </summary>
internal sealed class ContactAttributesRule(ParleyDbContext db) : IRoutingRule
{
    public const int VipPriority = 10;

    public async ValueTask ApplyAsync(RoutingContext context, CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(context.ContactAttributesJson))
        {
            return;
        }

        JsonElement attributes;
        try
        {
            attributes = JsonDocument.Parse(context.ContactAttributesJson).RootElement;
        }
        catch (JsonException)
        {
            return;
        }

        if (attributes.ValueKind != JsonValueKind.Object)
        {
            return;
        }

        if (attributes.TryGetProperty("priority", out var p) && p.ValueKind == JsonValueKind.Number && p.TryGetInt32(out var priority))
        {
            context.Priority = Math.Clamp(priority, -100, 100);
        }
        else if (attributes.TryGetProperty("vip", out var vip) && vip.ValueKind == JsonValueKind.True)
        {
            context.Priority = VipPriority;
        }

        if (attributes.TryGetProperty("language", out var language) && language.ValueKind == JsonValueKind.String && language.GetString() is { Length: > 0 and <= 35 } tag)
        {
            context.Language = tag;
        }

        if (attributes.TryGetProperty("team", out var t) && t.ValueKind == JsonValueKind.String && t.GetString() is { Length: > 0 } team)
        {
            var id = Guid.TryParse(team, out var g)
                ? await db.Teams.Where(x => x.Id == g).Select(x => (Guid?)x.Id).FirstOrDefaultAsync(cancellationToken)
                : await db.Teams.Where(x => x.Name == team).Select(x => (Guid?)x.Id).FirstOrDefaultAsync(cancellationToken);
            context.TeamId = id ?? context.TeamId;
        }
    }
}

/// <summary>
/// Routes by language when no earlier rule chose a team: the team whose skills (space- or comma-separated, e.g.
/// <c>zh-CN en</c>) list the visitor's language exactly wins over one that lists only its primary language
/// (<c>zh</c> for <c>zh-TW</c>, or the other way round). When the site offers departments in its widget, only those
/// teams are candidates. Ties go to the older team, so the choice is the same on every node.
/// </summary>
internal sealed class LanguageSkillRule(ParleyDbContext db) : IRoutingRule
{
    public async ValueTask ApplyAsync(RoutingContext context, CancellationToken cancellationToken)
    {
        if (context.TeamId is not null || string.IsNullOrWhiteSpace(context.Language))
        {
            return;
        }

        var settingsJson = await db.Sites.AsNoTracking().Where(s => s.Id == context.SiteId).Select(s => s.WidgetSettingsJson).FirstOrDefaultAsync(cancellationToken);
        var departments = Features.Widget.WidgetSettings.Parse(settingsJson).Departments;
        var teams = await db.Teams.AsNoTracking().Where(t => t.Skills != null)
            .OrderBy(t => t.CreatedAt).ThenBy(t => t.Id)
            .Select(t => new { t.Id, t.Skills }).ToListAsync(cancellationToken);
        context.TeamId = teams
            .Where(t => departments.Count == 0 || departments.Contains(t.Id))
            .Select(t => (t.Id, Score: Score(context.Language, t.Skills!)))
            .Where(t => t.Score > 0)
            .OrderByDescending(t => t.Score) // stable: the older team first among equals
            .Select(t => (Guid?)t.Id)
            .FirstOrDefault();
    }

    /// <summary>2: a skill is the visitor's language tag; 1: they share the primary language; 0: no match.</summary>
    internal static int Score(string language, string skills)
    {
        var wanted = language.Trim();
        var primary = Primary(wanted);
        var best = 0;
        foreach (var skill in skills.Split([' ', ',', ';'], StringSplitOptions.RemoveEmptyEntries))
        {
            if (string.Equals(skill, wanted, StringComparison.OrdinalIgnoreCase))
            {
                return 2;
            }

            if (string.Equals(Primary(skill), primary, StringComparison.OrdinalIgnoreCase))
            {
                best = 1;
            }
        }

        return best;
    }

    private static string Primary(string tag) => tag.Split('-', '_')[0];
}
