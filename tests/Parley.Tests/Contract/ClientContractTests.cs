using System.Text.RegularExpressions;
using Parley.Server.Features.Widget;
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

    [GeneratedRegex("""Of\("([a-z_]+)"[,)]""")]
    private static partial Regex CodeOf();

    [GeneratedRegex(@"const GENERATED = /(.+)/;")]
    private static partial Regex TsRegex();
}
