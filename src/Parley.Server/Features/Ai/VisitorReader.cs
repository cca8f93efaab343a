using System.Threading.Channels;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Parley.Data;
using Parley.Server.Events;
using Parley.Server.Features.Conversations;
using Parley.Server.Messaging;
using Parley.Server.Routing;

namespace Parley.Server.Features.Ai;

/// <summary>
/// Reads every committed visitor message after the commit (never on the message path: the ack never waits): stores
/// the conversation's intent (the first message that is more than a greeting), routes a conversation that waited
/// for its first message (intent routing; a greeting-only message waits for the next one within the bound), and
/// raises a human-takeover alert once per episode (<see cref="TakeoverSuggested"/>). A periodic sweep routes the
/// conversations whose wait ran out without a message. Each step is a conditional update, so two nodes (or a
/// replayed event) never do it twice. A failure costs a classification, never a message: routing then happens
/// when the wait runs out, as before intent routing.
/// </summary>
public sealed partial class VisitorReader(
    IServiceScopeFactory scopes,
    AiService ai,
    AiSiteSettingsCache siteSettings,
    DomainEvents events,
    TimeProvider time,
    IOptions<RoutingOptions> routingOptions,
    ILogger<VisitorReader> logger)
    : BackgroundService, IDomainEventListener<MessageCommitted>
{
    /// <summary>Analyses of recent visitor messages by message id: the takeover check reads the last few again with every new one.</summary>
    private const int AnalysisCacheSize = 8192;

    /// <summary>Conversations whose recent visitor messages are kept in memory; beyond this the set starts afresh (each is read back once when needed).</summary>
    private const int RecentConversationsLimit = 4096;

    /// <summary>Every committed message of a conversation that is not closed, in commit order: a visitor's text to read, or (Body null) a marker that keeps the sequence count.</summary>
    private readonly Channel<Committed> _work =
        Channel.CreateBounded<Committed>(new BoundedChannelOptions(10_000) { FullMode = BoundedChannelFullMode.DropWrite, SingleReader = true });

    // Used by the single reader loop only.
    private readonly Dictionary<long, AnalyzedText> _analyses = new(AnalysisCacheSize);
    private readonly Queue<long> _analysisOrder = new(AnalysisCacheSize);
    private readonly Dictionary<Guid, RecentVisitorTexts> _recent = [];
    private TextAnalyzer? _analysesAnalyzer;

    private readonly Channel<Guid> _answered =
        Channel.CreateBounded<Guid>(new BoundedChannelOptions(10_000) { FullMode = BoundedChannelFullMode.DropWrite });

    private int _failuresLogged;

    public void Handle(MessageCommitted domainEvent)
    {
        var message = domainEvent.Message;
        var conversation = domainEvent.Conversation;
        if (conversation.Status == ConversationStatus.Closed)
        {
            return;
        }

        var visitorText = message.SenderKind == SenderKind.Visitor && message.Kind == MessageKind.Text;
        _work.Writer.TryWrite(new Committed(conversation, message.Id, message.Seq, message.CreatedAt, visitorText ? message.Body : null));
        if (message.SenderKind == SenderKind.Agent && message.Kind is MessageKind.Text or MessageKind.Attachment && conversation.TakeoverReason is not null)
        {
            // A person answered: the takeover episode is over (the next alert needs new evidence).
            _answered.Writer.TryWrite(conversation.Id);
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await ai.Ready.WaitAsync(stoppingToken);
        var sweep = SweepAsync(stoppingToken);
        var answered = ClearAnsweredAsync(stoppingToken);
        try
        {
            await foreach (var item in _work.Reader.ReadAllAsync(stoppingToken))
            {
                try
                {
                    if (item.Body is null)
                    {
                        FollowRecent(item);
                    }
                    else
                    {
                        await ReadAsync(item, stoppingToken);
                    }
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    // Logged once per process: a broken classifier must not flood the log at chat rate.
                    if (Interlocked.Exchange(ref _failuresLogged, 1) == 0)
                    {
                        LogFailed(logger, ex, item.Conversation.Id);
                    }
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }

        await Task.WhenAll(sweep, answered);
    }

    /// <summary>
    /// A message no takeover check reads now (not a visitor's text, or one while no check runs): the conversation's
    /// remembered texts follow it when they are complete, else they are dropped (read back when a check needs them).
    /// </summary>
    private void FollowRecent(Committed item)
    {
        if (_recent.TryGetValue(item.Conversation.Id, out var recent) && !recent.Follow(item))
        {
            _recent.Remove(item.Conversation.Id);
        }
    }

    /// <param name="item">The visitor's message, with the conversation as the commit of the message left it (who has it, its intent, its alert).</param>
    private async Task ReadAsync(Committed item, CancellationToken cancellationToken)
    {
        var state = item.Conversation;
        var conversationId = state.Id;
        var engines = ai.Engines;
        var analyzed = Analyze(engines, item.MessageId, item.Body!);

        // The intent and the mood matter only while the conversation has no intent yet or waits to be routed: most
        // messages are read for the takeover check alone.
        IntentPrediction? intentRead = null;
        IntentPrediction Intent() => intentRead ??= engines.Intents.Classify(analyzed);
        var settings = await siteSettings.GetAsync(scopes, state.SiteId, cancellationToken);

        // The conversation's fields come with the message's commit; each write below is conditional on the row as it
        // is now, so a change made since (by this reader or another node) is never overwritten. Most messages need
        // no database work at all: the scope is opened on the first write.
        AsyncServiceScope? scope = null;
        try
        {
            ParleyDbContext Db() => (scope ??= scopes.CreateAsyncScope()).ServiceProvider.GetRequiredService<ParleyDbContext>();
            ConversationService Conversations() => (scope ??= scopes.CreateAsyncScope()).ServiceProvider.GetRequiredService<ConversationService>();
            var changed = false;
            if (state.Intent is null && Intent().Intent is var read && read != "greeting")
            {
                changed = await Db().Conversations.Where(c => c.Id == conversationId && c.Intent == null)
                    .ExecuteUpdateAsync(s => s.SetProperty(c => c.Intent, read), cancellationToken) == 1;
            }

            // Only a conversation nobody has yet can be waiting for its first message to be routed (the routing
            // itself checks that it still waits).
            if (state.AssigneeId is null && !state.BotActive && state.RoutingWaitUntil is { } until)
            {
                var intent = Intent();
                var greetingOnly = IsGreetingOnly(intent, analyzed);
                if (!greetingOnly || time.GetUtcNow().UtcDateTime >= until)
                {
                    var mood = engines.Sentiment.Score(analyzed);
                    var first = new FirstMessage(item.Body!, intent.Intent, intent.Confidence, mood.Label, mood.Score);
                    if (await Conversations().RouteWaitingAsync(conversationId, first, cancellationToken))
                    {
                        changed = false; // published with the routing change
                        LogRouted(logger, conversationId, intent.Intent);
                    }
                }
            }

            // After routing: reading the recent texts back may need the database, and routing must not wait on it.
            if (settings.Takeover.Enabled && state.TakeoverReason is null)
            {
                var recent = await RecentTextsAsync(item, cancellationToken);
                changed |= await CheckTakeoverAsync(Db, state, recent, settings, engines, cancellationToken);
            }
            else
            {
                FollowRecent(item);
            }

            if (changed)
            {
                await Conversations().PublishChangedAsync(conversationId, cancellationToken);
            }
        }
        finally
        {
            if (scope is { } opened)
            {
                await opened.DisposeAsync();
            }
        }
    }

    /// <summary>
    /// The conversation's latest visitor texts up to and including this one, oldest first. Kept in memory while this
    /// node saw every message of the conversation (each sequence number in turn); after a gap (a message committed on
    /// another node, a full work queue, a restart) they are read back from the database once.
    /// </summary>
    private async Task<RecentVisitorTexts> RecentTextsAsync(Committed item, CancellationToken cancellationToken)
    {
        var id = item.Conversation.Id;
        if (_recent.TryGetValue(id, out var recent) && recent.Follow(item))
        {
            return recent;
        }

        if (_recent.Count >= RecentConversationsLimit)
        {
            _recent.Clear();
        }

        recent = new RecentVisitorTexts();
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ParleyDbContext>();
        var older = await db.Messages.AsNoTracking()
            .Where(m => m.ConversationId == id && m.SenderKind == SenderKind.Visitor && m.Kind == MessageKind.Text && m.Seq < item.Seq)
            .OrderByDescending(m => m.Seq).Take(RecentVisitorTexts.Capacity - 1).Select(m => new { m.Id, m.CreatedAt, m.Body })
            .ToListAsync(cancellationToken);
        for (var i = older.Count - 1; i >= 0; i--)
        {
            recent.Add(older[i].Id, older[i].CreatedAt, older[i].Body);
        }

        // Complete up to the message before this one now.
        recent.LastSeq = item.Seq - 1;
        recent.Follow(item);
        _recent[id] = recent;
        return recent;
    }

    /// <summary>
    /// Raises the alert when the predictor fires over the visitor's messages since the previous alert (an episode:
    /// the evidence of one alert never raises a second). True when this call raised it.
    /// </summary>
    private async Task<bool> CheckTakeoverAsync(
        Func<ParleyDbContext> db, ConversationState state, RecentVisitorTexts recent, AiSiteSettings settings, AiEngines engines, CancellationToken cancellationToken)
    {
        var conversationId = state.Id;
        var previousAlert = state.TakeoverAlertedAt;
        var predictor = engines.TakeoverFor(settings.Takeover);
        var texts = new List<AnalyzedText>(predictor.Options.Window);
        foreach (var (id, at, body) in recent.Newest(predictor.Options.Window, previousAlert))
        {
            texts.Add(Analyze(engines, id, body));
        }

        var signal = predictor.Evaluate(texts);
        if (!signal.Alert)
        {
            return false;
        }

        var now = time.GetUtcNow().UtcDateTime;
        var raised = await db().Conversations
            .Where(c => c.Id == conversationId && c.TakeoverReason == null && c.Status != ConversationStatus.Closed && c.TakeoverAlertedAt == previousAlert)
            .ExecuteUpdateAsync(s => s.SetProperty(c => c.TakeoverReason, signal.Reason).SetProperty(c => c.TakeoverAlertedAt, now), cancellationToken) == 1;
        if (raised)
        {
            LogTakeover(logger, conversationId, signal.Reason!);
            events.Publish(new TakeoverSuggested(conversationId, state.SiteId, state.TeamId, state.AssigneeId, signal.Reason!, Math.Round(signal.Similarity, 3), Math.Round(signal.Sentiment, 3), state.BotActive, now));
        }

        return raised;
    }

    /// <summary>
    /// A message's analysis, computed once: the takeover check looks at the last few visitor messages again with
    /// every new one. Message bodies never change after the commit (erasure rewrites them, but an erased
    /// conversation is closed and never read here), so the id is the key; a new analyzer (synonyms changed) starts afresh.
    /// </summary>
    private AnalyzedText Analyze(AiEngines engines, long messageId, string body)
    {
        if (!ReferenceEquals(engines.Analyzer, _analysesAnalyzer))
        {
            _analyses.Clear();
            _analysisOrder.Clear();
            _analysesAnalyzer = engines.Analyzer;
        }

        if (_analyses.TryGetValue(messageId, out var cached))
        {
            return cached;
        }

        var analyzed = engines.Analyzer.Analyze(body);
        if (_analyses.Count >= AnalysisCacheSize)
        {
            _analyses.Remove(_analysisOrder.Dequeue());
        }

        _analyses[messageId] = analyzed;
        _analysisOrder.Enqueue(messageId);
        return analyzed;
    }

    /// <summary>Ends the takeover episodes a person answered.</summary>
    private async Task ClearAnsweredAsync(CancellationToken cancellationToken)
    {
        try
        {
            await foreach (var id in _answered.Reader.ReadAllAsync(cancellationToken))
            {
                try
                {
                    await using var scope = scopes.CreateAsyncScope();
                    var db = scope.ServiceProvider.GetRequiredService<ParleyDbContext>();
                    if (await db.Conversations.Where(c => c.Id == id && c.TakeoverReason != null)
                        .ExecuteUpdateAsync(s => s.SetProperty(c => c.TakeoverReason, (string?)null), cancellationToken) == 1)
                    {
                        await scope.ServiceProvider.GetRequiredService<ConversationService>().PublishChangedAsync(id, cancellationToken);
                    }
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    LogFailed(logger, ex, id);
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>Routes the conversations whose wait for a first message ran out (routing as before intent routing).</summary>
    private async Task SweepAsync(CancellationToken cancellationToken)
    {
        var interval = TimeSpan.FromSeconds(Math.Min(routingOptions.Value.SweepIntervalSeconds, 5));
        using var timer = new PeriodicTimer(interval, time);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken))
            {
                try
                {
                    await RouteExpiredAsync(cancellationToken);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    LogFailed(logger, ex, Guid.Empty);
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    internal async Task RouteExpiredAsync(CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ParleyDbContext>();
        var now = time.GetUtcNow().UtcDateTime;
        var due = await db.Conversations.AsNoTracking()
            .Where(c => c.RoutingWaitUntil != null && c.RoutingWaitUntil <= now && c.Status != ConversationStatus.Closed)
            .OrderBy(c => c.RoutingWaitUntil).Select(c => c.Id).Take(200).ToListAsync(cancellationToken);
        var conversations = scope.ServiceProvider.GetRequiredService<ConversationService>();
        foreach (var id in due)
        {
            // What the visitor wrote, if anything (a greeting): routing reads it like a first message.
            var last = (await VisitorTexts.NewestAsync(db, id, 1, upToMessageId: null, cancellationToken)).FirstOrDefault();
            FirstMessage? first = null;
            if (last is not null)
            {
                var engines = ai.Engines;
                var analyzed = engines.Analyzer.Analyze(last);
                var intent = engines.Intents.Classify(analyzed);
                var mood = engines.Sentiment.Score(analyzed);
                first = new FirstMessage(last, intent.Intent, intent.Confidence, mood.Label, mood.Score);
            }

            await conversations.RouteWaitingAsync(id, first, cancellationToken);
        }
    }

    /// <summary>"Hello", "在吗": nothing to route by yet.</summary>
    internal static bool IsGreetingOnly(IntentPrediction intent, AnalyzedText analyzed) =>
        intent.Intent == "greeting" && analyzed.ContentTokens.Count <= 3;

    [LoggerMessage(Level = LogLevel.Warning, Message = "Reading a visitor message of conversation {ConversationId} failed; routing falls back to the wait's end (logged once)")]
    private static partial void LogFailed(ILogger logger, Exception exception, Guid conversationId);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Conversation {ConversationId} routed by its first message (intent {Intent})")]
    private static partial void LogRouted(ILogger logger, Guid conversationId, string intent);

    [LoggerMessage(Level = LogLevel.Information, Message = "Takeover suggested for conversation {ConversationId}: {Reason}")]
    private static partial void LogTakeover(ILogger logger, Guid conversationId, string reason);

    private readonly record struct Committed(ConversationState Conversation, long MessageId, long Seq, DateTime CreatedAt, string? Body);

    /// <summary>A conversation's latest visitor texts, oldest first, up to the largest takeover window a site may set.</summary>
    private sealed class RecentVisitorTexts
    {
        public const int Capacity = AiSiteSettings.MaxTakeoverWindow;

        private readonly Queue<(long Id, DateTime At, string Body)> _texts = new();

        /// <summary>The sequence number of the conversation's last message this node saw.</summary>
        public long LastSeq { get; set; }

        /// <summary>
        /// Takes the conversation's next message (keeping its text when it is a visitor's); false, changing nothing,
        /// when a sequence number was missed in between.
        /// </summary>
        public bool Follow(Committed item)
        {
            if (LastSeq != item.Seq - 1)
            {
                return false;
            }

            if (item.Body is { } body)
            {
                Add(item.MessageId, item.CreatedAt, body);
            }

            LastSeq = item.Seq;
            return true;
        }

        public void Add(long id, DateTime at, string body)
        {
            if (_texts.Count == Capacity)
            {
                _texts.Dequeue();
            }

            _texts.Enqueue((id, at, body));
        }

        /// <summary>The newest <paramref name="count"/> texts written after <paramref name="since"/> (the previous alert), oldest first.</summary>
        public IEnumerable<(long Id, DateTime At, string Body)> Newest(int count, DateTime? since)
        {
            var eligible = _texts.Where(t => since is not { } s || t.At > s).ToList();
            return eligible.Skip(Math.Max(0, eligible.Count - count));
        }
    }
}
