using System.Reflection;
using System.Text.RegularExpressions;
using MessagePack;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Contract;

/// <summary>
/// Every object the hubs send or accept (a <c>[MessagePackObject]</c> in the server) has a TypeScript interface in
/// web/packages/shared/src/hubDtos.ts or types.ts with exactly the same wire fields: a field added, renamed or removed
/// on one side only fails here, naming the type and the field.
/// </summary>
public sealed partial class HubDtoContractTests
{
    private static readonly string Root = ParleyServer.FindRepositoryRoot();

    /// <summary>Server type name → client interface name, where they differ.</summary>
    private static readonly Dictionary<string, string> ClientName = new(StringComparer.Ordinal)
    {
        ["ReplayDto"] = "Replay",
    };

    [Fact]
    public void EveryHubDto_HasAClientInterface_WithTheSameFields()
    {
        var client = ClientInterfaces();
        var server = typeof(Parley.Server.Messaging.MessageDto).Assembly.GetTypes()
            .Where(t => t.GetCustomAttribute<MessagePackObjectAttribute>() is not null)
            .ToList();
        Assert.True(server.Count >= 20, $"found {server.Count} hub DTOs");

        var problems = new List<string>();
        foreach (var type in server.OrderBy(t => t.Name, StringComparer.Ordinal))
        {
            var name = ClientName.GetValueOrDefault(type.Name, type.Name);
            if (!client.TryGetValue(name, out var clientFields))
            {
                problems.Add($"{type.FullName}: no TypeScript interface '{name}' in web/packages/shared/src");
                continue;
            }

            var serverFields = WireFields(type);
            foreach (var f in serverFields.Except(clientFields))
                problems.Add($"{name}.{f}: sent by the server, missing from the TypeScript interface");
            foreach (var f in clientFields.Except(serverFields))
                problems.Add($"{name}.{f}: in the TypeScript interface, unknown to the server");
        }

        Assert.True(problems.Count == 0, string.Join('\n', problems));
    }

    [Fact]
    public void TheParser_ReadsInterfacesTheWayTheyAreWritten()
    {
        var parsed = Parse("""
            /** doc */
            export interface A {
              one: string;
              /** two's doc */
              two?: { nested: number }[];
              three: 'a' | 'b';
            }
            export interface B extends A { four: number }
            """);
        Assert.Equal(["one", "three", "two"], parsed["A"].Order(StringComparer.Ordinal));
        Assert.Equal(["four"], parsed["B"]);
    }

    private static HashSet<string> WireFields(Type type) =>
        type.GetMembers(BindingFlags.Public | BindingFlags.Instance)
            .Select(m => m.GetCustomAttribute<KeyAttribute>()?.StringKey)
            .OfType<string>()
            .ToHashSet(StringComparer.Ordinal);

    private static Dictionary<string, HashSet<string>> ClientInterfaces()
    {
        var all = new Dictionary<string, HashSet<string>>(StringComparer.Ordinal);
        foreach (var file in new[] { "types.ts", "hubDtos.ts" })
        {
            var path = Path.Combine(Root, "web", "packages", "shared", "src", file);
            if (!File.Exists(path))
                continue;
            foreach (var (name, fields) in Parse(File.ReadAllText(path)))
                all[name] = fields;
        }

        return all;
    }

    /// <summary>Top-level fields of each <c>export interface</c>: depth-1 lines "name?: type" (comments stripped).</summary>
    private static Dictionary<string, HashSet<string>> Parse(string source)
    {
        var text = Comments().Replace(source, "");
        var result = new Dictionary<string, HashSet<string>>(StringComparer.Ordinal);
        foreach (Match m in InterfaceStart().Matches(text))
        {
            var i = m.Index + m.Length;
            var depth = 1;
            var fields = new HashSet<string>(StringComparer.Ordinal);
            var atFieldStart = true;
            while (i < text.Length && depth > 0)
            {
                var c = text[i];
                if (depth == 1 && atFieldStart)
                {
                    var f = FieldStart().Match(text, i);
                    if (f.Success && f.Index == i)
                    {
                        fields.Add(f.Groups[1].Value);
                        i += f.Length;
                        atFieldStart = false;
                        continue;
                    }
                }

                if (c is '{' or '(' or '[')
                    depth++;
                else if (c is '}' or ')' or ']')
                    depth--;
                atFieldStart = depth == 1 && (c is ';' or '\n' or '{' || (atFieldStart && char.IsWhiteSpace(c)));
                i++;
            }

            result[m.Groups[1].Value] = fields;
        }

        return result;
    }

    [GeneratedRegex(@"/\*.*?\*/|//[^\n]*", RegexOptions.Singleline)]
    private static partial Regex Comments();

    [GeneratedRegex(@"export interface (\w+)(?:\s+extends\s+[\w<>, ]+)?\s*\{")]
    private static partial Regex InterfaceStart();

    [GeneratedRegex(@"\s*(\w+)\??\s*:")]
    private static partial Regex FieldStart();
}
