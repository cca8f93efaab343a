using System.Buffers.Binary;
using System.Collections;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Parley.Tests.Infrastructure;

/// <summary>
/// Writes MaxMind DB files (MaxMind DB File Format Spec 2.0) so tests can run GeoIP lookups without a real
/// GeoLite2 download. The tree is always IPv6 (ip_version 6): IPv4 networks go under ::/96, where readers look
/// IPv4 addresses up. Values map to spec types by their .NET type: string (utf8_string), double, byte[] (bytes),
/// ushort (uint16), uint (uint32), ulong (uint64), int (int32), bool (boolean), float,
/// IDictionary&lt;string, object&gt; (map) and IList (array). Networks must not overlap.
/// </summary>
public sealed class MmdbWriter(string databaseType = "GeoIP2-City", int recordSize = 24)
{
    private static readonly byte[] MetadataMarker = [0xAB, 0xCD, 0xEF, .. "MaxMind.com"u8];

    private readonly Node _root = new();
    private readonly List<object> _records = [];

    public IReadOnlyList<string> Languages { get; init; } = ["en", "zh-CN"];

    public string Description { get; init; } = "Parley test database";

    public DateTimeOffset BuildTime { get; init; } = DateTimeOffset.UtcNow;

    /// <summary>Maps <paramref name="cidr"/> (e.g. <c>81.2.69.0/24</c> or <c>2001:db8::/32</c>) to <paramref name="data"/>.</summary>
    public MmdbWriter Add(string cidr, object data)
    {
        var network = IPNetwork.Parse(cidr);
        var bits = new byte[16];
        var prefix = network.PrefixLength;
        if (network.BaseAddress.AddressFamily == AddressFamily.InterNetwork)
        {
            network.BaseAddress.GetAddressBytes().CopyTo(bits, 12);
            prefix += 96;
        }
        else
        {
            network.BaseAddress.GetAddressBytes().CopyTo(bits, 0);
        }

        if (prefix == 0)
        {
            throw new ArgumentException("A network needs at least one prefix bit.", nameof(cidr));
        }

        var node = _root;
        for (var i = 0; i < prefix - 1; i++)
        {
            var bit = Bit(bits, i);
            node = node.Children[bit] switch
            {
                Node child => child,
                null => (Node)(node.Children[bit] = new Node()),
                _ => throw new InvalidOperationException($"{cidr} lies inside a network added before; this writer does not split networks."),
            };
        }

        var last = Bit(bits, prefix - 1);
        if (node.Children[last] is not null)
        {
            throw new InvalidOperationException($"{cidr} overlaps a network added before.");
        }

        _records.Add(data);
        node.Children[last] = new Leaf(_records.Count - 1);
        return this;
    }

    public void Save(string path) => File.WriteAllBytes(path, Build());

    public byte[] Build()
    {
        if (recordSize is not (24 or 28 or 32))
        {
            throw new InvalidOperationException("Record size is 24, 28 or 32 bits.");
        }

        // Number the nodes breadth-first; the root is node 0.
        var nodes = new List<Node>();
        var numbers = new Dictionary<Node, int>(ReferenceEqualityComparer.Instance);
        var queue = new Queue<Node>([_root]);
        while (queue.TryDequeue(out var node))
        {
            numbers[node] = nodes.Count;
            nodes.Add(node);
            foreach (var child in node.Children.OfType<Node>())
            {
                queue.Enqueue(child);
            }
        }

        var data = new MemoryStream();
        var offsets = new long[_records.Count];
        for (var i = 0; i < _records.Count; i++)
        {
            offsets[i] = data.Length;
            Encode(data, _records[i]);
        }

        var nodeCount = nodes.Count;
        var output = new MemoryStream();
        var record = new long[2];
        foreach (var node in nodes)
        {
            for (var side = 0; side < 2; side++)
            {
                record[side] = node.Children[side] switch
                {
                    Node child => numbers[child],
                    Leaf leaf => nodeCount + 16 + offsets[leaf.Record], // past the 16-byte separator, into the data section
                    _ => nodeCount, // no data
                };
                if (record[side] >= 1L << recordSize)
                {
                    throw new InvalidOperationException($"Too much data for {recordSize}-bit records.");
                }
            }

            WriteNode(output, record[0], record[1]);
        }

        output.Write(new byte[16]);
        data.Position = 0;
        data.CopyTo(output);
        output.Write(MetadataMarker);
        Encode(output, new Dictionary<string, object>
        {
            ["node_count"] = (uint)nodeCount,
            ["record_size"] = (ushort)recordSize,
            ["ip_version"] = (ushort)6,
            ["database_type"] = databaseType,
            ["languages"] = Languages.ToList(),
            ["binary_format_major_version"] = (ushort)2,
            ["binary_format_minor_version"] = (ushort)0,
            ["build_epoch"] = (ulong)BuildTime.ToUnixTimeSeconds(),
            ["description"] = new Dictionary<string, object> { ["en"] = Description },
        });
        return output.ToArray();
    }

    /// <summary>A record shaped like GeoIP2 / GeoLite2 City data (names in English and Chinese).</summary>
    public static Dictionary<string, object> CityRecord(
        string countryCode, string countryEn, string? countryZh, string? regionCode, string? regionEn, string? cityEn, string? cityZh, string? timeZone)
    {
        var record = CountryRecord(countryCode, countryEn, countryZh);
        if (cityEn is not null)
        {
            record["city"] = new Dictionary<string, object> { ["geoname_id"] = 2643743u, ["names"] = Names(cityEn, cityZh) };
        }

        if (regionEn is not null)
        {
            record["subdivisions"] = new List<object> { new Dictionary<string, object> { ["geoname_id"] = 6269131u, ["iso_code"] = regionCode ?? "", ["names"] = Names(regionEn, null) } };
        }

        var location = new Dictionary<string, object> { ["accuracy_radius"] = (ushort)10, ["latitude"] = 51.5142, ["longitude"] = -0.0931 };
        if (timeZone is not null)
        {
            location["time_zone"] = timeZone;
        }

        record["location"] = location;
        return record;
    }

