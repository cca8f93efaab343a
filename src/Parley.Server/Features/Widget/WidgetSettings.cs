using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;
using Parley.Data;
using Parley.Server.Infrastructure;

namespace Parley.Server.Features.Widget;

/// <summary>One pre-chat form field. Built-in keys are name, email and phone; anything else is a custom attribute.</summary>
public sealed record PreChatField
{
    /// <summary>name, email, phone, or a custom attribute key (letters, digits, _ and -).</summary>
    public required string Key { get; init; }

    /// <summary>Label shown to visitors; built-in fields may leave it empty to use the widget's translated label.</summary>
    public string? Label { get; init; }

    public bool Required { get; init; }
}

/// <summary>Per-site widget settings, stored as JSON on the site and edited through the admin API.</summary>
public sealed partial record WidgetSettings
{
    public static readonly WidgetSettings Default = new();

    /// <summary>The profile field (and contact attribute) carrying the visitor's department choice.</summary>
    public const string DepartmentField = "team";

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    /// <summary>Accent colour, #rrggbb.</summary>
    public string Color { get; init; } = "#2563eb";

    /// <summary>Greeting shown above an empty conversation; empty uses the widget's translated default.</summary>
    public string? Greeting { get; init; }

    /// <summary>right or left (bottom corner of the page).</summary>
    public string Position { get; init; } = "right";

    /// <summary>Fields asked before the first message; empty means no pre-chat form.</summary>
    public IReadOnlyList<PreChatField> PreChatFields { get; init; } = [];

    /// <summary>
    /// When no agent is available the widget shows a form (email + message) instead of live chat. Off by default:
    /// messages written to an unstaffed chat are still stored and answered later.
    /// </summary>
    public bool OfflineForm { get; init; }

    /// <summary>
    /// Teams (departments) the visitor chooses from before the first message; the choice routes the conversation
    /// to that team (contact attribute <c>team</c>, docs/routing.md). Empty: no choice.
    /// </summary>
    public IReadOnlyList<Guid> Departments { get; init; } = [];

    /// <summary>
    /// Bot-first: a new conversation is answered by the knowledge-base bot until it hands off to a person (docs/ai.md).
    /// The widget then shows a "Talk to a person" button.
    /// </summary>
    public bool BotFirst { get; init; }

    /// <summary>The bot's display name; empty uses the widget's translated default.</summary>
    public string? BotName { get; init; }

    /// <summary>optional or required: whether setUser must carry a valid HMAC of the user id.</summary>
    public string IdentityVerification { get; init; } = "optional";

    [JsonIgnore]
    public bool IdentityRequired => IdentityVerification == "required";

    public static WidgetSettings Of(Site site) => Parse(site.WidgetSettingsJson);

    /// <summary>The settings stored as <see cref="Site.WidgetSettingsJson"/>; defaults when none or unreadable.</summary>
    public static WidgetSettings Parse(string? json)
    {
        if (string.IsNullOrEmpty(json))
        {
            return Default;
        }

        try
        {
            return JsonSerializer.Deserialize<WidgetSettings>(json, Json) ?? Default;
        }
        catch (JsonException)
        {
            return Default;
        }
    }

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    /// <summary>Throws <see cref="ParleyException"/> (invalid_settings) naming the first bad value.</summary>
    public WidgetSettings Validated()
    {
        static ParleyException Bad(string text) => new(ErrorCatalogue.InvalidSettings, text);
        if (!ColorPattern().IsMatch(Color ?? ""))
        {
            throw Bad("color must be #rrggbb.");
        }

        if (Position is not ("right" or "left"))
        {
            throw Bad("position must be 'right' or 'left'.");
        }

        if (IdentityVerification is not ("optional" or "required"))
        {
            throw Bad("identityVerification must be 'optional' or 'required'.");
        }

        if (Greeting is { Length: > 500 })
        {
            throw Bad("greeting is longer than 500 characters.");
        }

        if (BotName is { Length: > 100 })
        {
            throw Bad("botName is longer than 100 characters.");
        }

        var fields = PreChatFields ?? [];
        if (fields.Count > 10)
        {
            throw Bad("At most 10 pre-chat fields.");
        }

        if (fields.Any(f => f is null || !KeyPattern().IsMatch(f.Key ?? "") || f.Label is { Length: > 100 }))
        {
            throw Bad("Pre-chat field keys are 1-40 letters, digits, '_' or '-'; labels at most 100 characters.");
        }

        if (fields.Select(f => f.Key).Distinct(StringComparer.OrdinalIgnoreCase).Count() != fields.Count)
        {
            throw Bad("Pre-chat field keys must be unique.");
        }

        var departments = (Departments ?? []).Distinct().ToList();
        if (departments.Count > 20)
        {
            throw Bad("At most 20 departments.");
        }

        if (departments.Count > 0 && fields.Any(f => f.Key == DepartmentField))
        {
            throw Bad($"'{DepartmentField}' is the department choice; remove that pre-chat field or the departments.");
        }

        return this with { PreChatFields = fields, Departments = departments, Greeting = string.IsNullOrWhiteSpace(Greeting) ? null : Greeting.Trim() };
    }

    [GeneratedRegex("^#[0-9a-fA-F]{6}$")]
    private static partial Regex ColorPattern();

    [GeneratedRegex("^[A-Za-z0-9_-]{1,40}$")]
    private static partial Regex KeyPattern();
}

/// <summary>What the widget learns about its site with the session: the public part of the settings plus live facts.</summary>
public sealed record WidgetPublicSettings(
    string Color,
    string? Greeting,
    string Position,
    IReadOnlyList<PreChatField> PreChatFields,
    bool OfflineForm,
    IReadOnlyList<DepartmentOption> Departments,
    bool IdentityRequired,
    bool AgentsAvailable,
    bool TranscriptAvailable,
    long MaxUploadBytes,
    bool BotFirst = false);

/// <summary>A department the visitor may choose in the widget.</summary>
public sealed record DepartmentOption(Guid Id, string Name);
