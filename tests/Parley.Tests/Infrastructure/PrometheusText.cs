using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Parley.Tests.Infrastructure;

/// <summary>One sample line: metric name, labels, value.</summary>
public sealed record PrometheusSample(string Name, IReadOnlyDictionary<string, string> Labels, double Value)
{
    public string Label(string name) => Labels.TryGetValue(name, out var value) ? value : throw new KeyNotFoundException($"{Name} has no label '{name}'");
}

/// <summary>A metric family: the name in its # TYPE line, its type and its samples.</summary>
public sealed record PrometheusFamily(string Name, string Type, string? Help, List<PrometheusSample> Samples);

/// <summary>
/// A strict parser of the Prometheus text exposition format 0.0.4: every sample belongs to a family declared by a
/// preceding <c># TYPE</c>, names and label names are valid, label values are correctly escaped, values parse, no
/// series repeats, and histograms have ordered cumulative buckets ending in <c>+Inf</c> equal to their count.
/// Anything else throws <see cref="FormatException"/> naming the line.
/// </summary>
public static partial class PrometheusText
{
    private static readonly string[] Types = ["counter", "gauge", "histogram", "summary", "untyped"];

    public static Dictionary<string, PrometheusFamily> Parse(string text)
    {
        var families = new Dictionary<string, PrometheusFamily>(StringComparer.Ordinal);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var lineNo = 0;
        foreach (var raw in text.Split('\n'))
        {
            lineNo++;
            var line = raw;
            if (line.Length == 0 || line == "# EOF")
            {
                continue;
            }

            if (line.StartsWith('#'))
            {
                var parts = line.Split(' ', 4);
                if (parts.Length >= 3 && parts[1] == "TYPE")
                {
                    Check(parts.Length == 4 && Types.Contains(parts[3]), lineNo, line, "bad TYPE line");
                    Check(MetricName().IsMatch(parts[2]), lineNo, line, "bad metric name");
                    Check(!families.ContainsKey(parts[2]), lineNo, line, "family declared twice");
                    families[parts[2]] = new PrometheusFamily(parts[2], parts[3], null, []);
                }
                else if (parts.Length >= 3 && parts[1] == "HELP")
                {
                    Check(MetricName().IsMatch(parts[2]), lineNo, line, "bad metric name in HELP");
                }

                continue;
            }

            var sample = ParseSample(line, lineNo);
            var family = FamilyOf(families, sample.Name) ?? throw new FormatException($"line {lineNo}: sample '{sample.Name}' has no # TYPE before it: {line}");
            var key = sample.Name + "{" + string.Join(",", sample.Labels.OrderBy(l => l.Key, StringComparer.Ordinal).Select(l => $"{l.Key}={l.Value}")) + "}";
            Check(seen.Add(key), lineNo, line, "duplicate series");
            family.Samples.Add(sample);
        }

        foreach (var family in families.Values.Where(f => f.Type == "histogram"))
        {
            CheckHistogram(family);
        }

        return families;
    }

    private static PrometheusFamily? FamilyOf(Dictionary<string, PrometheusFamily> families, string sampleName)
    {
        if (families.TryGetValue(sampleName, out var exact))
        {
            return exact;
        }

        foreach (var suffix in new[] { "_bucket", "_sum", "_count" })
        {
            if (sampleName.EndsWith(suffix, StringComparison.Ordinal)
                && families.TryGetValue(sampleName[..^suffix.Length], out var family)
                && family.Type is "histogram" or "summary")
            {
                return family;
            }
        }

        return null;
    }

