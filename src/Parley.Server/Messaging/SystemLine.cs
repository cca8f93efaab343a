using System.Globalization;
using System.Text.Json;

namespace Parley.Server.Messaging;

/// <summary>
/// The body of a system event line (<c>MessageKind.Event</c>): a code with parameters, for example
/// <c>{"code":"closed","by":"Admin"}</c>, which every reader renders in their own language (widget and console:
/// web/packages/shared/src/systemLines.ts). Rows written before this was introduced hold plain English text and are
/// shown as they are. docs/protocol.md, "System event lines", lists the codes.
/// </summary>
public static class SystemLine
{
    public static string Closed(string? by) => Of("closed", ("by", by));

    public static string Reopened(string? by) => Of("reopened", ("by", by));

    public static string Assigned(string to) => Of("assigned", ("to", to));

    public static string Unassigned(string? by) => Of("unassigned", ("by", by));

    public static string Snoozed(string? by, DateTime untilUtc) =>
        Of("snoozed", ("by", by), ("until", untilUtc.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture)));

    public static string Unsnoozed(string? by) => Of("unsnoozed", ("by", by));

    public static string MarkedSpam(string? by) => Of("spam", ("by", by));

    public static string WokeVisitorWrote { get; } = Of("woke_visitor_wrote");

    public static string WokeSnoozeEnded { get; } = Of("woke_snooze_ended");

    /// <summary>What a message becomes when retention or an erasure removed its content (docs/privacy.md).</summary>
    public static string ContentRemoved { get; } = Of("content_removed");

    /// <summary>The bot of a bot-first conversation handed it to people; <paramref name="reason"/>: asked_for_person, bot_failed, repeated_question, angry, frustration_rising, bot_error.</summary>
    public static string BotHandedOff(string reason) => Of("bot_handoff", ("reason", reason));

    /// <summary>English text of a line, for readers without a renderer (emailed transcripts); plain old rows as they are.</summary>
    public static string ToEnglish(string body)
    {
        if (!TryParse(body, out var code, out var p))
        {
            return body;
        }

        string By(string text) => p.TryGetValue("by", out var by) && by is not null ? $"{text} by {by}" : text;
        return code switch
        {
            "closed" => By("Closed"),
            "reopened" => By("Reopened"),
            "assigned" => $"Assigned to {p.GetValueOrDefault("to")}",
            "unassigned" => By("Unassigned"),
            "snoozed" => By("Snoozed") + (p.GetValueOrDefault("until") is { } until ? $" until {until.Replace('T', ' ').TrimEnd('Z')[..16]} UTC" : ""),
            "unsnoozed" => By("Unsnoozed"),
            "spam" => By("Marked as spam") + "; the visitor is blocked",
            "woke_visitor_wrote" => "Re-opened: the visitor wrote",
            "woke_snooze_ended" => "Re-opened: the snooze ended",
            "bot_handoff" => "The bot handed the conversation to a person",
            "content_removed" => "Message removed (data retention or erasure)",
            _ => code,
        };
    }

    /// <summary>Whether <paramref name="body"/> is a line in code form (a JSON object with a string <c>code</c>).</summary>
    public static bool TryParse(string body, out string code, out Dictionary<string, string?> parameters)
    {
        code = "";
        parameters = [];
        if (!body.StartsWith('{'))
        {
            return false;
        }

        try
        {
            using var doc = JsonDocument.Parse(body);
            if (doc.RootElement.ValueKind != JsonValueKind.Object || !doc.RootElement.TryGetProperty("code", out var c) || c.ValueKind != JsonValueKind.String)
            {
                return false;
            }

            code = c.GetString()!;
            foreach (var property in doc.RootElement.EnumerateObject())
            {
                if (property.Name != "code")
                {
                    parameters[property.Name] = property.Value.ValueKind == JsonValueKind.String ? property.Value.GetString() : property.Value.GetRawText();
                }
            }

            return true;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    private static string Of(string code, params (string Name, string? Value)[] parameters)
    {
        var body = new Dictionary<string, string?> { ["code"] = code };
        foreach (var (name, value) in parameters)
        {
            if (value is not null)
            {
                body[name] = value;
            }
        }

        return JsonSerializer.Serialize(body);
    }
}
