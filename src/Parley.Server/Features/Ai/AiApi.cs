using System.Security.Claims;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using Parley.Data;
using Parley.Server.Events;
using Parley.Server.Features.Access;
using Parley.Server.Features.Conversations;
using Parley.Server.Features.Knowledge;
using Parley.Server.Infrastructure;
using Parley.Server.Messaging;

namespace Parley.Server.Features.Ai;

/// <summary>The agent's correction of a conversation's intent.</summary>
public sealed record IntentCorrectionRequest(string? Intent);

/// <summary>One suggested reply for the agent (copilot): a knowledge entry and how sure retrieval is.</summary>
public sealed record SuggestionDto(Guid EntryId, string Question, string Answer, double Confidence);

/// <summary>A reply the agent may insert and edit (copilot), drafted for the visitor's newest message.</summary>
/// <param name="Source">llm (written by the language model from the entries), knowledge (the best entry's answer as is) or none.</param>
public sealed record DraftReplyDto(string? Reply, string Source, IReadOnlyList<Guid> EntryIds, int Tokens);

/// <summary>What Parley reads in a conversation: intent, sentiment, a takeover alert and suggested replies.</summary>
public sealed record ConversationInsightsDto(
    string? Intent,
    double IntentConfidence,
    IReadOnlyDictionary<string, double> IntentScores,
    string Sentiment,
    double SentimentScore,
    IReadOnlyList<string> SentimentSignals,
    bool TakeoverSuggested,
    string? TakeoverReason,
    IReadOnlyList<SuggestionDto> Suggestions,
    int VisitorMessages);

/// <summary>The AI endpoints for agents (docs/ai.md): read-only views computed by the offline engines.</summary>
public static class AiApi
{
    /// <summary>How many of the newest visitor messages are read.</summary>
    private const int Window = 20;

    /// <summary>Entries at least this confident are suggested to agents.</summary>
    private const double SuggestionConfidence = 0.2;

    public static IEndpointRouteBuilder MapAiApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/v1/conversations").WithTags("AI").RequireAuthorization(ParleyClaims.AgentPolicy).WithParleyErrors();
        api.MapGet("/{id:guid}/insights", InsightsAsync).WithName("GetConversationInsights")
            .WithSummary("What the offline engines read in the conversation: intent, sentiment, takeover alert, suggested replies")
            .WithDescription("Intent of the first visitor message that is more than a greeting (else the greeting); sentiment of the newest visitor message; "
                + "whether a person should take over (asked for a person, anger, the same question three times, rising frustration); "
                + "up to three knowledge entries that answer the newest visitor message, within the conversation's department.");
        api.MapPost("/{id:guid}/draft-reply", DraftReplyAsync).WithName("DraftConversationReply")
            .WithSummary("A reply for the visitor's newest message that the agent inserts and edits (copilot)")
            .WithDescription("With an LLM provider: written from the knowledge entries retrieval found (only those are sent, with the visitor's message), under the provider's time budget. "
                + "Without one, or when it fails or finds nothing: the best entry's answer (source knowledge), or none. Any agent who may add notes to the conversation.");
        api.MapPut("/{id:guid}/intent", CorrectIntentAsync).WithName("CorrectConversationIntent")
            .WithSummary("Correct what the conversation is about (\"this was sales\"); the visitor's first message becomes a training example")
            .WithDescription("Any agent who may add notes to the conversation. The intent classifier retrains in the background on every node. "
                + "400 intent_example_invalid for a malformed intent name.");

