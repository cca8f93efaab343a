using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.ChangeTracking;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Parley.Data;

/// <summary>
/// One answer of the knowledge base the bot and the agent copilot answer from: a question with its variants, the
/// answer, and where it applies (department, language). Retrieval indexes question, variants and answer.
/// </summary>
public sealed class KnowledgeEntry
{
    public const int MaxQuestionLength = 500;
    public const int MaxVariantLength = 500;
    public const int MaxVariants = 50;
    public const int MaxAnswerLength = 4000;
    public const int MaxLanguageLength = 35;
    public const int MaxTagLength = 64;
    public const int MaxTags = 20;

    public Guid Id { get; set; }

    /// <summary>The department it answers for, sandboxed like conversations; null means every department.</summary>
    public Guid? TeamId { get; set; }

    /// <summary>The title or canonical question.</summary>
    public required string Question { get; set; }

    /// <summary>Other ways visitors ask the same question (stored as a JSON array).</summary>
    public List<string> Variants { get; set; } = [];

    /// <summary>Plain text; links are plain URLs that clients turn into safe links.</summary>
    public required string Answer { get; set; }

    /// <summary>BCP 47 tag such as <c>zh-CN</c> or <c>en</c>; null for any language.</summary>
    public string? Language { get; set; }

    /// <summary>Free labels admins filter by (stored as a JSON array).</summary>
    public List<string> Tags { get; set; } = [];

    public bool Enabled { get; set; } = true;

    public DateTime CreatedAt { get; set; }

    public DateTime UpdatedAt { get; set; }

    /// <summary>The user who last changed it; null when imported by the system.</summary>
    public Guid? UpdatedBy { get; set; }
}

/// <summary>A group of words an admin declares interchangeable for retrieval, e.g. 保修, 质保, warranty, guarantee.</summary>
public sealed class KnowledgeSynonym
{
    public const int MaxTerms = 50;
    public const int MaxTermLength = 100;
    public const int MaxGroups = 2000;

    public Guid Id { get; set; }

    public List<string> Terms { get; set; } = [];

    public DateTime UpdatedAt { get; set; }
}

/// <summary>A labelled example message the intent classifier trains on: seeded by admins or an agent's correction.</summary>
public sealed class IntentExample
{
    public const int MaxIntentLength = 64;
    public const int MaxTextLength = 1000;

    public Guid Id { get; set; }

    /// <summary>Lower-case snake_case intent name, e.g. <c>ask_price</c>.</summary>
    public required string Intent { get; set; }

    public required string Text { get; set; }

    public Guid? CreatedBy { get; set; }

    public DateTime CreatedAt { get; set; }

    /// <summary>
    /// The message an agent relabelled, when the example came from a correction. A <c>long</c> like
    /// <see cref="Message.Id"/> (message ids are not Guids in this store).
    /// </summary>
    public long? MessageId { get; set; }
}

/// <summary>
/// The embeddings of one entry's question and variants under one embeddings model (dense retrieval, docs/ai.md):
/// computed once by the node that saw the change, read by every node. <see cref="TextHash"/> is the version: the
/// hash of the texts embedded, so an edited entry (or another model, another key) is embedded again.
/// </summary>
public sealed class KnowledgeEmbedding
{
    public const int MaxModelLength = 200;

    public Guid EntryId { get; set; }

    public required string Model { get; set; }

    /// <summary>SHA-256 (hex) of the embedded texts: the entry version these vectors belong to.</summary>
    public required string TextHash { get; set; }

    /// <summary>Floats per vector.</summary>
    public int Dimensions { get; set; }

    /// <summary>One vector per text (question first, then each variant), little-endian float32, concatenated.</summary>
    public required byte[] Vectors { get; set; }

    public DateTime UpdatedAt { get; set; }
}

/// <summary>Model configuration of the knowledge-base tables (called from <see cref="ParleyDbContext"/>).</summary>
internal static class KnowledgeModel
{
    public static void Configure(ModelBuilder modelBuilder)
    {
        modelBuilder.Entity<KnowledgeEntry>(e =>
        {
            e.Property(x => x.Question).HasMaxLength(KnowledgeEntry.MaxQuestionLength);
            e.Property(x => x.Answer).HasMaxLength(KnowledgeEntry.MaxAnswerLength);
            e.Property(x => x.Language).HasMaxLength(KnowledgeEntry.MaxLanguageLength);
            StringList(e.Property(x => x.Variants));
            StringList(e.Property(x => x.Tags));
            e.HasOne<Team>().WithMany().HasForeignKey(x => x.TeamId).OnDelete(DeleteBehavior.Cascade);
            e.HasIndex(x => new { x.TeamId, x.Id });
        });

        modelBuilder.Entity<KnowledgeEmbedding>(e =>
        {
            e.HasKey(x => new { x.EntryId, x.Model });
            e.Property(x => x.Model).HasMaxLength(KnowledgeEmbedding.MaxModelLength);
            e.Property(x => x.TextHash).HasMaxLength(64);
            e.HasOne<KnowledgeEntry>().WithMany().HasForeignKey(x => x.EntryId).OnDelete(DeleteBehavior.Cascade);
        });

        modelBuilder.Entity<KnowledgeSynonym>(e => StringList(e.Property(x => x.Terms)));

        modelBuilder.Entity<IntentExample>(e =>
        {
            e.Property(x => x.Intent).HasMaxLength(IntentExample.MaxIntentLength);
            e.Property(x => x.Text).HasMaxLength(IntentExample.MaxTextLength);
            e.HasIndex(x => new { x.Intent, x.CreatedAt });
        });
    }

    /// <summary>A list of strings as one JSON-array text column (same shape on SQLite and PostgreSQL).</summary>
    private static void StringList(PropertyBuilder<List<string>> property) =>
        property
            .HasConversion(
                v => JsonSerializer.Serialize(v, JsonSerializerOptions.Default),
                v => string.IsNullOrEmpty(v) ? new List<string>() : JsonSerializer.Deserialize<List<string>>(v, JsonSerializerOptions.Default) ?? new List<string>(),
                new ValueComparer<List<string>>(
                    (a, b) => (a == null && b == null) || (a != null && b != null && a.SequenceEqual(b)),
                    v => v.Aggregate(0, (hash, s) => HashCode.Combine(hash, s.GetHashCode(StringComparison.Ordinal))),
                    v => v.ToList()))
            .HasColumnType("text")
            .IsRequired();
}
