using System.Security.Claims;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using Parley.Data;
using Parley.Server.Events;
using Parley.Server.Features.Knowledge;
using Parley.Server.Infrastructure;
using Parley.Server.Messaging;

namespace Parley.Server.Features.Ai;

/// <summary>One suggested reply for the agent (copilot): a knowledge entry and how sure retrieval is.</summary>
public sealed record SuggestionDto(Guid EntryId, string Question, string Answer, double Confidence);

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

    public static WebApplicationBuilder AddAi(this WebApplicationBuilder builder)
    {
        builder.Services.AddSingleton<AiService>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<AiService>());
        builder.Services.AddSingleton<IDomainEventListener<KnowledgeChanged>>(sp => sp.GetRequiredService<AiService>());
        builder.Services.AddOptions<BotOptions>().BindConfiguration(BotOptions.Section);
        builder.Services.AddSingleton<BotResponder>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<BotResponder>());
        builder.Services.AddSingleton<IDomainEventListener<MessageCommitted>>(sp => sp.GetRequiredService<BotResponder>());
        return builder;
    }

    public static IEndpointRouteBuilder MapAiApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/v1/conversations").WithTags("AI").RequireAuthorization(ParleyClaims.AgentPolicy).WithParleyErrors();
        api.MapGet("/{id:guid}/insights", InsightsAsync).WithName("GetConversationInsights")
            .WithSummary("What the offline engines read in the conversation: intent, sentiment, takeover alert, suggested replies")
            .WithDescription("Intent of the first visitor message that is more than a greeting (else the greeting); sentiment of the newest visitor message; "
                + "whether a person should take over (asked for a person, anger, the same question three times, rising frustration); "
                + "up to three knowledge entries that answer the newest visitor message, within the conversation's department.");
        return app;
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
            .Where(c => c.Confidence >= 0.2 && Guid.TryParse(c.Document.Id, out _))
            .Select(c => new SuggestionDto(Guid.Parse(c.Document.Id), c.Document.Question, c.Document.Answer, Math.Round(c.Confidence, 3)))
            .ToList();
        return new ConversationInsightsDto(
            first.Intent, Math.Round(first.Confidence, 3), first.Scores, mood.Label, mood.Score, mood.Signals, takeover.Alert, takeover.Reason, suggestions, visitorMessages.Count);
    }
}
