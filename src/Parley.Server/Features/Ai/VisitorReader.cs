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
    private const int AnalysisCacheSize = 4096;

    private readonly Channel<(ConversationState Conversation, long MessageId, string Body)> _work =
        Channel.CreateBounded<(ConversationState, long, string)>(new BoundedChannelOptions(10_000) { FullMode = BoundedChannelFullMode.DropWrite, SingleReader = true });

    // Used by the single reader loop only.
    private readonly Dictionary<long, AnalyzedText> _analyses = new(AnalysisCacheSize);
    private readonly Queue<long> _analysisOrder = new(AnalysisCacheSize);
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

        if (message.SenderKind == SenderKind.Visitor && message.Kind == MessageKind.Text)
        {
            _work.Writer.TryWrite((conversation, message.Id, message.Body));
        }
        else if (message.SenderKind == SenderKind.Agent && message.Kind is MessageKind.Text or MessageKind.Attachment && conversation.TakeoverReason is not null)
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
                    await ReadAsync(item.Conversation, item.MessageId, item.Body, stoppingToken);
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

    /// <param name="state">The conversation as the commit of the message left it (who has it, its intent, its alert).</param>
    private async Task ReadAsync(ConversationState state, long messageId, string body, CancellationToken cancellationToken)
    {
        var conversationId = state.Id;
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ParleyDbContext>();

        var engines = ai.Engines;
        var analyzed = Analyze(engines, messageId, body);
        var intent = engines.Intents.Classify(analyzed);
        var mood = engines.Sentiment.Score(analyzed);
        var conversations = scope.ServiceProvider.GetRequiredService<ConversationService>();
        var changed = false;

        // The conversation's fields come with the message's commit; each write below is conditional on the row as it
        // is now, so a change made since (by this reader or another node) is never overwritten.
        if (state.Intent is null && intent.Intent != "greeting")
        {
            changed = await db.Conversations.Where(c => c.Id == conversationId && c.Intent == null)
                .ExecuteUpdateAsync(s => s.SetProperty(c => c.Intent, intent.Intent), cancellationToken) == 1;
        }

        var settings = await siteSettings.GetAsync(db, state.SiteId, cancellationToken);

        // Only a conversation nobody has yet can be waiting for its first message to be routed.
        if (state.AssigneeId is null && !state.BotActive
            && await db.Conversations.AsNoTracking().Where(c => c.Id == conversationId && c.Status != ConversationStatus.Closed)
                .Select(c => c.RoutingWaitUntil).FirstOrDefaultAsync(cancellationToken) is { } until)
        {
            var greetingOnly = IsGreetingOnly(intent, analyzed);
            if (!greetingOnly || time.GetUtcNow().UtcDateTime >= until)
            {
                var first = new FirstMessage(body, intent.Intent, intent.Confidence, mood.Label, mood.Score);
                if (await conversations.RouteWaitingAsync(conversationId, first, cancellationToken))
                {
                    changed = false; // published with the routing change
                    LogRouted(logger, conversationId, intent.Intent);
                }
            }
        }

        if (settings.Takeover.Enabled && state.TakeoverReason is null)
        {
            changed |= await CheckTakeoverAsync(db, state, messageId, settings, engines, cancellationToken);
        }

        if (changed)
        {
            await conversations.PublishChangedAsync(conversationId, cancellationToken);
        }
    }

    /// <summary>
    /// Raises the alert when the predictor fires over the visitor's messages since the previous alert (an episode:
    /// the evidence of one alert never raises a second). True when this call raised it.
    /// </summary>
    private async Task<bool> CheckTakeoverAsync(
        ParleyDbContext db, ConversationState state, long messageId, AiSiteSettings settings, AiEngines engines, CancellationToken cancellationToken)
    {
        var conversationId = state.Id;
        var previousAlert = state.TakeoverAlertedAt;
        var predictor = engines.TakeoverFor(settings.Takeover);
        var query = db.Messages.AsNoTracking()
            .Where(m => m.ConversationId == conversationId && m.SenderKind == SenderKind.Visitor && m.Kind == MessageKind.Text && m.Id <= messageId);
        if (previousAlert is { } since)
        {
            query = query.Where(m => m.CreatedAt > since);
        }

        var recent = await query.OrderByDescending(m => m.Seq).Take(predictor.Options.Window).Select(m => new { m.Id, m.Body }).ToListAsync(cancellationToken);
        var texts = new List<AnalyzedText>(recent.Count);
        for (var i = recent.Count - 1; i >= 0; i--)
        {
            texts.Add(Analyze(engines, recent[i].Id, recent[i].Body));
        }

        var signal = predictor.Evaluate(texts);
        if (!signal.Alert)
        {
            return false;
        }

        var now = time.GetUtcNow().UtcDateTime;
        var raised = await db.Conversations
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
}