    /// <summary>A record shaped like GeoIP2 / GeoLite2 Country data.</summary>
    public static Dictionary<string, object> CountryRecord(string countryCode, string countryEn, string? countryZh)
    {
        var country = new Dictionary<string, object> { ["geoname_id"] = 2635167u, ["iso_code"] = countryCode, ["names"] = Names(countryEn, countryZh) };
        return new Dictionary<string, object>
        {
            ["continent"] = new Dictionary<string, object> { ["code"] = "EU", ["geoname_id"] = 6255148u, ["names"] = Names("Europe", "欧洲") },
            ["country"] = country,
            ["registered_country"] = country,
        };
    }

    private static Dictionary<string, object> Names(string en, string? zh)
    {
        var names = new Dictionary<string, object> { ["en"] = en };
        if (zh is not null)
        {
            names["zh-CN"] = zh;
        }

        return names;
    }

    private static int Bit(byte[] address, int index) => (address[index / 8] >> (7 - (index % 8))) & 1;

    private void WriteNode(Stream output, long left, long right)
    {
        switch (recordSize)
        {
            case 24:
                output.Write([(byte)(left >> 16), (byte)(left >> 8), (byte)left, (byte)(right >> 16), (byte)(right >> 8), (byte)right]);
                break;
            case 28:
                // The middle byte holds the top nibble of the left record (high half) and of the right record (low half).
                output.Write([(byte)(left >> 16), (byte)(left >> 8), (byte)left, (byte)(((left >> 24) << 4) | (right >> 24)), (byte)(right >> 16), (byte)(right >> 8), (byte)right]);
                break;
            default:
                Span<byte> node = stackalloc byte[8];
                BinaryPrimitives.WriteUInt32BigEndian(node, (uint)left);
                BinaryPrimitives.WriteUInt32BigEndian(node[4..], (uint)right);
                output.Write(node);
                break;
        }
    }

    private static void Encode(Stream output, object value)
    {
        switch (value)
        {
            case string text:
                var utf8 = Encoding.UTF8.GetBytes(text);
                WriteControl(output, 2, utf8.Length);
                output.Write(utf8);
                break;
            case double number:
                WriteControl(output, 3, 8);
                Span<byte> doubleBytes = stackalloc byte[8];
                BinaryPrimitives.WriteDoubleBigEndian(doubleBytes, number);
                output.Write(doubleBytes);
                break;
            case byte[] bytes:
                WriteControl(output, 4, bytes.Length);
                output.Write(bytes);
                break;
            case ushort number:
                WriteUnsigned(output, 5, number);
                break;
            case uint number:
                WriteUnsigned(output, 6, number);
                break;
            case IDictionary<string, object> map:
                WriteControl(output, 7, map.Count);
                foreach (var (key, item) in map)
                {
                    Encode(output, key);
                    Encode(output, item);
                }

                break;
            case int number:
                WriteControl(output, 8, 4);
                Span<byte> intBytes = stackalloc byte[4];
                BinaryPrimitives.WriteInt32BigEndian(intBytes, number);
                output.Write(intBytes);
                break;
            case ulong number:
                WriteUnsigned(output, 9, number);
                break;
            case IList list:
                WriteControl(output, 11, list.Count);
                foreach (var item in list)
                {
                    Encode(output, item!);
                }

                break;
            case bool flag:
                WriteControl(output, 14, flag ? 1 : 0);
                break;
            case float number:
                WriteControl(output, 15, 4);
                Span<byte> floatBytes = stackalloc byte[4];
                BinaryPrimitives.WriteSingleBigEndian(floatBytes, number);
                output.Write(floatBytes);
                break;
            default:
                throw new ArgumentException($"No MaxMind DB type for {value.GetType().Name}.", nameof(value));
        }
    }

    /// <summary>Unsigned integers are stored big-endian without leading zero bytes; the size is the byte count.</summary>
    private static void WriteUnsigned(Stream output, int type, ulong value)
    {
        var length = (64 - ulong.LeadingZeroCount(value) + 7) / 8;
        WriteControl(output, type, (int)length);
        for (var i = (int)length - 1; i >= 0; i--)
        {
            output.WriteByte((byte)(value >> (8 * i)));
        }
    }

    /// <summary>The control byte: type in the top 3 bits (0 plus an extra byte for types above 7), size in the low 5.</summary>
    private static void WriteControl(Stream output, int type, int size)
    {
        var sizeBits = size switch { < 29 => size, < 285 => 29, < 65_821 => 30, _ => 31 };
        output.WriteByte((byte)(((type <= 7 ? type : 0) << 5) | sizeBits));
        if (type > 7)
        {
            output.WriteByte((byte)(type - 7));
        }

        switch (sizeBits)
        {
            case 29:
                output.WriteByte((byte)(size - 29));
                break;
            case 30:
                output.Write([(byte)((size - 285) >> 8), (byte)(size - 285)]);
                break;
            case 31:
                output.Write([(byte)((size - 65_821) >> 16), (byte)((size - 65_821) >> 8), (byte)(size - 65_821)]);
                break;
        }
    }

    private sealed class Node
    {
        public object?[] Children { get; } = new object?[2];
    }

    private sealed record Leaf(int Record);
}
