using Microsoft.EntityFrameworkCore;

namespace Parley.Data;

/// <summary>
/// One row per conversation with everything reports need, kept up to date as the conversation changes so that a
/// report reads these rows and never scans messages. Message counters and the first reply are advanced by the
/// group commit in the transaction that stores the messages; the lifecycle (team, assignee, close, rating, intent) is
/// copied from the conversation row after each change. Definitions of every metric built on it: docs/reports.md.
/// </summary>
public sealed class ConversationFacts
{
    public Guid ConversationId { get; set; }

    public Guid SiteId { get; set; }

    /// <summary>The conversation's department (team) now, or when it closed.</summary>
    public Guid? TeamId { get; set; }

    /// <summary>The agent who holds it now, or held it when it closed; reports attribute the conversation to them.</summary>
    public Guid? AssigneeId { get; set; }

    /// <summary>The intent of the first visitor message that is more than a greeting (AI module), set at close.</summary>
    public string? Intent { get; set; }

    public DateTime CreatedAt { get; set; }

    /// <summary>When it first waited for a person: created (not bot-first) or handed off by the bot.</summary>
    public DateTime? FirstQueuedAt { get; set; }

    /// <summary>When a person first got it (routing, a pick, an assignment or a take-over from the bot).</summary>
    public DateTime? FirstAssignedAt { get; set; }

    public DateTime? FirstVisitorMessageAt { get; set; }

    /// <summary>The first visible message of a person (agent), not the bot's and not a note.</summary>
    public DateTime? FirstResponseAt { get; set; }

    /// <summary>When it was closed; cleared again when it is reopened.</summary>
    public DateTime? ClosedAt { get; set; }

    /// <summary>Visible messages of the visitor.</summary>
    public int MessagesIn { get; set; }

    /// <summary>Visible messages of agents (notes and event lines are not counted).</summary>
    public int MessagesOut { get; set; }

    /// <summary>Messages of the bot.</summary>
    public int BotMessages { get; set; }

    /// <summary>The bot had the conversation at some point (bot-first site).</summary>
    public bool BotStarted { get; set; }

    /// <summary>The bot handed it to people (or a person took it from the bot).</summary>
    public bool HandedOff { get; set; }

    /// <summary>It was closed while the visitor was waiting for an answer to their last message.</summary>
    public bool Abandoned { get; set; }

    /// <summary>The visitor's satisfaction rating, 1-5 (the comment stays in <see cref="ConversationRating"/>).</summary>
    public int? CsatScore { get; set; }

    public DateTime UpdatedAt { get; set; }

    internal static void Configure(ModelBuilder modelBuilder) =>
        modelBuilder.Entity<ConversationFacts>(e =>
        {
            e.HasKey(x => x.ConversationId);
            e.Property(x => x.Intent).HasMaxLength(64);
            e.HasOne<Conversation>().WithOne().HasForeignKey<ConversationFacts>(x => x.ConversationId).OnDelete(DeleteBehavior.Cascade);
            // Reports read a range of creation (and of closing) times, all departments or some of them.
            e.HasIndex(x => x.CreatedAt);
            e.HasIndex(x => x.ClosedAt).HasFilter("\"ClosedAt\" IS NOT NULL");
            e.HasIndex(x => new { x.TeamId, x.CreatedAt });
            e.HasIndex(x => new { x.AssigneeId, x.CreatedAt });
            // An agent's (or a supervisor's own, outside his departments) conversations closed in a range: without it
            // SQLite walks every conversation the user ever held through (AssigneeId, CreatedAt) to find them; the
            // team rides along so "outside his departments" is decided in the index.
            e.HasIndex(x => new { x.AssigneeId, x.ClosedAt, x.TeamId }).HasFilter("\"ClosedAt\" IS NOT NULL");
            // The conversations still open, by creation: reports add them to the hourly rollups (which hold closed
            // conversations only). Neither column changes on the message path, so the group commit's upsert does
            // not touch this index.
            e.HasIndex(x => x.CreatedAt, "IX_ConversationFacts_Open_CreatedAt").HasFilter("\"ClosedAt\" IS NULL");
        });
}

