using System.ComponentModel.DataAnnotations;

namespace Parley.Server.Features.Adapters;

/// <summary>Context adapters (<c>Parley:Adapters</c>): systems queried for cards when an agent opens a conversation.</summary>
public sealed class AdapterOptions : IValidatableObject
{
    public const string Section = "Parley:Adapters";

    /// <summary>Generic HTTP adapters, configured entirely here.</summary>
    public List<HttpAdapterOptions> Http { get; set; } = [];

    /// <summary>Resilience defaults for adapters registered in code (HTTP adapters carry their own).</summary>
    public AdapterPolicy Defaults { get; set; } = new();

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        var names = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var adapter in Http)
        {
            if (string.IsNullOrWhiteSpace(adapter.Name) || !names.Add(adapter.Name))
            {
                yield return new ValidationResult("Every HTTP adapter needs a unique Name.", [nameof(Http)]);
            }

            if (adapter.Name.Length > 100)
            {
                yield return new ValidationResult($"Adapter '{adapter.Name[..20]}…': Name must be at most 100 characters.", [nameof(Http)]);
            }

            if (!Uri.TryCreate(adapter.UrlTemplate.Replace("{", "", StringComparison.Ordinal).Replace("}", "", StringComparison.Ordinal), UriKind.Absolute, out var uri)
                || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
            {
                yield return new ValidationResult($"Adapter '{adapter.Name}': UrlTemplate must be an absolute http(s) URL.", [nameof(Http)]);
            }

            if (string.IsNullOrWhiteSpace(adapter.Title))
            {
                yield return new ValidationResult($"Adapter '{adapter.Name}': Title (a template such as \"Order {{number}}\") is required.", [nameof(Http)]);
            }

            if (adapter.AuthHeader is { Length: > 0 } header && header.IndexOf(':', StringComparison.Ordinal) <= 0)
            {
                yield return new ValidationResult($"Adapter '{adapter.Name}': AuthHeader must look like \"Name: value\".", [nameof(Http)]);
            }

            if (adapter.Policy.Timeout <= TimeSpan.Zero || adapter.Policy.FailureThreshold < 1)
            {
                yield return new ValidationResult($"Adapter '{adapter.Name}': Timeout must be positive and FailureThreshold at least 1.", [nameof(Http)]);
            }
        }
    }
}

/// <summary>Timeout, cache and circuit breaker of one adapter.</summary>
public sealed class AdapterPolicy
{
    /// <summary>How long one query may take before the panel shows the adapter as timed out.</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Fresh answers are reused this long per contact.</summary>
    public TimeSpan CacheFor { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>After a failure, the last good answer is shown (marked stale) if it is younger than this.</summary>
    public TimeSpan StaleFor { get; set; } = TimeSpan.FromMinutes(30);

    /// <summary>Consecutive failures (errors or timeouts) that open the circuit.</summary>
    public int FailureThreshold { get; set; } = 3;

    /// <summary>How long an open circuit skips the system before one trial query.</summary>
    public TimeSpan BreakFor { get; set; } = TimeSpan.FromSeconds(30);
}

/// <summary>
/// A JSON API turned into cards by templates. <c>{name}</c> in <see cref="UrlTemplate"/> is filled from the contact
/// (<c>id</c>, <c>externalId</c>, <c>email</c>, <c>phone</c>, <c>attributes.KEY</c>), URL-escaped; a contact lacking a
/// value the URL needs is not queried. The other templates are filled from each item (<c>{status}</c>,
/// <c>{customer.name}</c>).
/// </summary>
public sealed class HttpAdapterOptions
{
    public string Name { get; set; } = "";

    public string UrlTemplate { get; set; } = "";

    /// <summary>One header added to every request, e.g. <c>Authorization: Bearer abc</c>.</summary>
    public string? AuthHeader { get; set; }

    /// <summary>Dotted path to the array of items in the response; empty when the response is the array (or one object).</summary>
    public string? ItemsPath { get; set; }

    public string Title { get; set; } = "";

    public string? Subtitle { get; set; }

    public string? Status { get; set; }

    public string? Url { get; set; }

    /// <summary>Label → value template.</summary>
    public Dictionary<string, string> Fields { get; set; } = [];

    [Range(1, 100)]
    public int MaxCards { get; set; } = 10;

    /// <summary>
    /// Let fields the visitor can set without proof (<c>email</c>, <c>phone</c>, <c>name</c>, <c>attributes.*</c>) fill
    /// URL placeholders. Off by default: only <c>{id}</c> and the verified <c>{externalId}</c> do, so a visitor cannot
    /// make the adapter look up someone else's records by claiming their email.
    /// </summary>
    public bool AllowUnverifiedPlaceholders { get; set; }

    /// <summary>Allow loopback/private targets (an internal order system); the SSRF guard refuses them otherwise.</summary>
    public bool AllowPrivateTargets { get; set; }

    public AdapterPolicy Policy { get; set; } = new();
}
