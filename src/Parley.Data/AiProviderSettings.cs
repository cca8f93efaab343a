using Microsoft.EntityFrameworkCore;

namespace Parley.Data;

/// <summary>
/// The LLM provider an admin configured in the console (one row, <see cref="SingletonId"/>); while there is none, the
/// server uses <c>Parley:Ai:Llm</c> from appsettings. The API key is stored encrypted with the app's Data Protection
/// key ring and never returned.
/// </summary>
public sealed class AiProviderSettings
{
    public const int SingletonId = 1;
    public const int MaxUrlLength = 500;
    public const int MaxModelLength = 200;
    public const int MaxApiKeyLength = 500;

    public int Id { get; set; } = SingletonId;

    public bool Enabled { get; set; }

    public string? BaseUrl { get; set; }

    public required string ChatModel { get; set; }

    /// <summary>Model of the provider's embeddings endpoint (dense retrieval); null: lexical retrieval only.</summary>
    public string? EmbeddingModel { get; set; }

    public int TimeoutMilliseconds { get; set; }

    public int MaxOutputTokens { get; set; }

    public long DailyTokenBudgetPerSite { get; set; }

    /// <summary>The API key protected by the key ring; null: the appsettings key (if any); empty: no key.</summary>
    public string? ApiKeyProtected { get; set; }

    public DateTime UpdatedAt { get; set; }

    public Guid? UpdatedBy { get; set; }

    internal static void Configure(ModelBuilder modelBuilder) =>
        modelBuilder.Entity<AiProviderSettings>(e =>
        {
            e.Property(x => x.Id).ValueGeneratedNever();
            e.Property(x => x.BaseUrl).HasMaxLength(MaxUrlLength);
            e.Property(x => x.ChatModel).HasMaxLength(MaxModelLength);
            e.Property(x => x.EmbeddingModel).HasMaxLength(MaxModelLength);
            e.Property(x => x.ApiKeyProtected).HasMaxLength(4000);
        });
}
