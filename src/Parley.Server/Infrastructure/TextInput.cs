namespace Parley.Server.Infrastructure;

/// <summary>
/// The one rule for control characters in text that reaches the store (docs/api.md, "Text input"): C0 controls other
/// than tab, line feed and carriage return, DEL, C1 controls and unpaired surrogates are refused, never stripped, so
/// what a client sent is either stored exactly or answered with a clear, non-retryable error. (PostgreSQL cannot store
/// U+0000 at all; the others are invisible in the console and have no place in chat text.) Single-line fields such as
/// names and URLs refuse tab and line breaks too.
/// </summary>
public static class TextInput
{
    /// <summary>The position of the first character the rule refuses, or -1.</summary>
    public static int IndexOfForbidden(ReadOnlySpan<char> text, bool multiline = true)
    {
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (c < 0x20)
            {
                if (multiline && c is '\t' or '\n' or '\r')
                {
                    continue;
                }

                return i;
            }

            if (c is >= '\u007f' and <= '\u009f')
            {
                return i;
            }

            if (char.IsHighSurrogate(c))
            {
                if (i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
                {
                    i++;
                    continue;
                }

                return i;
            }

            if (char.IsLowSurrogate(c))
            {
                return i;
            }
        }

        return -1;
    }

    public static bool IsAllowed(ReadOnlySpan<char> text, bool multiline = true) => IndexOfForbidden(text, multiline) < 0;

    /// <summary>A message body: refused with <c>invalid_body</c> (400, not retryable).</summary>
    public static void RequireBody(string body)
    {
        var at = IndexOfForbidden(body);
        if (at >= 0)
        {
            throw new ParleyException(ErrorCatalogue.InvalidBody, $"The message body contains a control character (U+{(int)body[at]:X4}) at position {at}.");
        }
    }

    /// <summary>Any other text field: refused with <c>invalid_request</c> naming the field. Null passes.</summary>
    public static string? Require(string? value, string field, bool multiline = false)
    {
        if (value is not null && IndexOfForbidden(value, multiline) is var at and >= 0)
        {
            throw new ParleyException(ErrorCatalogue.InvalidRequest, $"'{field}' contains a control character (U+{(int)value[at]:X4}).");
        }

        return value;
    }
}

/// <summary>
/// Applies <see cref="TextInput"/> to every string a REST request carries (body records, their lists and
/// dictionaries), before the handler runs: one rule for every field, including those no handler checks itself.
/// A field named <c>body</c> answers <c>invalid_body</c> like the hubs do; any other answers <c>invalid_request</c>.
/// </summary>
internal static class TextInputFilter
{
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<Type, System.Reflection.PropertyInfo[]> Properties = new();

    public static void Check(EndpointFilterInvocationContext context)
    {
        // Handlers also take services (a DbContext among them): only what the request carried is walked.
        var services = context.HttpContext.RequestServices.GetService<Microsoft.Extensions.DependencyInjection.IServiceProviderIsService>();
        foreach (var argument in context.Arguments)
        {
            if (argument is not null && IsRequestModel(argument.GetType()) && services?.IsService(argument.GetType()) != true)
            {
                Walk(argument, null, depth: 0);
            }
        }
    }

    private static bool IsRequestModel(Type type) =>
        type.Namespace?.StartsWith("Parley.", StringComparison.Ordinal) == true && type.IsClass && !typeof(IDisposable).IsAssignableFrom(type) && !typeof(IAsyncDisposable).IsAssignableFrom(type);

    private static void Walk(object? value, string? field, int depth)
    {
        switch (value)
        {
            case null:
                return;
            case string text:
                if (!TextInput.IsAllowed(text))
                {
                    if (string.Equals(field, "body", StringComparison.Ordinal))
                    {
                        TextInput.RequireBody(text);
                    }

                    TextInput.Require(text, field ?? "value", multiline: true);
                }

                return;
            case System.Text.Json.JsonElement json:
                WalkJson(json, field);
                return;
            case System.Collections.IDictionary map:
                foreach (System.Collections.DictionaryEntry pair in map)
                {
                    Walk(pair.Key as string, field, depth + 1);
                    Walk(pair.Value, $"{field}.{pair.Key}", depth + 1);
                }

                return;
            case System.Collections.IEnumerable items when depth < 8:
                foreach (var item in items)
                {
                    Walk(item, field, depth + 1);
                }

                return;
        }

        var type = value.GetType();
        if (depth >= 8 || !IsRequestModel(type))
        {
            return;
        }

        foreach (var property in Properties.GetOrAdd(type, t => t.GetProperties().Where(p => p.GetIndexParameters().Length == 0 && p.CanRead).ToArray()))
        {
            var name = char.ToLowerInvariant(property.Name[0]) + property.Name[1..];
            Walk(property.GetValue(value), field is null ? name : $"{field}.{name}", depth + 1);
        }
    }

    private static void WalkJson(System.Text.Json.JsonElement json, string? field)
    {
        switch (json.ValueKind)
        {
            case System.Text.Json.JsonValueKind.String:
                Walk(json.GetString(), field, 0);
                break;
            case System.Text.Json.JsonValueKind.Object:
                foreach (var property in json.EnumerateObject())
                {
                    Walk(property.Name, field, 0);
                    WalkJson(property.Value, $"{field}.{property.Name}");
                }

                break;
            case System.Text.Json.JsonValueKind.Array:
                foreach (var item in json.EnumerateArray())
                {
                    WalkJson(item, field);
                }

                break;
        }
    }
}
