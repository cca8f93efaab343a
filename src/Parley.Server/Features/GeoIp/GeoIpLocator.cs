using System.Net;
using MaxMind.Db;
using MaxMind.GeoIP2;
using MaxMind.GeoIP2.Exceptions;
using MaxMind.GeoIP2.Model;
using MaxMind.GeoIP2.Responses;
using Microsoft.Extensions.Options;
using Parley.Server.Features.Webhooks;

namespace Parley.Server.Features.GeoIp;

/// <summary>
/// Where a visitor is, coarsely: country, region and city from the client IP. Names come in English and, when the
/// database has them, Simplified Chinese (the console's languages); the console picks one.
/// </summary>
public sealed record VisitorLocation
{
    /// <summary>ISO 3166-1 alpha-2 code, e.g. <c>CN</c>.</summary>
    public string? CountryCode { get; init; }

    /// <summary>Country name by locale (<c>en</c>, <c>zh-CN</c>).</summary>
    public Dictionary<string, string>? Country { get; init; }

    /// <summary>The largest subdivision (state, province) by locale; City databases only.</summary>
    public Dictionary<string, string>? Region { get; init; }

    /// <summary>City name by locale; City databases only.</summary>
    public Dictionary<string, string>? City { get; init; }

    /// <summary>IANA time zone of the location, e.g. <c>Asia/Shanghai</c>; City databases only.</summary>
    public string? TimeZone { get; init; }
}

/// <summary>
/// Looks client IPs up in the operator's MaxMind-format database. The file is opened once, memory-mapped, and
/// shared by all requests (the reader is thread-safe); refreshing it takes a restart. Without a configured
/// database every lookup answers null.
/// </summary>
public sealed partial class GeoIpLocator : IDisposable
{
    private static readonly string[] Locales = ["en", "zh-CN"];

    private readonly DatabaseReader? _reader;
    private readonly DatabaseKind _kind;
    private readonly ILogger<GeoIpLocator> _logger;

    public GeoIpLocator(IOptions<GeoIpOptions> options, TimeProvider time, ILogger<GeoIpLocator> logger)
    {
        _logger = logger;
        if (!options.Value.Enabled)
        {
            return;
        }

        var path = options.Value.ResolveDatabasePath();
        _reader = new DatabaseReader(path, FileAccessMode.MemoryMapped);
        _kind = KindOf(_reader.Metadata.DatabaseType);
        var age = time.GetUtcNow().UtcDateTime - _reader.Metadata.BuildDate;
        LogOpened(logger, path, _reader.Metadata.DatabaseType, _reader.Metadata.BuildDate);
        if (age > TimeSpan.FromDays(90))
        {
            LogStale(logger, path, (int)age.TotalDays);
        }
    }

    private enum DatabaseKind
    {
        Unsupported,
        Country,
        City,
        Enterprise,
    }

    public bool Enabled => _reader is not null;

    /// <summary>
    /// Why <paramref name="path"/> cannot serve lookups, or null when it can: it must exist and be a MaxMind DB
    /// of a City, Country or Enterprise type.
    /// </summary>
    public static string? Probe(string path)
    {
        if (!File.Exists(path))
        {
            return $"'{path}' does not exist. Download a City or Country database (e.g. GeoLite2-City.mmdb) or remove the setting.";
        }

        try
        {
            using var reader = new DatabaseReader(path, FileAccessMode.MemoryMapped);
            var type = reader.Metadata.DatabaseType;
            return KindOf(type) == DatabaseKind.Unsupported
                ? $"'{path}' is a '{type}' database; a City or Country database is needed."
                : null;
        }
        catch (Exception ex)
        {
            // Whatever the reader throws (I/O, permissions, not a MaxMind DB, truncated metadata), the file is unusable.
            return $"'{path}' cannot be read as a MaxMind database: {ex.Message}";
        }
    }

    /// <summary>The location of <paramref name="address"/>, or null when unknown (not in the database, private, loopback).</summary>
    public VisitorLocation? Locate(IPAddress? address)
    {
        if (_reader is null || address is null)
        {
            return null;
        }

        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        // Loopback, private, link-local and reserved ranges are in no GeoIP database: the same ranges the SSRF guard refuses.
        if (SsrfGuard.IsForbidden(address))
        {
            return null;
        }

        try
        {
            return _kind switch
            {
                DatabaseKind.City => _reader.TryCity(address, out var city) && city is not null ? From(city) : null,
                DatabaseKind.Enterprise => _reader.TryEnterprise(address, out var enterprise) && enterprise is not null ? From(enterprise) : null,
                DatabaseKind.Country => _reader.TryCountry(address, out var country) && country is not null ? From(country) : null,
                _ => null,
            };
        }
        catch (Exception ex) when (ex is GeoIP2Exception or InvalidDatabaseException)
        {
            // A damaged record must not break the visitor's session; the agent just sees no location.
            LogLookupFailed(_logger, ex.Message);
            return null;
        }
    }

    public void Dispose() => _reader?.Dispose();

    private static DatabaseKind KindOf(string databaseType) =>
        databaseType.Contains("Enterprise", StringComparison.Ordinal) ? DatabaseKind.Enterprise
        : databaseType.Contains("City", StringComparison.Ordinal) ? DatabaseKind.City
        : databaseType.Contains("Country", StringComparison.Ordinal) ? DatabaseKind.Country
        : DatabaseKind.Unsupported;

    private static VisitorLocation? From(AbstractCountryResponse response)
    {
        // Anycast and satellite ranges may only have the country the network is registered in.
        var country = response.Country.IsoCode is null ? response.RegisteredCountry : response.Country;
        var location = new VisitorLocation { CountryCode = country.IsoCode, Country = Names(country) };
        if (response is AbstractCityResponse city)
        {
            location = location with
            {
                Region = city.Subdivisions.Count > 0 ? Names(city.Subdivisions[0]) : null,
                City = Names(city.City),
                TimeZone = city.Location.TimeZone,
            };
        }

        return location is { CountryCode: null, Country: null, City: null } ? null : location;
    }

    private static Dictionary<string, string>? Names(NamedEntity entity)
    {
        var names = new Dictionary<string, string>();
        foreach (var locale in Locales)
        {
            if (entity.Names.TryGetValue(locale, out var name) && !string.IsNullOrEmpty(name))
            {
                names[locale] = name;
            }
        }

        return names.Count == 0 ? null : names;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "GeoIP database {Path} ({Type}, built {BuildDate:yyyy-MM-dd}) opened for visitor locations")]
    private static partial void LogOpened(ILogger logger, string path, string type, DateTime buildDate);

    [LoggerMessage(Level = LogLevel.Warning, Message = "GeoIP database {Path} is {Days} days old; download a fresh copy and restart to keep locations accurate")]
    private static partial void LogStale(ILogger logger, string path, int days);

    [LoggerMessage(Level = LogLevel.Warning, Message = "GeoIP lookup failed: {Error}")]
    private static partial void LogLookupFailed(ILogger logger, string error);
}