/// <summary>
/// One hour (UTC) — or one UTC day, the sum of its hours — of closed conversations for one department and site (and,
/// at <see cref="AgentLevel"/>, one agent): the created-side metrics of the closed
/// conversations created in that hour and the closing metrics of those closed in it — counters, sums and duration
/// histograms (<c>ReportHistogram</c>). Rebuilt from <see cref="ConversationFacts"/> whenever the hour is marked in
/// <see cref="ReportRollupDirty"/>; never the source of truth. docs/reports.md, "Hourly rollups".
/// </summary>
public sealed class ReportRollup
{
    /// <summary><see cref="Level"/> of the rows per department and site: summaries, time series, those breakdowns.</summary>
    public const int DepartmentLevel = 0;

    /// <summary><see cref="Level"/> of the rows per department, site and agent: the breakdown by agent.</summary>
    public const int AgentLevel = 1;

    /// <summary>
    /// <see cref="DepartmentLevel"/> or <see cref="AgentLevel"/>: each closed conversation counts once in each level,
    /// so a report sums one level only.
    /// </summary>
    public int Level { get; set; }

    /// <summary>At <see cref="AgentLevel"/> the conversation's assignee (<see cref="Guid.Empty"/> for none); else empty.</summary>
    public Guid AgentId { get; set; }

    /// <summary>The first hour (UTC) the row covers.</summary>
    public DateTime Hour { get; set; }

    /// <summary>Hours covered: 1, or 24 for a UTC day (the sum of its hourly rows, rewritten with each of them).</summary>
    public int Span { get; set; }

    /// <summary>The department; <see cref="Guid.Empty"/> for conversations without one.</summary>
    public Guid TeamId { get; set; }

    public Guid SiteId { get; set; }

    public int Created { get; set; }

    public int Missed { get; set; }

    public int Abandoned { get; set; }

    public long MessagesIn { get; set; }

    public long MessagesOut { get; set; }

    public int BotConversations { get; set; }

    public int HandedOff { get; set; }

    public int FirstResponseCount { get; set; }

    public double FirstResponseSum { get; set; }

    public int QueueWaitCount { get; set; }

    public double QueueWaitSum { get; set; }

    public int Closed { get; set; }

    public int ResolutionCount { get; set; }

    public double ResolutionSum { get; set; }

    public int HandleCount { get; set; }

    public double HandleSum { get; set; }

    public int Csat1 { get; set; }

    public int Csat2 { get; set; }

    public int Csat3 { get; set; }

    public int Csat4 { get; set; }

    public int Csat5 { get; set; }

    public int BotClosed { get; set; }

    public int BotResolved { get; set; }

    /// <summary>The four duration histograms (first response, queue wait, resolution, handle), sparse, varint-encoded.</summary>
    public byte[] Histograms { get; set; } = [];

    internal static void Configure(ModelBuilder modelBuilder)
    {
        modelBuilder.Entity<ReportRollup>(e =>
        {
            e.HasKey(x => new { x.Level, x.Span, x.Hour, x.TeamId, x.SiteId, x.AgentId });
        });
        modelBuilder.Entity<ReportRollupDirty>(e =>
        {
            e.HasKey(x => x.Hour);
        });
    }
}

/// <summary>
/// An hour whose rollup rows are stale: written (in the same transaction) by whatever changes a closed conversation's
/// facts, read and cleared by the rollup materialiser. <see cref="Stamp"/> grows with each mark, so a mark made while
/// the hour was being rebuilt survives the clear (the clear only removes the stamp it read).
/// </summary>
public sealed class ReportRollupDirty
{
    public DateTime Hour { get; set; }

    public long Stamp { get; set; }
}