    private static PrometheusSample ParseSample(string line, int lineNo)
    {
        var i = 0;
        while (i < line.Length && line[i] != '{' && line[i] != ' ')
        {
            i++;
        }

        var name = line[..i];
        Check(MetricName().IsMatch(name), lineNo, line, "bad metric name");
        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        if (i < line.Length && line[i] == '{')
        {
            i++;
            while (true)
            {
                Check(i < line.Length, lineNo, line, "unterminated labels");
                if (line[i] == '}')
                {
                    i++;
                    break;
                }

                var eq = line.IndexOf('=', i);
                Check(eq > i, lineNo, line, "label without '='");
                var labelName = line[i..eq];
                Check(LabelName().IsMatch(labelName) && !labelName.StartsWith("__", StringComparison.Ordinal), lineNo, line, $"bad label name '{labelName}'");
                i = eq + 1;
                Check(i < line.Length && line[i] == '"', lineNo, line, "label value not quoted");
                i++;
                var value = new StringBuilder();
                while (true)
                {
                    Check(i < line.Length, lineNo, line, "unterminated label value");
                    var c = line[i++];
                    if (c == '"')
                    {
                        break;
                    }

                    if (c == '\\')
                    {
                        Check(i < line.Length, lineNo, line, "dangling escape");
                        var e = line[i++];
                        value.Append(e switch
                        {
                            '\\' => '\\',
                            '"' => '"',
                            'n' => '\n',
                            _ => throw new FormatException($"line {lineNo}: bad escape '\\{e}': {line}"),
                        });
                    }
                    else
                    {
                        value.Append(c);
                    }
                }

                Check(labels.TryAdd(labelName, value.ToString()), lineNo, line, $"label '{labelName}' repeated");
                Check(i < line.Length && (line[i] == ',' || line[i] == '}'), lineNo, line, "expected ',' or '}' after a label");
                if (line[i] == ',')
                {
                    i++;
                }
            }
        }

        Check(i < line.Length && line[i] == ' ', lineNo, line, "expected a space before the value");
        var rest = line[(i + 1)..].Split(' ');
        Check(rest.Length is 1 or 2, lineNo, line, "expected value [timestamp]");
        var number = ParseValue(rest[0]) ?? throw new FormatException($"line {lineNo}: bad value '{rest[0]}': {line}");
        if (rest.Length == 2)
        {
            Check(long.TryParse(rest[1], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out _), lineNo, line, "bad timestamp");
        }

        return new PrometheusSample(name, labels, number);
    }

    private static double? ParseValue(string text) => text switch
    {
        "+Inf" => double.PositiveInfinity,
        "-Inf" => double.NegativeInfinity,
        "NaN" => double.NaN,
        _ => double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) ? v : null,
    };

    private static void CheckHistogram(PrometheusFamily family)
    {
        var series = family.Samples.GroupBy(s => string.Join(",", s.Labels.Where(l => l.Key != "le").OrderBy(l => l.Key, StringComparer.Ordinal).Select(l => $"{l.Key}={l.Value}")));
        foreach (var one in series)
        {
            var buckets = one.Where(s => s.Name == family.Name + "_bucket").ToList();
            var count = one.SingleOrDefault(s => s.Name == family.Name + "_count") ?? throw new FormatException($"{family.Name}{{{one.Key}}}: no _count");
            _ = one.SingleOrDefault(s => s.Name == family.Name + "_sum") ?? throw new FormatException($"{family.Name}{{{one.Key}}}: no _sum");
            if (buckets.Count == 0)
            {
                throw new FormatException($"{family.Name}{{{one.Key}}}: no buckets");
            }

            var bounds = buckets.Select(b => ParseValue(b.Label("le")) ?? throw new FormatException($"{family.Name}: bad le")).ToList();
            for (var i = 1; i < buckets.Count; i++)
            {
                if (bounds[i] <= bounds[i - 1] || buckets[i].Value < buckets[i - 1].Value)
                {
                    throw new FormatException($"{family.Name}{{{one.Key}}}: buckets not ordered or not cumulative at le={bounds[i]}");
                }
            }

            if (!double.IsPositiveInfinity(bounds[^1]) || buckets[^1].Value != count.Value)
            {
                throw new FormatException($"{family.Name}{{{one.Key}}}: last bucket must be +Inf and equal _count");
            }
        }
    }

    private static void Check(bool condition, int lineNo, string line, string what)
    {
        if (!condition)
        {
            throw new FormatException($"line {lineNo}: {what}: {line}");
        }
    }

    [GeneratedRegex("^[a-zA-Z_:][a-zA-Z0-9_:]*$")]
    private static partial Regex MetricName();

    [GeneratedRegex("^[a-zA-Z_][a-zA-Z0-9_]*$")]
    private static partial Regex LabelName();
}
