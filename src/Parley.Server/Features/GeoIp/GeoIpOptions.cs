using System.ComponentModel.DataAnnotations;

namespace Parley.Server.Features.GeoIp;

/// <summary>Visitor location from the client IP (<c>Parley:GeoIp</c>). Off unless a database is configured.</summary>
public sealed class GeoIpOptions : IValidatableObject
{
    public const string Section = "Parley:GeoIp";

    /// <summary>
    /// A MaxMind-format City or Country database (<c>.mmdb</c>: GeoLite2 / GeoIP2 City or Country, DB-IP lite),
    /// relative to the working directory or absolute. Empty: no lookups.
    /// </summary>
    public string? DatabasePath { get; set; }

    public bool Enabled => !string.IsNullOrWhiteSpace(DatabasePath);

    public string ResolveDatabasePath() => Path.GetFullPath(DatabasePath!);

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        // Checked at start: a wrong path should stop the server with this message, not surface as missing
        // locations much later.
        if (Enabled && GeoIpLocator.Probe(ResolveDatabasePath()) is { } problem)
        {
            yield return new ValidationResult($"{Section}:{nameof(DatabasePath)}: {problem}", [nameof(DatabasePath)]);
        }
    }
}
