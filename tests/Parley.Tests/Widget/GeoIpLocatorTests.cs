using System.Net;
using MaxMind.Db;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Parley.Server.Features.GeoIp;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Widget;

/// <summary>The test MaxMind DB writer against MaxMind's own reader, and the locator over databases it writes.</summary>
public sealed class GeoIpLocatorTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("parley-geoip-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData(24)]
    [InlineData(28)]
    [InlineData(32)]
    public void Writer_ProducesDatabases_MaxMindsReaderReadsBack(int recordSize)
    {
        var built = new DateTimeOffset(2026, 11, 3, 8, 30, 0, TimeSpan.Zero);
        var longText = new string('字', 120); // 360 UTF-8 bytes: the two-byte size form
        var hugeText = new string('x', 70_000); // the three-byte size form
        var writer = new MmdbWriter("GeoIP2-City", recordSize) { BuildTime = built, Description = "round trip" }
            .Add("81.2.69.0/24", new Dictionary<string, object>
            {
                ["text"] = "你好, world",
                ["double"] = -0.0931,
                ["float"] = 2.5f,
                ["bytes"] = new byte[] { 0, 1, 254, 255 },
                ["u16"] = (ushort)65_535,
                ["u32"] = 4_000_000_000u,
                ["u64"] = ulong.MaxValue,
                ["u64small"] = 0UL,
                ["i32"] = -7,
                ["yes"] = true,
                ["no"] = false,
                ["array"] = new List<object> { "a", (ushort)1, new Dictionary<string, object> { ["nested"] = longText } },
                ["huge"] = hugeText,
            })
            .Add("2001:db8:1::/48", new Dictionary<string, object> { ["text"] = "v6" })
            .Add("198.51.100.128/25", new Dictionary<string, object> { ["text"] = "upper half" });

        using var reader = new Reader(new MemoryStream(writer.Build()));

        Assert.Equal("GeoIP2-City", reader.Metadata.DatabaseType);
        Assert.Equal(6, reader.Metadata.IPVersion);
        Assert.Equal(2, reader.Metadata.BinaryFormatMajorVersion);
        Assert.Equal(0, reader.Metadata.BinaryFormatMinorVersion);
        Assert.Equal(built.UtcDateTime, reader.Metadata.BuildDate);
        Assert.Equal(["en", "zh-CN"], reader.Metadata.Languages);
        Assert.Equal("round trip", reader.Metadata.Description["en"]);

        var found = reader.Find<Dictionary<string, object>>(IPAddress.Parse("81.2.69.142"));
        Assert.NotNull(found);
        Assert.Equal("你好, world", found["text"]);
        Assert.Equal(-0.0931, found["double"]);
        Assert.Equal(2.5f, found["float"]);
        Assert.Equal(new byte[] { 0, 1, 254, 255 }, found["bytes"]);
        Assert.Equal(65_535, Convert.ToInt64(found["u16"], System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(4_000_000_000L, Convert.ToInt64(found["u32"], System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(ulong.MaxValue, Convert.ToUInt64(found["u64"], System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(0UL, Convert.ToUInt64(found["u64small"], System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(-7, found["i32"]);
        Assert.Equal(true, found["yes"]);
        Assert.Equal(false, found["no"]);
        var array = Assert.IsType<List<object>>(found["array"], exactMatch: false);
        Assert.Equal("a", array[0]);
        Assert.Equal(longText, Assert.IsType<Dictionary<string, object>>(array[2], exactMatch: false)["nested"]);
        Assert.Equal(hugeText, found["huge"]);

        // Network edges: the whole /24 and nothing beside it; IPv6 and a non-aligned IPv4 half.
        Assert.NotNull(reader.Find<Dictionary<string, object>>(IPAddress.Parse("81.2.69.0")));
        Assert.NotNull(reader.Find<Dictionary<string, object>>(IPAddress.Parse("81.2.69.255")));
        Assert.Null(reader.Find<Dictionary<string, object>>(IPAddress.Parse("81.2.68.255")));
        Assert.Null(reader.Find<Dictionary<string, object>>(IPAddress.Parse("81.2.70.0")));
        Assert.Equal("v6", reader.Find<Dictionary<string, object>>(IPAddress.Parse("2001:db8:1:ffff::1"))!["text"]);
        Assert.Null(reader.Find<Dictionary<string, object>>(IPAddress.Parse("2001:db8:2::1")));
        Assert.Equal("upper half", reader.Find<Dictionary<string, object>>(IPAddress.Parse("198.51.100.200"))!["text"]);
        Assert.Null(reader.Find<Dictionary<string, object>>(IPAddress.Parse("198.51.100.127")));

        var prefix = 0;
        reader.Find<Dictionary<string, object>>(IPAddress.Parse("198.51.100.200"), out prefix);
        Assert.Equal(25, prefix);
    }

    [Fact]
    public void CityDatabase_GivesCountryRegionCityAndTimeZone_InEnglishAndChinese()
    {
        using var locator = Locator(new MmdbWriter("GeoLite2-City")
            .Add("81.2.69.0/24", MmdbWriter.CityRecord("GB", "United Kingdom", "英国", "ENG", "England", "London", "伦敦", "Europe/London"))
            .Add("2001:db8:1::/48", MmdbWriter.CityRecord("CN", "China", "中国", "SH", "Shanghai", "Shanghai", "上海", "Asia/Shanghai")));

        var london = locator.Locate(IPAddress.Parse("81.2.69.142"));
        Assert.NotNull(london);
        Assert.Equal("GB", london.CountryCode);
        Assert.Equal(new Dictionary<string, string> { ["en"] = "United Kingdom", ["zh-CN"] = "英国" }, london.Country);
        Assert.Equal(new Dictionary<string, string> { ["en"] = "England" }, london.Region);
        Assert.Equal(new Dictionary<string, string> { ["en"] = "London", ["zh-CN"] = "伦敦" }, london.City);
        Assert.Equal("Europe/London", london.TimeZone);

        // The IPv4-mapped form a dual-stack socket reports is the same client.
        Assert.Equal("GB", locator.Locate(IPAddress.Parse("::ffff:81.2.69.142"))?.CountryCode);
        Assert.Equal("上海", locator.Locate(IPAddress.Parse("2001:db8:1::5"))?.City?["zh-CN"]);
    }

    [Fact]
    public void LoopbackPrivateAndUnknownAddresses_HaveNoLocation_EvenWhenTheDatabaseMapsThem()
    {
        var nowhere = MmdbWriter.CityRecord("ZZ", "Nowhere", null, null, null, "Nowhere", null, "UTC");
        using var locator = Locator(new MmdbWriter()
            .Add("127.0.0.0/8", nowhere)
            .Add("10.0.0.0/8", nowhere)
            .Add("192.168.0.0/16", nowhere)
            .Add("fc00::/7", nowhere)
            .Add("81.2.69.0/24", MmdbWriter.CityRecord("GB", "United Kingdom", "英国", null, null, "London", "伦敦", "Europe/London")));

        Assert.Null(locator.Locate(IPAddress.Loopback));
        Assert.Null(locator.Locate(IPAddress.IPv6Loopback));
        Assert.Null(locator.Locate(IPAddress.Parse("10.1.2.3")));
        Assert.Null(locator.Locate(IPAddress.Parse("::ffff:192.168.1.9")));
        Assert.Null(locator.Locate(IPAddress.Parse("fd12::1")));
        Assert.Null(locator.Locate(IPAddress.Parse("198.51.100.7"))); // public, not in the database
        Assert.Null(locator.Locate(null));
        Assert.NotNull(locator.Locate(IPAddress.Parse("81.2.69.1")));
    }

    [Fact]
    public void CountryDatabase_GivesTheCountryOnly_AndFallsBackToTheRegisteredCountry()
    {
        var anycast = MmdbWriter.CountryRecord("US", "United States", "美国");
        anycast.Remove("country");
        using var locator = Locator(new MmdbWriter("GeoLite2-Country")
            .Add("81.2.69.0/24", MmdbWriter.CountryRecord("GB", "United Kingdom", "英国"))
            .Add("203.0.113.0/24", anycast));

        var uk = locator.Locate(IPAddress.Parse("81.2.69.142"));
        Assert.NotNull(uk);
        Assert.Equal("GB", uk.CountryCode);
        Assert.Equal("英国", uk.Country?["zh-CN"]);
        Assert.Null(uk.City);
        Assert.Null(uk.Region);
        Assert.Null(uk.TimeZone);
        Assert.Equal("US", locator.Locate(IPAddress.Parse("203.0.113.9"))?.CountryCode);
    }

    [Fact]
    public void WithoutADatabase_NothingIsLookedUp()
    {
        using var locator = new GeoIpLocator(Options.Create(new GeoIpOptions()), TimeProvider.System, NullLogger<GeoIpLocator>.Instance);
        Assert.False(locator.Enabled);
        Assert.Null(locator.Locate(IPAddress.Parse("81.2.69.142")));
    }

    [Fact]
    public void Probe_ExplainsWhyAFileCannotServe()
    {
        var missing = Path.Combine(_dir, "GeoLite2-City.mmdb");
        Assert.Contains("does not exist", GeoIpLocator.Probe(missing));

        var garbage = Path.Combine(_dir, "garbage.mmdb");
        File.WriteAllBytes(garbage, [.. Enumerable.Range(0, 4096).Select(i => (byte)i)]);
        Assert.Contains("cannot be read as a MaxMind database", GeoIpLocator.Probe(garbage));

        var asn = Path.Combine(_dir, "GeoLite2-ASN.mmdb");
        new MmdbWriter("GeoLite2-ASN").Add("81.2.69.0/24", new Dictionary<string, object> { ["autonomous_system_number"] = 20712u }).Save(asn);
        Assert.Contains("'GeoLite2-ASN' database; a City or Country database is needed", GeoIpLocator.Probe(asn));

        var city = Path.Combine(_dir, "city.mmdb");
        new MmdbWriter().Add("81.2.69.0/24", MmdbWriter.CountryRecord("GB", "United Kingdom", null)).Save(city);
        Assert.Null(GeoIpLocator.Probe(city));
    }

    private GeoIpLocator Locator(MmdbWriter writer)
    {
        var path = Path.Combine(_dir, Guid.NewGuid().ToString("N") + ".mmdb");
        writer.Save(path);
        return new GeoIpLocator(Options.Create(new GeoIpOptions { DatabasePath = path }), TimeProvider.System, NullLogger<GeoIpLocator>.Instance);
    }
}
