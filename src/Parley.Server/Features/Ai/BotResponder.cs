using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using System.Threading.Channels;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Parley.Data;
using Parley.Server.Events;
using Parley.Server.Features.Conversations;
using Parley.Server.Messaging;

namespace Parley.Server.Features.Ai;

/// <summary>Bot-first behaviour (Parley:Ai:Bot).</summary>
public sealed class BotOptions
{
    public const string Section = "Parley:Ai:Bot";

    /// <summary>Low-confidence answers in a row after which the bot hands off.</summary>
    public int FailuresBeforeHandoff { get; set; } = 2;

}

/// <summary>
/// The bot of bot-first conversations (docs/ai.md). It reacts to committed visitor messages (never on the message
/// path: the visitor's ack never waits for it) and writes back through the normal message path with
/// <see cref="SenderKind.Bot"/> and a client id derived from the visitor's message, so a replay or a second node
/// never doubles a reply. It answers from the knowledge base only when retrieval is confident, and leaves an
/// internal note naming the entry; it hands off when the visitor asks for a person, after two misses, or when the
/// takeover predictor fires. A failure here costs an answer, never a message: the conversation is handed off.
/// </summary>
public sealed partial class BotResponder(IServiceScopeFactory scopes, AiService ai, AiSiteSettingsCache siteSettings, LlmProvider llm, IOptions<BotOptions> options, Metrics.ParleyMetrics metrics, Metrics.LoadGovernor governor, ILogger<BotResponder> logger)
    : BackgroundService, IDomainEventListener<MessageCommitted>
{
    private readonly Channel<(Guid ConversationId, long MessageId, string Body, Guid? TeamId)> _work =
        Channel.CreateBounded<(Guid, long, string, Guid?)>(new BoundedChannelOptions(10_000) { FullMode = BoundedChannelFullMode.DropWrite, SingleReader = true });

    // Misses in a row per conversation (node-local: after a failover the count starts again, which only delays a hand-off).
    private readonly ConcurrentDictionary<Guid, int> _misses = new();

    public void Handle(MessageCommitted domainEvent)
    {
        var message = domainEvent.Message;
        var conversation = domainEvent.Conversation;
        if (conversation.BotActive && conversation.AssigneeId is null && message.SenderKind == SenderKind.Visitor && message.Kind == MessageKind.Text
            && !governor.ShouldShed(Metrics.Sheddable.BotReplies)) // under overload the bot stays quiet; "Talk to a person" still works
        {
            _work.Writer.TryWrite((conversation.Id, message.Id, message.Body, conversation.TeamId));
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await ai.Ready.WaitAsync(stoppingToken);
        try
        {
            await foreach (var item in _work.Reader.ReadAllAsync(stoppingToken))
            {
                var started = System.Diagnostics.Stopwatch.GetTimestamp();
                try
                {
                    var outcome = await RespondAsync(item.ConversationId, item.MessageId, item.Body, item.TeamId, stoppingToken);
                    metrics.AiCalled("bot_reply", outcome, System.Diagnostics.Stopwatch.GetElapsedTime(started));
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    metrics.AiCalled("bot_reply", "error", System.Diagnostics.Stopwatch.GetElapsedTime(started));
                    LogFailed(logger, ex, item.ConversationId);
                    await HandOffAsync(item.ConversationId, item.MessageId, "bot_error", null, stoppingToken);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private const string GreetingZh = "您好！我是智能助手，请问有什么可以帮您？需要人工服务请点击“转人工”。";
    private const string GreetingEn = "Hello! I'm the assistant. What can I help you with? Tap “Talk to a person” any time.";
    private const string RephraseZh = "抱歉，我没有找到这个问题的答案。能换个说法吗？也可以点击“转人工”联系客服。";
    private const string RephraseEn = "Sorry, I couldn't find an answer to that. Could you put it another way? You can also tap “Talk to a person”.";
    private const string HandoffZh = "正在为您转接人工客服，请稍候。";
    private const string HandoffEn = "I'm connecting you with a person. Please hold on.";

    /// <summary>The bot's fixed lines: not answers, so the hand-off summary leaves them out.</summary>
    private static readonly HashSet<string> CannedLines = [GreetingZh, GreetingEn, RephraseZh, RephraseEn, HandoffZh, HandoffEn];

    /// <summary>Retrieved entries at least this confident are sent to the provider as grounding.</summary>
    internal const double LlmGroundingConfidence = 0.15;

    /// <summary>The visitor pressed "Talk to a person" (or an agent asked the bot to step aside).</summary>
    public Task<bool> RequestPersonAsync(Guid conversationId, CancellationToken cancellationToken) =>
        HandOffAsync(conversationId, 0, "asked_for_person", null, cancellationToken);

    /// <returns>What the bot did: answer, greeting, rephrase or handoff (a fixed word for metrics).</returns>
    private async Task<string> RespondAsync(Guid conversationId, long messageId, string body, Guid? teamId, CancellationToken cancellationToken)
    {
        var engines = ai.Engines;
        var analyzed = engines.Analyzer.Analyze(body);
        var chinese = analyzed.CjkChars > 0;

        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ParleyDbContext>();
        var siteId = await db.Conversations.AsNoTracking().Where(c => c.Id == conversationId).Select(c => c.SiteId).FirstOrDefaultAsync(cancellationToken);
        var settings = await siteSettings.GetAsync(db, siteId, cancellationToken);
        var predictor = engines.TakeoverFor(settings.Takeover);
        var recent = await VisitorTexts.NewestAsync(db, conversationId, predictor.Options.Window, messageId, cancellationToken);
        var intent = engines.Intents.Classify(analyzed);

        // A site without takeover alerts still hands off when the visitor asks for a person.
        var takeover = !settings.Takeover.Enabled
            ? (HumanRequest.IsRequest(analyzed) ? new TakeoverSignal(true, "asked_for_person", 0, 0) : TakeoverSignal.None)
            : predictor.Evaluate(recent.Select(m => engines.Analyzer.Analyze(m)).ToList());
        if (takeover.Alert)
        {
            await HandOffAsync(conversationId, messageId, takeover.Reason!, recent, cancellationToken);
            return "handoff";
        }

        // Dense retrieval (an embeddings model configured): the question's embedding under its own short time budget;
        // none (timeout, error, budget spent) means lexical retrieval only.
        var index = ai.Index;
        var questionVector = await ai.EmbedQuestionAsync(index, siteId, body, cancellationToken);
        var decision = new AssistantBrain(index).Decide(body, teamId is { } team ? new HashSet<Guid> { team } : null, questionVector);
        var writer = scope.ServiceProvider.GetRequiredService<MessageWriter>();
        var botName = await BotNameAsync(db, conversationId, cancellationToken);

        // With a provider: a reply generated from the retrieved entries only, under its time and token budget. Its
        // decision (answer citing entries, or hand-off) is separate from the text; no decision (timeout, error,
        // invalid output) falls back to the offline answer below.
        var grounding = decision.Reason is "asked_for_person" or "empty"
            ? []
            : decision.Candidates.Where(c => c.Confidence >= LlmGroundingConfidence).Select(c => c.Document).ToList();
        if (llm.Enabled && grounding.Count > 0 && await llm.AnswerAsync(siteId, body, grounding, cancellationToken) is { } grounded)
        {
            if (grounded.Answer)
            {
                _misses.TryRemove(conversationId, out _);
                var cited = grounding.Where(d => grounded.EntryIds.Contains(d.Id)).Select(d => d.Question);
                await WriteAsync(writer, botName, conversationId, messageId, "answer", MessageKind.Text, grounded.Reply!, cancellationToken);
                await WriteAsync(writer, botName, conversationId, messageId, "answer-note", MessageKind.Note,
                    BotNotes.AnsweredByModel(await NoteLanguageAsync(db, conversationId, recent, cancellationToken), cited, grounded.Tokens), cancellationToken);
                return "answer_llm";
            }

            decision = AssistantDecision.Handoff("llm_not_grounded", decision.Candidates);
        }

        if (decision.Answer)
        {
            _misses.TryRemove(conversationId, out _);
            var match = decision.Match!;
            await WriteAsync(writer, botName, conversationId, messageId, "answer", MessageKind.Text, match.Document.Answer, cancellationToken);
            await WriteAsync(writer, botName, conversationId, messageId, "answer-note", MessageKind.Note,
                BotNotes.Answered(await NoteLanguageAsync(db, conversationId, recent, cancellationToken), match.Document.Question, match.Confidence), cancellationToken);
            return "answer";
        }

        if (intent.Intent == "greeting" && analyzed.ContentTokens.Count <= 3)
        {
            await WriteAsync(writer, botName, conversationId, messageId, "greeting", MessageKind.Text,
                chinese ? GreetingZh : GreetingEn, cancellationToken);
            return "greeting";
        }

        var misses = _misses.AddOrUpdate(conversationId, 1, (_, n) => n + 1);
        if (misses >= options.Value.FailuresBeforeHandoff)
        {
            await HandOffAsync(conversationId, messageId, "bot_failed", recent, cancellationToken);
            return "handoff";
        }

        await WriteAsync(writer, botName, conversationId, messageId, "rephrase", MessageKind.Text,
            chinese ? RephraseZh : RephraseEn, cancellationToken);
        return "rephrase";
    }

    private async Task<bool> HandOffAsync(Guid conversationId, long messageId, string reason, IReadOnlyList<string>? recent, CancellationToken cancellationToken)
    {
        _misses.TryRemove(conversationId, out _);
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ParleyDbContext>();
        var engines = ai.Engines;
        recent ??= await VisitorTexts.NewestAsync(db, conversationId, engines.Takeover.Options.Window, upToMessageId: null, cancellationToken);

        // Route by the conversation's intent (as stored, so an agent's correction counts; else the first message
        // that is more than a greeting) with the site's intent routing settings, like routing after a first message.
        var analyzed = recent.Select(m => engines.Analyzer.Analyze(m)).ToList();
        var row = await db.Conversations.AsNoTracking().Where(c => c.Id == conversationId).Select(c => new { c.SiteId, c.Intent }).FirstOrDefaultAsync(cancellationToken);
        var intent = row?.Intent ?? engines.ConversationIntent(analyzed)?.Intent;
        var mood = analyzed.Count > 0 ? engines.Sentiment.Score(analyzed[^1]) : null;
        var settings = row is null ? AiSiteSettings.Default : await siteSettings.GetAsync(db, row.SiteId, cancellationToken);
        var (teamId, boost) = settings.Route(intent, mood?.Label);
        if (teamId is { } mapped && !await db.Teams.AnyAsync(t => t.Id == mapped, cancellationToken))
        {
            teamId = null;
        }

        var conversations = scope.ServiceProvider.GetRequiredService<ConversationService>();
        var chinese = recent.Any(TextAnalyzer.ContainsCjk);
        var writer = scope.ServiceProvider.GetRequiredService<MessageWriter>();
        var still = await db.Conversations.AsNoTracking().AnyAsync(c => c.Id == conversationId && c.BotActive, cancellationToken);
        if (!still)
        {
            return false;
        }

        var botName = await BotNameAsync(db, conversationId, cancellationToken);

        await WriteAsync(writer, botName, conversationId, messageId, "handoff", MessageKind.Text, chinese ? HandoffZh : HandoffEn, cancellationToken);

        // The agent's summary of the exchange (an internal note): extracted at once, so the hand-off never waits.
        var exchange = await HandoffSummary.ExchangeAsync(db, conversationId, cancellationToken);
        var language = await NoteLanguageAsync(db, conversationId, exchange.Where(l => l.FromVisitor).Select(l => l.Text).ToList(), cancellationToken);
        await WriteAsync(writer, botName, conversationId, messageId, "handoff-note", MessageKind.Note,
            HandoffSummary.Extract(exchange, reason, intent, mood?.Label, CannedLines, language), cancellationToken);
        LogHandOff(logger, conversationId, reason, intent);
        var handedOff = await conversations.HandOffFromBotAsync(conversationId, teamId, boost, SystemLine.BotHandedOff(reason), cancellationToken);

        // With a provider, a shorter written summary follows in the background: neither the hand-off nor the
        // visitor's "Talk to a person" call waits for the provider.
        if (handedOff && row is not null && llm.Enabled)
        {
            var lines = HandoffSummary.ForProvider(exchange.Where(l => l.FromVisitor || !CannedLines.Contains(l.Text)).ToList());
            _ = Task.Run(() => WriteWrittenSummaryAsync(row.SiteId, conversationId, messageId, botName, lines, language), CancellationToken.None);
        }

        return handedOff;
    }

    private async Task WriteWrittenSummaryAsync(Guid siteId, Guid conversationId, long messageId, string botName, List<string> lines, string language)
    {
        try
        {
            // Bounded by the provider's time budget.
            if (await llm.SummarizeAsync(siteId, lines, CancellationToken.None, language) is not { } written)
            {
                return;
            }

            await using var scope = scopes.CreateAsyncScope();
            await WriteAsync(scope.ServiceProvider.GetRequiredService<MessageWriter>(), botName, conversationId, messageId, "handoff-summary", MessageKind.Note,
                BotNotes.WrittenSummary(language, written.Tokens, written.Summary), CancellationToken.None);
        }
        catch (Exception ex)
        {
            LogSummaryFailed(logger, ex, conversationId);
        }
    }

    /// <summary>
    /// The language of the bot's notes for agents: the language the visitor writes in, else (nothing written yet,
    /// e.g. "Talk to a person" pressed first) their browser's language as the widget reported it.
    /// </summary>
    private static async Task<string> NoteLanguageAsync(ParleyDbContext db, Guid conversationId, IReadOnlyList<string> visitorTexts, CancellationToken cancellationToken)
    {
        if (BotNotes.FromText(visitorTexts) is { } written)
        {
            return written;
        }

        var page = await db.Conversations.AsNoTracking().Where(c => c.Id == conversationId)
            .Join(db.Contacts, c => c.ContactId, k => k.Id, (c, k) => k.LastPageJson).FirstOrDefaultAsync(cancellationToken);
        return BotNotes.Language([], Widget.VisitorProfiles.PageOf(page)?.Language);
    }

    private static Task<WriteResult> WriteAsync(MessageWriter writer, string botName, Guid conversationId, long messageId, string purpose, MessageKind kind, string body, CancellationToken cancellationToken) =>
        writer.WriteAsync(new WriteCommand(conversationId, DerivedClientId(messageId, purpose), SenderKind.Bot, null, botName, kind, body), cancellationToken);

    private static async Task<string> BotNameAsync(ParleyDbContext db, Guid conversationId, CancellationToken cancellationToken)
    {
        var json = await db.Conversations.AsNoTracking().Where(c => c.Id == conversationId)
            .Join(db.Sites, c => c.SiteId, s => s.Id, (c, s) => s.WidgetSettingsJson).FirstOrDefaultAsync(cancellationToken);
        return Widget.WidgetSettings.Parse(json).BotName is { Length: > 0 } name ? name : "Assistant";
    }

    /// <summary>The same reply to the same visitor message always has the same client id: exactly-once, even when retried.</summary>
    private static Guid DerivedClientId(long messageId, string purpose)
    {
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes($"parley-bot:{messageId}:{purpose}"));
        hash[6] = (byte)((hash[6] & 0x0F) | 0x50);
        hash[8] = (byte)((hash[8] & 0x3F) | 0x80);
        return new Guid(hash.AsSpan(0, 16));
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "The bot failed on conversation {ConversationId}; handing it to people")]
    private static partial void LogFailed(ILogger logger, Exception exception, Guid conversationId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Writing the language model's hand-off summary of conversation {ConversationId} failed")]
    private static partial void LogSummaryFailed(ILogger logger, Exception exception, Guid conversationId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Bot handed conversation {ConversationId} to people: {Reason} (intent {Intent})")]
    private static partial void LogHandOff(ILogger logger, Guid conversationId, string reason, string? intent);
}
