namespace Parley.Server.Features.Ai;

/// <summary>What the bot does with a visitor message: answer with an entry, or hand off (and why).</summary>
public sealed record AssistantDecision(bool Answer, KnowledgeMatch? Match, string Reason, IReadOnlyList<KnowledgeMatch> Candidates)
{
    public static AssistantDecision Handoff(string reason, IReadOnlyList<KnowledgeMatch>? candidates = null) => new(false, null, reason, candidates ?? []);
}

/// <summary>
/// The bot's decision, separate from any reply text (so no persona prompt can swallow a hand-off): a request for a
/// person always hands off; otherwise the knowledge base answers when retrieval is confident, and hands off when it
/// is not. The live bot and <c>ai eval</c> both call <see cref="Decide"/>.
/// </summary>
public sealed class AssistantBrain(KnowledgeIndex index)
{
    public KnowledgeIndex Index => index;

    /// <param name="questionVector">The question's embedding (dense retrieval), or null for lexical retrieval only.</param>
    public AssistantDecision Decide(string question, IReadOnlySet<Guid>? teams = null, float[]? questionVector = null)
    {
        var analyzed = index.Analyzer.Analyze(question);
        if (analyzed.IsEmpty)
        {
            return AssistantDecision.Handoff("empty");
        }

        if (HumanRequest.IsRequest(analyzed))
        {
            return AssistantDecision.Handoff("asked_for_person");
        }

        var result = index.Search(analyzed, teams, questionVector: questionVector);
        return result.Answer is { } match
            ? new AssistantDecision(true, match, "confident", result.Candidates)
            : AssistantDecision.Handoff(result.Reason, result.Candidates);
    }
}
