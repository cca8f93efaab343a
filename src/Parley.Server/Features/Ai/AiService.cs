using System.Threading.Channels;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Parley.Data;
using Parley.Server.Events;
using Parley.Server.Features.Knowledge;

namespace Parley.Server.Features.Ai;

/// <summary>
/// The live server's offline AI engines and knowledge index, kept current on every node: built at start from the
/// database (knowledge entries, admin synonyms, labelled intent examples), then updated from
/// <see cref="KnowledgeChanged"/> (raised locally and relayed from other nodes). One entry changed re-indexes that
/// entry only; synonyms re-analyse the whole index; intent examples retrain in the background and swap the
/// classifier in when done, so classification never waits for training. The LLM provider settings an admin saved
/// are loaded here too (at start, on <see cref="KnowledgeChangeKind.ProviderChanged"/> and on a full reload).
/// </summary>
public sealed partial class AiService(
    IServiceScopeFactory scopes, LlmProvider llm, IOptions<LlmOptions> llmDefaults, IDataProtectionProvider protection, ILogger<AiService> logger)
    : BackgroundService, IDomainEventListener<KnowledgeChanged>
{
    private readonly Channel<KnowledgeChanged> _changes = Channel.CreateUnbounded<KnowledgeChanged>(new UnboundedChannelOptions { SingleReader = true });
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile AiEngines _engines = AiEngines.CreateOffline();
    private volatile KnowledgeIndex? _index;

    public AiEngines Engines => _engines;

    /// <summary>The knowledge index (empty until the first load finishes).</summary>
    public KnowledgeIndex Index => _index ?? new KnowledgeIndex(_engines.Analyzer, _engines.RetrievalOptions);

    /// <summary>Completes once the first load from the database is done.</summary>
    public Task Ready => _ready.Task;

    public void Handle(KnowledgeChanged domainEvent) => _changes.Writer.TryWrite(domainEvent);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            // At start each node embeds what is missing (normally nothing: the node that changed an entry did it).
            await ReloadAsync(embedStale: true, stoppingToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            LogLoadFailed(logger, ex);
        }
        finally
        {
            _ready.TrySetResult();
        }

        try
        {
            while (await _changes.Reader.WaitToReadAsync(stoppingToken))
            {
                var retrain = false;
                var reload = false;
                var provider = false;
                var embedLocal = false;
                var entries = new HashSet<Guid>();
                var embed = new HashSet<Guid>();
                var vectors = new HashSet<Guid>();
                var allVectors = false;
                var deleted = new HashSet<Guid>();
                while (_changes.Reader.TryRead(out var change))
                {
                    switch (change.Kind)
                    {
                        case KnowledgeChangeKind.EntryUpserted when change.EntryId is { } id:
                            entries.Add(id);
                            deleted.Remove(id);
                            if (!change.Relayed)
                            {
                                embed.Add(id);
                            }

                            break;
                        case KnowledgeChangeKind.EmbeddingsUpdated:
                            // Our own publication comes back through the local listeners: nothing to load.
                            if (change.Relayed)
                            {
                                if (change.EntryId is { } updated)
                                {
                                    vectors.Add(updated);
                                }
                                else
                                {
                                    allVectors = true;
                                }
                            }

                            break;
                        case KnowledgeChangeKind.EntryDeleted when change.EntryId is { } id:
                            deleted.Add(id);
                            entries.Remove(id);
                            break;
                        case KnowledgeChangeKind.IntentExamplesChanged:
                            retrain = true;
                            break;
                        case KnowledgeChangeKind.ProviderChanged:
                            provider = true;
                            embedLocal |= !change.Relayed;
                            break;
                        default:
                            reload = true;
                            embedLocal |= !change.Relayed;
                            break;
                    }
                }

                try
                {
                    if (reload)
                    {
                        await ReloadAsync(embedLocal, stoppingToken);
                        continue;
                    }

                    if (provider)
                    {
                        await LoadProviderAsync(stoppingToken);
                        if (_index is { } current && current.Dense.Model != EmbeddingModel)
                        {
                            // Another embeddings model (or none): vectors of the old one are not comparable.
                            await SyncVectorsAsync(current, null, embedLocal, stoppingToken);
                        }
                    }

                    if (retrain)
                    {
                        await RetrainAsync(stoppingToken);
                    }

                    await ApplyAsync(entries, deleted, embed, stoppingToken);
                    if (allVectors && _index is { } all)
                    {
                        await SyncVectorsAsync(all, null, embedStale: false, stoppingToken);
                    }
                    else if (vectors.Count > 0 && _index is { } some)
                    {
                        await SyncVectorsAsync(some, vectors, embedStale: false, stoppingToken);
                    }
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    LogLoadFailed(logger, ex);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private async Task LoadProviderAsync(CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ParleyDbContext>();
        llm.Configure(await LlmProviderApi.LoadAsync(db, llmDefaults.Value, protection, cancellationToken));
    }

    private async Task ReloadAsync(bool embedStale, CancellationToken cancellationToken)
    {
        await LoadProviderAsync(cancellationToken);
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ParleyDbContext>();
        var synonyms = await db.KnowledgeSynonyms.AsNoTracking().Select(s => s.Terms).ToListAsync(cancellationToken);
        var examples = await db.IntentExamples.AsNoTracking().Select(e => new IntentSample(e.Text, e.Intent)).ToListAsync(cancellationToken);
        var entries = await db.KnowledgeEntries.AsNoTracking().ToListAsync(cancellationToken);
        // Nothing admin-defined: the built-in engines made at construction are already these (no second training).
        var engines = examples.Count == 0 && synonyms.Count == 0
            ? _engines
            : await Task.Run(() => AiEngines.CreateOffline(examples, synonyms.Select(t => (IReadOnlyList<string>)t)), cancellationToken);
        var index = new KnowledgeIndex(engines.Analyzer, engines.RetrievalOptions);
        index.Reset(entries.Select(ToDocument));
        var stale = await SyncVectorsAsync(index, null, embedStale: false, cancellationToken);
        _engines = engines;
        _index = index;
        if (embedStale && stale > 0)
        {
            // Embedding can take a while on a large knowledge base: the lexical index is in use meanwhile.
            await SyncVectorsAsync(index, null, embedStale: true, cancellationToken);
        }

        LogLoaded(logger, entries.Count, synonyms.Count, examples.Count);
    }

    private async Task RetrainAsync(CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ParleyDbContext>();
        var examples = await db.IntentExamples.AsNoTracking().Select(e => new IntentSample(e.Text, e.Intent)).ToListAsync(cancellationToken);
        var current = _engines;
        var intents = await Task.Run(() => IntentClassifier.Train(current.Analyzer, current.Sentiment, examples), cancellationToken);
        _engines = new AiEngines { Analyzer = current.Analyzer, Sentiment = current.Sentiment, Intents = intents, Takeover = current.Takeover, RetrievalOptions = current.RetrievalOptions };
    }

    private async Task ApplyAsync(HashSet<Guid> upserted, HashSet<Guid> deleted, HashSet<Guid> embed, CancellationToken cancellationToken)
    {
        var index = _index;
        if (index is null || (upserted.Count == 0 && deleted.Count == 0))
        {
            return;
        }

        foreach (var id in deleted)
        {
            index.Remove(id.ToString());
        }

        if (upserted.Count > 0)
        {
            await using var scope = scopes.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<ParleyDbContext>();
            var rows = await db.KnowledgeEntries.AsNoTracking().Where(e => upserted.Contains(e.Id)).ToListAsync(cancellationToken);
            foreach (var row in rows)
            {
                index.Upsert(ToDocument(row));
            }

            var local = rows.Where(r => embed.Contains(r.Id)).Select(r => r.Id).ToHashSet();
            await SyncVectorsAsync(index, rows.Select(r => r.Id).Except(local).ToHashSet(), embedStale: false, cancellationToken);
            await SyncVectorsAsync(index, local, embedStale: true, cancellationToken);

            // An upsert whose row is gone was deleted after it was raised.
            foreach (var id in upserted.Except(rows.Select(r => r.Id)))
            {
                index.Remove(id.ToString());
            }
        }
    }

    /// <summary>
    /// The embedding of a visitor's question for dense retrieval over <paramref name="index"/>, within
    /// <see cref="LlmOptions.EmbeddingTimeoutMilliseconds"/> and the site's token budget; null — retrieval stays
    /// lexical — when dense retrieval is off, the index has no vectors of the current model, or the provider is slow,
    /// failing or over budget. Never throws into the chat.
    /// </summary>
    public async Task<float[]?> EmbedQuestionAsync(KnowledgeIndex index, Guid siteId, string question, CancellationToken cancellationToken)
    {
        var model = EmbeddingModel;
        if (model is null || index.Dense.Count == 0 || index.Dense.Model != model)
        {
            return null;
        }

        try
        {
            var vectors = await llm.EmbedAsync([question], siteId, TimeSpan.FromMilliseconds(llm.Options.EmbeddingTimeoutMilliseconds), cancellationToken);
            return vectors?[0];
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            LogQuestionEmbeddingFailed(logger, ex);
            return null;
        }
    }

    /// <summary>The embeddings model in effect, or null when dense retrieval is off.</summary>
    private string? EmbeddingModel => llm.EmbeddingsEnabled ? llm.Options.EmbeddingModel : null;

    /// <summary>Texts per embeddings call when (re-)embedding entries.</summary>
    private const int EmbedBatch = 64;

    /// <summary>
    /// Loads the stored embeddings of <paramref name="ids"/> (null: every entry) into the index when they belong to
    /// the entry's current texts under the current model. With <paramref name="embedStale"/> the others are embedded
    /// through the provider, stored, and announced to the other nodes (<see cref="KnowledgeChangeKind.EmbeddingsUpdated"/>);
    /// a failing provider leaves them lexical-only until the next change or start.
    /// </summary>
    /// <returns>How many entries have no current vectors (before embedding).</returns>
    private async Task<int> SyncVectorsAsync(KnowledgeIndex index, HashSet<Guid>? ids, bool embedStale, CancellationToken cancellationToken)
    {
        var model = EmbeddingModel;
        index.Dense.UseModel(model);
        if (model is null || ids is { Count: 0 })
        {
            return 0;
        }

        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ParleyDbContext>();
        var entryQuery = db.KnowledgeEntries.AsNoTracking();
        var storedQuery = db.KnowledgeEmbeddings.AsNoTracking().Where(e => e.Model == model);
        if (ids is not null)
        {
            entryQuery = entryQuery.Where(e => ids.Contains(e.Id));
            storedQuery = storedQuery.Where(e => ids.Contains(e.EntryId));
        }

        var entries = await entryQuery.ToListAsync(cancellationToken);
        var stored = await storedQuery.ToDictionaryAsync(e => e.EntryId, cancellationToken);
        var stale = new List<(Guid Id, List<string> Texts, string Hash)>();
        foreach (var entry in entries)
        {
            var texts = DenseVectors.Texts(ToDocument(entry));
            var hash = DenseVectors.TextHash(texts);
            if (stored.TryGetValue(entry.Id, out var row) && row.TextHash == hash
                && DenseVectors.FromBytes(row.Vectors, row.Dimensions) is { } vectors && vectors.Count == texts.Count)
            {
                index.Dense.Set(entry.Id.ToString(), vectors);
            }
            else
            {
                index.Dense.Remove(entry.Id.ToString());
                stale.Add((entry.Id, texts, hash));
            }
        }

        if (!embedStale || stale.Count == 0)
        {
            return stale.Count;
        }

        var embedded = new List<Guid>();
        var now = scope.ServiceProvider.GetRequiredService<TimeProvider>().GetUtcNow().UtcDateTime;
        var batch = new List<(Guid Id, List<string> Texts, string Hash)>();
        var pending = 0;
        for (var i = 0; i < stale.Count; i++)
        {
            batch.Add(stale[i]);
            pending += stale[i].Texts.Count;
            if (i + 1 < stale.Count && pending + stale[i + 1].Texts.Count <= EmbedBatch)
            {
                continue;
            }

            pending = 0;

            var vectors = await llm.EmbedAsync(batch.SelectMany(b => b.Texts).ToList(), null, null, cancellationToken);
            if (vectors is null)
            {
                LogEmbeddingFailed(logger, stale.Count - embedded.Count);
                break;
            }

            var offset = 0;
            foreach (var (id, entryTexts, hash) in batch)
            {
                var mine = vectors.Skip(offset).Take(entryTexts.Count).ToList();
                offset += entryTexts.Count;
                index.Dense.Set(id.ToString(), mine);
                var row = await db.KnowledgeEmbeddings.FindAsync([id, model], cancellationToken);
                if (row is null)
                {
                    db.KnowledgeEmbeddings.Add(new KnowledgeEmbedding { EntryId = id, Model = model, TextHash = hash, Dimensions = mine[0].Length, Vectors = DenseVectors.ToBytes(mine), UpdatedAt = now });
                }
                else
                {
                    row.TextHash = hash;
                    row.Dimensions = mine[0].Length;
                    row.Vectors = DenseVectors.ToBytes(mine);
                    row.UpdatedAt = now;
                }
            }

            try
            {
                await db.SaveChangesAsync(cancellationToken);
                embedded.AddRange(batch.Select(b => b.Id));
            }
            catch (DbUpdateException)
            {
                // Another node stored them first, or an entry was deleted meanwhile: what is in memory still holds.
                db.ChangeTracker.Clear();
            }

            batch.Clear();
        }

        if (embedded.Count > 0)
        {
            scope.ServiceProvider.GetRequiredService<DomainEvents>().Publish(
                new KnowledgeChanged(embedded.Count == 1 ? embedded[0] : null, KnowledgeChangeKind.EmbeddingsUpdated));
            LogEmbedded(logger, embedded.Count, model);
        }

        return stale.Count;
    }

    private static KnowledgeDocument ToDocument(KnowledgeEntry entry) =>
        new(entry.Id.ToString(), entry.Question, entry.Variants, entry.Answer, entry.Language, entry.TeamId, entry.Enabled);

    [LoggerMessage(Level = LogLevel.Information, Message = "AI engines loaded: {Entries} knowledge entries, {Synonyms} synonym groups, {Examples} labelled intent examples")]
    private static partial void LogLoaded(ILogger logger, int entries, int synonyms, int examples);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Embedding a visitor's question failed; retrieval is lexical for it")]
    private static partial void LogQuestionEmbeddingFailed(ILogger logger, Exception exception);

    [LoggerMessage(Level = LogLevel.Information, Message = "Embedded {Entries} knowledge entries with {Model}")]
    private static partial void LogEmbedded(ILogger logger, int entries, string model);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Embedding {Entries} knowledge entries failed; they are found by lexical retrieval until the next change or start")]
    private static partial void LogEmbeddingFailed(ILogger logger, int entries);

    [LoggerMessage(Level = LogLevel.Error, Message = "Loading the AI engines from the database failed; the built-in engines stay in use")]
    private static partial void LogLoadFailed(ILogger logger, Exception exception);
}
