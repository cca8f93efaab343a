namespace Parley.Server.Features.Knowledge;

/// <summary>What changed in the knowledge base.</summary>
public enum KnowledgeChangeKind
{
    /// <summary>One entry was created, edited, enabled or disabled: reload <see cref="KnowledgeChanged.EntryId"/>.</summary>
    EntryUpserted,

    /// <summary>One entry was deleted: drop <see cref="KnowledgeChanged.EntryId"/>.</summary>
    EntryDeleted,

    /// <summary>The synonym groups were replaced.</summary>
    SynonymsChanged,

    /// <summary>An intent example was added or removed.</summary>
    IntentExamplesChanged,

    /// <summary>
    /// Many entries changed at once (an import), or this node may have missed changes (the cluster bus was down):
    /// reload the whole knowledge base. <see cref="KnowledgeChanged.EntryId"/> is null.
    /// </summary>
    Imported,

    /// <summary>The LLM provider settings changed (an admin saved them in the console): reload them, not the index.</summary>
    ProviderChanged,

    /// <summary>
    /// A node stored new embeddings (dense retrieval) for <see cref="KnowledgeChanged.EntryId"/>, or for many entries
    /// when it is null: the other nodes load them from the database instead of embedding the texts again.
    /// </summary>
    EmbeddingsUpdated,
}

/// <summary>
/// Raised after a knowledge-base change is committed, on the node that made it and (through the cluster bus) on every
/// other node, so each node's search index follows the store. Listeners reload from the database; the event carries
/// only what to reload, never the content.
/// </summary>
public sealed record KnowledgeChanged(Guid? EntryId, KnowledgeChangeKind Kind)
{
    /// <summary>
    /// Set on the receiving node when the change came from another node through the cluster bus: work that must run
    /// once per change (embedding an entry's texts) runs on the node that made it, not on every node.
    /// </summary>
    public bool Relayed { get; init; }
}
