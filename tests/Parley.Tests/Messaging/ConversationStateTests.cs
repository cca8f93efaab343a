using System.Reflection;
using System.Text.Json;
using System.Text.RegularExpressions;
using Parley.Data;
using Parley.Server.Messaging;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Messaging;

/// <summary>
/// ConversationState is built in one place. The cluster relay's own copy once left out WaitingSince and SnoozedUntil,
/// so after a Redis outage agents' inboxes lost their waiting order and the snoozed filter.
/// </summary>
public sealed class ConversationStateTests
{
    private static readonly JsonSerializerOptions Web = new(JsonSerializerDefaults.Web);

    [Fact]
    public void From_CopiesEveryFieldTheConversationRowHas()
    {
        var conversation = new Conversation
        {
            Id = Guid.NewGuid(),
            SiteId = Guid.NewGuid(),
            ContactId = Guid.NewGuid(),
            Status = ConversationStatus.Pending,
            AssigneeId = Guid.NewGuid(),
            TeamId = Guid.NewGuid(),
            LastSeq = 7,
            LastVisitorSeq = 5,
            CreatedAt = new DateTime(2026, 1, 2, 3, 4, 5, DateTimeKind.Utc),
            LastMessageAt = new DateTime(2026, 1, 2, 3, 5, 0, DateTimeKind.Utc),
            LastMessagePreview = "hello",
            LastMessageSenderKind = SenderKind.Visitor,
            SnoozedUntil = new DateTime(2026, 1, 3, 0, 0, 0, DateTimeKind.Utc),
            WaitingSince = new DateTime(2026, 1, 2, 3, 4, 30, DateTimeKind.Utc),
        };

        var state = ConversationState.From(conversation, "Ann", "Bob", contactBlocked: true);

        // Every property the two types share must be carried over: a field added to both and forgotten here fails.
        var shared = typeof(ConversationState).GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Select(p => (State: p, Row: typeof(Conversation).GetProperty(p.Name)))
            .Where(x => x.Row is not null)
            .ToList();
        Assert.Contains(shared, x => x.State.Name == nameof(ConversationState.WaitingSince));
        Assert.Contains(shared, x => x.State.Name == nameof(ConversationState.SnoozedUntil));
        foreach (var (stateProperty, rowProperty) in shared)
        {
            Assert.Equal(rowProperty!.GetValue(conversation), stateProperty.GetValue(state));
        }

        Assert.Equal("Ann", state.ContactName);
        Assert.Equal("Bob", state.AssigneeName);
        Assert.True(state.ContactBlocked);
        var summary = state.ToSummary();
        Assert.Equal(conversation.WaitingSince, summary.WaitingSince);
        Assert.Equal(conversation.SnoozedUntil, summary.SnoozedUntil);
    }

    [Fact]
    public void State_SurvivesTheClusterBusJsonRoundTrip()
    {
        var conversation = new Conversation { Id = Guid.NewGuid(), WaitingSince = DateTime.UtcNow, SnoozedUntil = DateTime.UtcNow.AddHours(1), LastSeq = 3 };
        var state = ConversationState.From(conversation, "Ann", null);

        var json = JsonSerializer.Serialize(state, Web);
        var copy = JsonSerializer.Deserialize<ConversationState>(json, Web);

        Assert.Equal(state, copy);
    }

    [Fact]
    public void NoCodeBuildsConversationStateFieldByField()
    {
        // The regression was three hand-written copies; the private constructor keeps it at one. This scan fails on
        // the old code, where GroupCommit, ConversationService and ClusterRelay each wrote `new ConversationState {`.
        var root = ParleyServer.RepositoryRoot;
        var offenders = Directory.EnumerateFiles(Path.Combine(root, "src"), "*.cs", SearchOption.AllDirectories)
            .Where(f => Regex.IsMatch(File.ReadAllText(f), @"new ConversationState\s*[({]"))
            .Select(f => Path.GetRelativePath(root, f))
            .ToList();
        Assert.Empty(offenders);
    }
}
