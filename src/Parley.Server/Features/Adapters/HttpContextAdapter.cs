using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Parley.Adapters;
using Parley.Server.Features.Webhooks;

namespace Parley.Server.Features.Adapters;

/// <summary>The built-in generic HTTP adapter: GET a URL built from the contact, map JSON items to cards.</summary>
public sealed partial class HttpContextAdapter(HttpAdapterOptions options, HttpClient http) : IContextAdapter
{
    public string Name => options.Name;

    public HttpAdapterOptions Options => options;

    public static HttpClient CreateClient(HttpAdapterOptions options) =>
        new(SsrfGuard.CreateHandler(options.AllowPrivateTargets)) { Timeout = System.Threading.Timeout.InfiniteTimeSpan };

    public async Task<IReadOnlyList<ContextCard>> QueryAsync(ContactInfo contact, CancellationToken cancellationToken)
    {
        if (BuildUrl(contact) is not { } url)
        {
            return []; // the contact lacks what this system is keyed by
        }

        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        request.Headers.Accept.ParseAdd("application/json");
        if (options.AuthHeader is { Length: > 0 } header)
        {
            var colon = header.IndexOf(':', StringComparison.Ordinal);
            request.Headers.TryAddWithoutValidation(header[..colon].Trim(), header[(colon + 1)..].Trim());
        }

        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        if (response.StatusCode == System.Net.HttpStatusCode.NotFound)
        {
            return []; // "no such customer" is an answer, not a failure
        }

        response.EnsureSuccessStatusCode();
        await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken);
        using var doc = await JsonDocument.ParseAsync(stream, cancellationToken: cancellationToken);
        var items = Resolve(doc.RootElement, options.ItemsPath);
        IEnumerable<JsonElement> list = items switch
        {
            { ValueKind: JsonValueKind.Array } array => array.EnumerateArray(),
            { ValueKind: JsonValueKind.Object } one => [one],
            _ => [],
        };

        return list.Take(options.MaxCards).Select(ToCard).ToList();
    }

    private ContextCard ToCard(JsonElement item) => new(
        options.Name,
        Fill(options.Title, item) ?? "",
        Fill(options.Subtitle, item),
        Fill(options.Status, item),
        Fill(options.Url, item),
        options.Fields.Select(f => new ContextField(f.Key, Fill(f.Value, item) ?? "")).Where(f => f.Value.Length > 0).ToList());

    internal string? BuildUrl(ContactInfo contact)
    {
        var missing = false;
        var url = Placeholder().Replace(options.UrlTemplate, m =>
        {
            var name = m.Groups[1].Value;
            var value = name is "id" or "externalId" || options.AllowUnverifiedPlaceholders ? ContactValue(contact, name) : null;
            if (string.IsNullOrEmpty(value) || !IsSafeSegment(value))
            {
                missing = true;
                return "";
            }

            return Uri.EscapeDataString(value);
        });
        return missing ? null : url;
    }

    /// <summary>
    /// A placeholder value may not move the request elsewhere on the adapter's host: a dot segment (<c>.</c>,
    /// <c>..</c>, which the URI parser resolves even escaped) or a path separator (escaped <c>%2F</c> is decoded back by
    /// some servers) makes the contact unqueryable instead.
    /// </summary>
    internal static bool IsSafeSegment(string value) =>
        value.Trim() is not ("." or "..") && value.IndexOfAny(['/', '\\']) < 0 && !value.Contains("%2e", StringComparison.OrdinalIgnoreCase)
        && !value.Contains("%2f", StringComparison.OrdinalIgnoreCase) && !value.Contains("%5c", StringComparison.OrdinalIgnoreCase);

    private static string? ContactValue(ContactInfo contact, string name) => name switch
    {
        "id" => contact.Id.ToString(),
        "externalId" => contact.ExternalId,
        "email" => contact.Email,
        "phone" => contact.Phone,
        "name" => contact.Name,
        _ when name.StartsWith("attributes.", StringComparison.Ordinal) => contact.Attributes.GetValueOrDefault(name["attributes.".Length..]),
        _ => null,
    };

    /// <summary>Fills <c>{path}</c> placeholders from the item; null when the template is empty or every value is missing.</summary>
    internal static string? Fill(string? template, JsonElement item)
    {
        if (string.IsNullOrEmpty(template))
        {
            return null;
        }

        var any = false;
        var result = Placeholder().Replace(template, m =>
        {
            var value = Resolve(item, m.Groups[1].Value) is { } v ? Text(v) : null;
            any |= !string.IsNullOrEmpty(value);
            return value ?? "";
        });
        return any || !template.Contains('{', StringComparison.Ordinal) ? result.Trim() : null;
    }

    private static JsonElement? Resolve(JsonElement root, string? path)
    {
        if (string.IsNullOrEmpty(path))
        {
            return root;
        }

        var current = root;
        foreach (var part in path.Split('.'))
        {
            if (current.ValueKind == JsonValueKind.Object && current.TryGetProperty(part, out var next))
            {
                current = next;
            }
            else if (current.ValueKind == JsonValueKind.Array && int.TryParse(part, out var index) && index >= 0 && index < current.GetArrayLength())
            {
                current = current[index];
            }
            else
            {
                return null;
            }
        }

        return current;
    }

    private static string? Text(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.String => value.GetString(),
        JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False => value.GetRawText(),
        JsonValueKind.Null or JsonValueKind.Undefined => null,
        _ => Truncate(value.GetRawText()),
    };

    private static string Truncate(string text)
    {
        var builder = new StringBuilder(text.Length > 200 ? text[..200] : text);
        return text.Length > 200 ? builder.Append('…').ToString() : builder.ToString();
    }

    [GeneratedRegex(@"\{([A-Za-z0-9_.\-]+)\}")]
    private static partial Regex Placeholder();
}
