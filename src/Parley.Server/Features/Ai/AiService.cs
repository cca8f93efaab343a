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
            await ReloadAsync(stoppingToken);
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
                var entries = new HashSet<Guid>();
                var deleted = new HashSet<Guid>();
                while (_changes.Reader.TryRead(out var change))
                {
                    switch (change.Kind)
                    {
                        case KnowledgeChangeKind.EntryUpserted when change.EntryId is { } id:
                            entries.Add(id);
                            deleted.Remove(id);
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
                            break;
                        default:
                            reload = true;
                            break;
                    }
                }

                try
                {
                    if (reload)
                    {
                        await ReloadAsync(stoppingToken);
                        continue;
                    }

                    if (provider)
                    {
                        await LoadProviderAsync(stoppingToken);
                    }

                    if (retrain)
                    {
                        await RetrainAsync(stoppingToken);
                    }

                    await ApplyAsync(entries, deleted, stoppingToken);
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

    private async Task ReloadAsync(CancellationToken cancellationToken)
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
        _engines = engines;
        _index = index;
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

    private async Task ApplyAsync(HashSet<Guid> upserted, HashSet<Guid> deleted, CancellationToken cancellationToken)
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

            // An upsert whose row is gone was deleted after it was raised.
            foreach (var id in upserted.Except(rows.Select(r => r.Id)))
            {
                index.Remove(id.ToString());
            }
        }
    }

    private static KnowledgeDocument ToDocument(KnowledgeEntry entry) =>
        new(entry.Id.ToString(), entry.Question, entry.Variants, entry.Answer, entry.Language, entry.TeamId, entry.Enabled);

    [LoggerMessage(Level = LogLevel.Information, Message = "AI engines loaded: {Entries} knowledge entries, {Synonyms} synonym groups, {Examples} labelled intent examples")]
    private static partial void LogLoaded(ILogger logger, int entries, int synonyms, int examples);

    [LoggerMessage(Level = LogLevel.Error, Message = "Loading the AI engines from the database failed; the built-in engines stay in use")]
    private static partial void LogLoadFailed(ILogger logger, Exception exception);
}