        var ai = app.MapGroup("/api/v1").WithTags("AI").RequireAuthorization(ParleyClaims.AgentPolicy).WithParleyErrors();
        ai.MapGet("/ai/takeover-alerts", TakeoverAlertsAsync).WithName("ListTakeoverAlerts")
            .WithSummary("Open conversations with a raised human-takeover alert, oldest alert first (supervisors' live view)")
            .WithDescription("Within the caller's department sandbox. Live changes arrive as the agent hub's conversationUpdated event (takeoverReason, takeoverAlertedAt).");
        ai.MapGet("/sites/{id:guid}/ai-settings", GetSettingsAsync).WithName("GetAiSettings").RequireAuthorization(ParleyClaims.SupervisorPolicy)
            .WithSummary("A site's intent routing and takeover settings");
        ai.MapPut("/sites/{id:guid}/ai-settings", PutSettingsAsync).WithName("PutAiSettings").RequireAuthorization(ParleyClaims.AdminPolicy)
            .WithSummary("Replace a site's intent routing and takeover settings (admins; audited)")
            .WithDescription("firstMessageWaitSeconds 0–300 (0: route before the first message), intentTeams intent → team id, complaintPriorityBoost 0–100, "
                + "takeover thresholds. invalid_settings names the first bad value.");
        app.MapLlmProviderApi();
        return app;
    }

    internal static async Task<Ok<ConversationSummary>> CorrectIntentAsync(
        Guid id, IntentCorrectionRequest request, ClaimsPrincipal user, AccessPolicy access, ParleyDbContext db, AiService ai, KnowledgeService knowledge,
        ConversationService conversations, CancellationToken cancellationToken)
    {
        var actor = Actor.Agent(user);
        await access.RequireConversationAsync(actor, id, ConversationAction.Note, cancellationToken);
        var intent = request.Intent?.Trim() ?? "";

        // The message the intent was read from: the first visitor message that is more than a greeting.
        var messages = await db.Messages.AsNoTracking()
            .Where(m => m.ConversationId == id && m.SenderKind == SenderKind.Visitor && m.Kind == MessageKind.Text)
            .OrderBy(m => m.Seq).Take(Window).Select(m => new { m.Id, m.Body }).ToListAsync(cancellationToken);
        var engines = ai.Engines;
        var source = messages.FirstOrDefault(m => engines.Intents.Classify(engines.Analyzer.Analyze(m.Body)).Intent != "greeting") ?? messages.FirstOrDefault();
        if (source is not null)
        {
            var text = source.Body.Length > IntentExample.MaxTextLength ? source.Body[..IntentExample.MaxTextLength] : source.Body;
            await knowledge.CreateIntentExampleAsync(user, new IntentExampleRequest(intent, text, source.Id), cancellationToken);
        }
        else if (intent.Length is 0 or > IntentExample.MaxIntentLength)
        {
            throw new ParleyException(ErrorCatalogue.IntentExampleInvalid, "intent is a lower-case snake_case name, e.g. sales.");
        }

        intent = intent.ToLowerInvariant();
        await db.Conversations.Where(c => c.Id == id).ExecuteUpdateAsync(s => s.SetProperty(c => c.Intent, intent), cancellationToken);
        return TypedResults.Ok(await conversations.PublishChangedAsync(id, cancellationToken));
    }

    internal static async Task<Ok<DraftReplyDto>> DraftReplyAsync(
        Guid id, ClaimsPrincipal user, AccessPolicy access, ParleyDbContext db, AiService ai, LlmProvider llm, CancellationToken cancellationToken)
    {
        var conversation = await access.RequireConversationAsync(Actor.Agent(user), id, ConversationAction.Note, cancellationToken);
        var newest = (await VisitorTexts.NewestAsync(db, id, 1, upToMessageId: null, cancellationToken)).FirstOrDefault();
        if (newest is null)
        {
            return TypedResults.Ok(new DraftReplyDto(null, "none", [], 0));
        }

        var teams = conversation.TeamId is { } team ? new HashSet<Guid> { team } : null;
        var candidates = ai.Index.Search(ai.Engines.Analyzer.Analyze(newest), teams).Candidates;
        var grounding = candidates.Where(c => c.Confidence >= BotResponder.LlmGroundingConfidence).Select(c => c.Document).ToList();
        if (llm.Enabled && grounding.Count > 0
            && await llm.DraftReplyAsync(conversation.SiteId, newest, grounding, cancellationToken) is { Answer: true } drafted)
        {
            return TypedResults.Ok(new DraftReplyDto(drafted.Reply, "llm", drafted.EntryIds.Select(Guid.Parse).ToList(), drafted.Tokens));
        }

        return TypedResults.Ok(candidates.FirstOrDefault(c => c.Confidence >= SuggestionConfidence && Guid.TryParse(c.Document.Id, out _)) is { } best
            ? new DraftReplyDto(best.Document.Answer, "knowledge", [Guid.Parse(best.Document.Id)], 0)
            : new DraftReplyDto(null, "none", [], 0));
    }

    internal static async Task<Ok<List<TakeoverAlertDto>>> TakeoverAlertsAsync(ClaimsPrincipal user, ParleyDbContext db, AccessPolicy access, CancellationToken cancellationToken) =>
        TypedResults.Ok(await TakeoverAlerts.ListAsync(db, access, Actor.Agent(user), cancellationToken));

    internal static async Task<Ok<AiSiteSettings>> GetSettingsAsync(Guid id, ParleyDbContext db, CancellationToken cancellationToken)
    {
        var json = await db.Sites.AsNoTracking().Where(s => s.Id == id).Select(s => new { s.AiSettingsJson }).FirstOrDefaultAsync(cancellationToken)
            ?? throw new ParleyException(ErrorCatalogue.SiteNotFound);
        return TypedResults.Ok(AiSiteSettings.Parse(json.AiSettingsJson));
    }

    internal static async Task<Ok<AiSiteSettings>> PutSettingsAsync(
        Guid id, AiSiteSettings request, ParleyDbContext db, Access.AuditLog audit, AiSiteSettingsCache cache, ClaimsPrincipal user, CancellationToken cancellationToken)
    {
        var site = await db.Sites.FirstOrDefaultAsync(s => s.Id == id, cancellationToken) ?? throw new ParleyException(ErrorCatalogue.SiteNotFound);
        var settings = (request ?? throw new ParleyException(ErrorCatalogue.InvalidSettings, "settings are required.")).Validated();
        var teams = settings.IntentTeams.Values.Distinct().ToList();
        if (teams.Count > 0 && await db.Teams.CountAsync(t => teams.Contains(t.Id), cancellationToken) != teams.Count)
        {
            throw new ParleyException(ErrorCatalogue.InvalidSettings, "Every intentTeams value must be an existing team.");
        }

        var before = site.AiSettingsJson;
        site.AiSettingsJson = settings.ToJson();
        await db.SaveChangesAsync(cancellationToken);
        cache.Changed(site.Id);
        await audit.RecordAsync(user, "site.ai_settings_updated", "site", site.Id.ToString(), new { before, after = site.AiSettingsJson }, cancellationToken);
        return TypedResults.Ok(settings);
    }

    internal static async Task<Ok<ConversationInsightsDto>> InsightsAsync(Guid id, ClaimsPrincipal user, MessageService messages, ParleyDbContext db, AiService ai, CancellationToken cancellationToken)
    {
        var conversation = await messages.FindAccessibleAsync(Actor.Agent(user), id, cancellationToken);
        var texts = await VisitorTexts.NewestAsync(db, id, Window, upToMessageId: null, cancellationToken);
        return TypedResults.Ok(Read(ai.Engines, ai.Index, texts, conversation.TeamId));
    }

    /// <summary>The insights of a list of visitor messages (oldest first): shared by the API and its tests.</summary>
    public static ConversationInsightsDto Read(AiEngines engines, KnowledgeIndex index, IReadOnlyList<string> visitorMessages, Guid? teamId)
    {
        if (visitorMessages.Count == 0)
        {
            return new ConversationInsightsDto(null, 0, new Dictionary<string, double>(), "neutral", 0, [], false, null, [], 0);
        }

        var analyzed = visitorMessages.Select(m => engines.Analyzer.Analyze(m)).ToList();
        var first = engines.ConversationIntent(analyzed) ?? engines.Intents.Classify(analyzed[0]);
        var mood = engines.Sentiment.Score(analyzed[^1]);
        var takeover = engines.Takeover.Evaluate(analyzed.TakeLast(engines.Takeover.Options.Window).ToList());
        var teams = teamId is { } team ? new HashSet<Guid> { team } : null;
        var suggestions = index.Search(analyzed[^1], teams).Candidates
            .Where(c => c.Confidence >= SuggestionConfidence && Guid.TryParse(c.Document.Id, out _))
            .Select(c => new SuggestionDto(Guid.Parse(c.Document.Id), c.Document.Question, c.Document.Answer, Math.Round(c.Confidence, 3)))
            .ToList();
        return new ConversationInsightsDto(
            first.Intent, Math.Round(first.Confidence, 3), first.Scores, mood.Label, mood.Score, mood.Signals, takeover.Alert, takeover.Reason, suggestions, visitorMessages.Count);
    }
}
