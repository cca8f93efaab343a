using System.Text.RegularExpressions;
using Parley.Server.Features.Widget;
using Parley.Server.Infrastructure;
using Parley.Server.Realtime;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Contract;

/// <summary>
/// Rules the server and both front ends must read the same way, checked against the files that hold them: the system
/// line codes (server, docs/protocol.md, the shared renderer in both languages), the agents' inbox events and the
/// generated visitor name.
/// </summary>
public sealed partial class ClientContractTests
{
    private static readonly string Root = ParleyServer.FindRepositoryRoot();

    private static string Read(params string[] parts) => File.ReadAllText(Path.Combine([Root, .. parts]));

    [Fact]
    public void EverySystemLineCode_IsDocumented_AndRenderedInBothLanguages()
    {
        var server = CodeOf().Matches(Read("src", "Parley.Server", "Messaging", "SystemLine.cs")).Select(m => m.Groups[1].Value).ToHashSet();
        Assert.Contains("closed", server);
        Assert.Contains("bot_handoff", server);

        var protocol = Read("docs", "protocol.md");
        var ts = Read("web", "packages", "shared", "src", "systemLines.ts");
        var zhStart = ts.IndexOf("'zh-CN': {", StringComparison.Ordinal);
        Assert.True(zhStart > 0, "systemLines.ts has a zh-CN table");
        var en = ts[..zhStart];
        var zh = ts[zhStart..];
        foreach (var code in server)
        {
            Assert.True(protocol.Contains($"| `{code}` |", StringComparison.Ordinal), $"docs/protocol.md lists system line '{code}'");
            Assert.True(Regex.IsMatch(en, $@"^\s+{code}: ", RegexOptions.Multiline), $"systemLines.ts renders '{code}' in English");
            Assert.True(Regex.IsMatch(zh, $@"^\s+{code}: ", RegexOptions.Multiline), $"systemLines.ts renders '{code}' in Chinese");
        }
    }

    /// <summary>The agents' inbox events: documented, and handled by the console (its store and the live queue view).</summary>
    [Theory]
    [InlineData(RealtimeFanout.ConversationUpdatedEvent)]
    [InlineData(RealtimeFanout.ConversationsUpdatedEvent)]
    public void InboxEvents_AreDocumented_AndHandledByTheConsole(string hubEvent)
    {
        Assert.Contains($"| `{hubEvent}` |", Read("docs", "protocol.md"), StringComparison.Ordinal);
        Assert.Contains($"connection.on('{hubEvent}'", Read("web", "packages", "console", "src", "store.ts"), StringComparison.Ordinal);
        Assert.Contains($"onHubEvent<ConversationSummary{(hubEvent == RealtimeFanout.ConversationsUpdatedEvent ? "[]" : "")}>('{hubEvent}'", Read("web", "packages", "console", "src", "views", "QueueView.vue"), StringComparison.Ordinal);
    }

    [Fact]
    public void GeneratedVisitorNames_MatchThePatternTheClientsRender()
    {
        var ts = Read("web", "packages", "shared", "src", "visitorNames.ts");
        var pattern = TsRegex().Match(ts);
        Assert.True(pattern.Success, "visitorNames.ts declares the GENERATED pattern");
        var clientPattern = new Regex(pattern.Groups[1].Value);
        for (var i = 0; i < 50; i++)
        {
            var name = VisitorProfiles.GeneratedName(Guid.NewGuid());
            Assert.Matches(clientPattern, name);
        }

        Assert.Contains("`Visitor XXXXXX`", Read("docs", "protocol.md"), StringComparison.Ordinal);
    }

    /// <summary>
    /// The back-off after a throttled send (<see cref="ClientBackOff"/>): the widget's and console's outbox, the load
    /// generator's copy, the wait the server names when it refuses, and the words of the catalogue and the docs.
    /// </summary>
    [Fact]
    public void ThrottledSendBackOff_IsOneSchedule_InTheClients_TheLoadGenerator_TheServerAndTheDocs()
    {
        int Constant(string text, string name)
        {
            var match = Regex.Match(text, $@"\b{name}\s*=\s*([0-9_]+);");
            Assert.True(match.Success, $"{name} not found");
            return int.Parse(match.Groups[1].Value.Replace("_", string.Empty, StringComparison.Ordinal), System.Globalization.CultureInfo.InvariantCulture);
        }

        var ts = Read("web", "packages", "shared", "src", "errors.ts");
        Assert.Equal(ClientBackOff.FirstCeilingMilliseconds, Constant(ts, "THROTTLE_FIRST_CEILING_MS"));
        Assert.Equal(ClientBackOff.MaxCeilingMilliseconds, Constant(ts, "THROTTLE_MAX_CEILING_MS"));
        Assert.Contains("Math.min(THROTTLE_MAX_CEILING_MS, THROTTLE_FIRST_CEILING_MS * 2 ** Math.max(0, attempt))", ts, StringComparison.Ordinal);
        Assert.Contains("return ceiling / 2 + (ceiling / 2) * random();", ts, StringComparison.Ordinal);

        var generator = Read("bench", "Parley.LoadTest", "MessageScenarios.cs");
        Assert.Equal(ClientBackOff.FirstCeilingMilliseconds, Constant(generator, "ThrottleFirstCeilingMilliseconds"));
        Assert.Equal(ClientBackOff.MaxCeilingMilliseconds, Constant(generator, "ThrottleMaxCeilingMilliseconds"));
        Assert.Contains("ceiling / 2 + Random.Shared.NextDouble() * ceiling / 2", generator, StringComparison.Ordinal);

        // The words follow from the numbers: half to all of the first ceiling, then of the last.
        static string Seconds(int ms) => (ms / 1000.0).ToString("0.#", System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal(
            ClientBackOff.Summary,
            $"{Seconds(ClientBackOff.FirstCeilingMilliseconds / 2)}–{Seconds(ClientBackOff.FirstCeilingMilliseconds)} s at random, doubling to {Seconds(ClientBackOff.MaxCeilingMilliseconds / 2)}–{Seconds(ClientBackOff.MaxCeilingMilliseconds)} s");
        Assert.Contains(ClientBackOff.Summary, ErrorCatalogue.Overloaded.Meaning, StringComparison.Ordinal);
        Assert.Contains(ClientBackOff.Summary, ErrorCatalogue.RateLimited.Meaning, StringComparison.Ordinal);
        var protocol = Read("docs", "protocol.md");
        var operations = Read("docs", "operations.md");
        Assert.Equal(2, Regex.Count(protocol, Regex.Escape(ClientBackOff.Summary)));
        Assert.Contains(ClientBackOff.Summary, operations, StringComparison.Ordinal);

        // No other schedule is stated anywhere they describe it.
        foreach (var (name, text) in new[] { ("docs/protocol.md", protocol), ("docs/operations.md", operations), ("docs/api.md", Read("docs", "api.md")) })
        {
            foreach (Match stated in Regex.Matches(text, @"\d+(\.\d+)?–\d+ s at random[^.;)|]*"))
            {
                Assert.True(stated.Value.StartsWith(ClientBackOff.Summary, StringComparison.Ordinal), $"{name} states another back-off: '{stated.Value}'");
            }
        }
    }

    [GeneratedRegex("""Of\("([a-z_]+)"[,)]""")]
    private static partial Regex CodeOf();

    [GeneratedRegex(@"const GENERATED = /(.+)/;")]
    private static partial Regex TsRegex();
}
