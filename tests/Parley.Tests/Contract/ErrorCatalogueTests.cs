using System.Reflection;
using System.Text.RegularExpressions;
using Parley.Server.Infrastructure;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Contract;

/// <summary>
/// One list of error codes (<see cref="ErrorCatalogue"/>) that the server throws from, the docs describe and the clients
/// copy: a code thrown but not catalogued, catalogued but not documented, or retryable on one side only fails here.
/// </summary>
public sealed partial class ErrorCatalogueTests
{
    private static readonly string Root = ParleyServer.FindRepositoryRoot();

    [Fact]
    public void Catalogue_HasUniqueSnakeCaseCodes_WithAnErrorStatusAndAMeaning()
    {
        Assert.NotEmpty(ErrorCatalogue.All);
        Assert.Equal(ErrorCatalogue.All.Count, ErrorCatalogue.All.Select(e => e.Code).Distinct(StringComparer.Ordinal).Count());
        Assert.All(ErrorCatalogue.All, e =>
        {
            Assert.Matches("^[a-z]+(_[a-z]+)*$", e.Code);
            Assert.InRange(e.Status, 400, 599);
            Assert.False(string.IsNullOrWhiteSpace(e.Meaning), e.Code);
        });
    }

    [Fact]
    public void ServerErrors_TakeTheirCodeOnlyFromTheCatalogue()
    {
        // The types allow nothing else: no constructor or factory takes a code as a string.
        var exceptionParameters = typeof(ParleyException).GetConstructors().Select(c => c.GetParameters()[0].ParameterType);
        Assert.All(exceptionParameters, t => Assert.Equal(typeof(ErrorCode), t));
        var problemFactories = typeof(Problems).GetMethods(BindingFlags.Public | BindingFlags.Static).Where(m => m.Name == "Create");
        Assert.All(problemFactories, m => Assert.DoesNotContain(m.GetParameters(), p => p.Name == "code" && p.ParameterType == typeof(string)));

        // And no code is written by hand where the types cannot see it: hub/gRPC texts "code: ...", problem "code" members.
        var handWritten = new List<string>();
        foreach (var file in Directory.EnumerateFiles(Path.Combine(Root, "src", "Parley.Server"), "*.cs", SearchOption.AllDirectories))
        {
            if (file.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal) || Path.GetFileName(file) == "ErrorCatalogue.cs")
            {
                continue;
            }

            var text = string.Join('\n', File.ReadLines(file).Where(l => !l.TrimStart().StartsWith("//", StringComparison.Ordinal)));
            foreach (Match m in HandWrittenCode().Matches(text))
            {
                handWritten.Add($"{Path.GetRelativePath(Root, file)}: {m.Value}");
            }
        }

        Assert.Empty(handWritten);
    }

    [Fact]
    public void EveryCatalogueCode_IsInTheDocsErrorTables_WithItsStatusAndRetryability()
    {
        var api = File.ReadAllText(Path.Combine(Root, "docs", "api.md"));
        var protocol = File.ReadAllText(Path.Combine(Root, "docs", "protocol.md"));
        var tableRows = (api + "\n" + protocol).Split('\n').Where(l => l.StartsWith('|')).ToList();
        Assert.All(ErrorCatalogue.All, e => Assert.Contains(tableRows, row => row.Contains($"`{e.Code}`", StringComparison.Ordinal)));

        // docs/api.md, "Error codes": one row per code, | `code` | status | retryable | meaning |.
        var documented = new Dictionary<string, (int Status, bool Retryable)>();
        foreach (Match m in ApiErrorRow().Matches(api))
        {
            documented[m.Groups["code"].Value] = (int.Parse(m.Groups["status"].Value, System.Globalization.CultureInfo.InvariantCulture), m.Groups["retry"].Value == "yes");
        }

        Assert.Equal(ErrorCatalogue.All.Select(e => e.Code).Order(StringComparer.Ordinal), documented.Keys.Order(StringComparer.Ordinal));
        Assert.All(ErrorCatalogue.All, e => Assert.Equal((e.Status, e.Retryable), documented[e.Code]));
    }

    [Fact]
    public void TypeScriptCatalogue_AgreesWithTheServer()
    {
        var ts = File.ReadAllText(Path.Combine(Root, "web", "packages", "shared", "src", "errorCatalogue.ts"));
        var client = TsEntry().Matches(ts).ToDictionary(m => m.Groups["code"].Value, m => m.Groups["retry"].Value == "true");
        Assert.NotEmpty(client);
        var server = ErrorCatalogue.All.ToDictionary(e => e.Code);
        Assert.All(client, c =>
        {
            Assert.True(server.ContainsKey(c.Key), $"{c.Key} is in errorCatalogue.ts but not in the server's catalogue");
            Assert.True(server[c.Key].Retryable == c.Value, $"{c.Key}: retryable {c.Value} in errorCatalogue.ts, {server[c.Key].Retryable} on the server");
        });

        // Clients do not retry codes they do not know, so every code a retry can help must be known to them.
        Assert.All(ErrorCatalogue.All.Where(e => e.Retryable), e => Assert.True(client.ContainsKey(e.Code), $"{e.Code} is retryable but missing from errorCatalogue.ts"));
    }

    [GeneratedRegex("""(HubException|Status|CloseMessage)\(\s*(StatusCode\.\w+,\s*)?\$?"[a-z_]+: |\["code"\]\s*=\s*"|new ParleyException\("|new\("[a-z_]+",""")]
    private static partial Regex HandWrittenCode();

    [GeneratedRegex(@"^\| `(?<code>[a-z_]+)` \| (?<status>\d{3}) \| (?<retry>yes|no) \|", RegexOptions.Multiline)]
    private static partial Regex ApiErrorRow();

    [GeneratedRegex(@"^\s+(?<code>[a-z_]+): \{ retryable: (?<retry>true|false) \},$", RegexOptions.Multiline)]
    private static partial Regex TsEntry();
}
