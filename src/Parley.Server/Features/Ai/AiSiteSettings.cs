using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.EntityFrameworkCore;
using Parley.Data;
using Parley.Server.Infrastructure;

namespace Parley.Server.Features.Ai;

/// <summary>
/// A site's settings for reading visitors (stored as <see cref="Site.AiSettingsJson"/>; docs/ai.md, docs/routing.md):
/// how long routing waits for the first visitor message, which team serves which intent, the priority boost of
/// complaints and strongly negative visitors, and the human-takeover thresholds.
/// </summary>
public sealed partial record AiSiteSettings
{
    public const int MaxWaitSeconds = 300;

    /// <summary>The largest takeover window (visitor messages looked at) a site may set.</summary>
    public const int MaxTakeoverWindow = 30;

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public static readonly AiSiteSettings Default = new();

    /// <summary>
    /// Seconds a new conversation waits for the visitor's first message before routing (so routing can read it);
    /// 0 routes at once, before any message, as before intent routing existed. A greeting-only message waits for
    /// the next message within the same bound.
    /// </summary>
    public int FirstMessageWaitSeconds { get; init; }

    /// <summary>Intent → team id: the team that serves conversations about it (unless the visitor chose a department).</summary>
    public IReadOnlyDictionary<string, Guid> IntentTeams { get; init; } = new Dictionary<string, Guid>();

    /// <summary>Priority added when the visitor complains or is strongly negative (VIP is +10); 0 turns it off.</summary>
    public int ComplaintPriorityBoost { get; init; } = 5;

    /// <summary>Human-takeover thresholds of this site.</summary>
    public TakeoverSettings Takeover { get; init; } = new();

    /// <summary>The settings of one site; defaults when none or unreadable.</summary>
    public static AiSiteSettings Parse(string? json)
    {
        if (string.IsNullOrEmpty(json))
        {
            return Default;
        }

        try
        {
            return JsonSerializer.Deserialize<AiSiteSettings>(json, Json) ?? Default;
        }
        catch (JsonException)
        {
            return Default;
        }
    }

    public static async Task<AiSiteSettings> LoadAsync(ParleyDbContext db, Guid siteId, CancellationToken cancellationToken) =>
        Parse(await db.Sites.AsNoTracking().Where(s => s.Id == siteId).Select(s => s.AiSettingsJson).FirstOrDefaultAsync(cancellationToken));

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    /// <summary>The team and priority boost for a conversation about <paramref name="intent"/> in this mood.</summary>
    public (Guid? TeamId, int Boost) Route(string? intent, string? sentimentLabel) =>
        (intent is not null && IntentTeams.TryGetValue(intent, out var team) ? team : null,
         intent == "complaint" || sentimentLabel == "very_negative" ? ComplaintPriorityBoost : 0);

    /// <summary>Throws <see cref="ParleyException"/> (invalid_settings) naming the first bad value.</summary>
    public AiSiteSettings Validated()
    {
        static ParleyException Bad(string text) => new(ErrorCatalogue.InvalidSettings, text);
        if (FirstMessageWaitSeconds is < 0 or > MaxWaitSeconds)
        {
            throw Bad($"firstMessageWaitSeconds must be between 0 and {MaxWaitSeconds}.");
        }

        if (ComplaintPriorityBoost is < 0 or > 100)
        {
            throw Bad("complaintPriorityBoost must be between 0 and 100.");
        }

        var teams = IntentTeams ?? new Dictionary<string, Guid>();
        if (teams.Count > 50 || teams.Keys.Any(k => k is null || k.Length > IntentExample.MaxIntentLength || !IntentName().IsMatch(k)))
        {
            throw Bad("intentTeams maps at most 50 intents (lower-case snake_case names) to team ids.");
        }

        var t = Takeover ?? new TakeoverSettings();
        if (t.RepeatCount is < 2 or > 10 || t.SimilarityThreshold is < 0.05 or > 1 || t.AngerThreshold is < -1 or > 0 || t.Window is < 2 or > MaxTakeoverWindow || t.Window < t.RepeatCount)
        {
            throw Bad($"takeover: repeatCount 2–10, similarityThreshold 0.05–1, angerThreshold -1–0, window 2–{MaxTakeoverWindow} and at least repeatCount.");
        }

        return this with { IntentTeams = new Dictionary<string, Guid>(teams, StringComparer.Ordinal), Takeover = t };
    }

    [GeneratedRegex("^[a-z][a-z0-9_]*$")]
    private static partial Regex IntentName();
}

/// <summary>Per-site human-takeover thresholds (the predictor's <see cref="TakeoverOptions"/>, plus on/off).</summary>
public sealed record TakeoverSettings
{
    /// <summary>Raise alerts at all (the insights view still computes the signal).</summary>
    public bool Enabled { get; init; } = true;

    public int RepeatCount { get; init; } = 3;

    public double SimilarityThreshold { get; init; } = 0.3;

    public double AngerThreshold { get; init; } = -0.6;

    public int Window { get; init; } = 8;

    public TakeoverOptions ToOptions() => new() { RepeatCount = RepeatCount, SimilarityThreshold = SimilarityThreshold, AngerThreshold = AngerThreshold, Window = Window };

    /// <summary>True when these are the built-in thresholds (the shared predictor serves them).</summary>
    public bool IsDefault(TakeoverOptions o) =>
        RepeatCount == o.RepeatCount && SimilarityThreshold.Equals(o.SimilarityThreshold) && AngerThreshold.Equals(o.AngerThreshold) && Window == o.Window;
}
