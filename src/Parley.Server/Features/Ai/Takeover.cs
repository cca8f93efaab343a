namespace Parley.Server.Features.Ai;

/// <summary>Why a person should take over (or null: no alert).</summary>
public sealed record TakeoverSignal(bool Alert, string? Reason, double Similarity, double Sentiment)
{
    public static readonly TakeoverSignal None = new(false, null, 0, 0);
}

/// <summary>Per-site thresholds (Parley:Ai:Takeover, overridable per site).</summary>
public sealed class TakeoverOptions
{
    /// <summary>This many similar visitor messages (the newest included) raise an alert.</summary>
    public int RepeatCount { get; set; } = 3;

    /// <summary>Similarity (0..1) above which two messages ask the same thing.</summary>
    public double SimilarityThreshold { get; set; } = 0.3;

    /// <summary>A message scoring at or below this sentiment raises an alert on its own.</summary>
    public double AngerThreshold { get; set; } = -0.6;

    /// <summary>How many of the newest visitor messages are compared.</summary>
    public int Window { get; set; } = 8;
}

/// <summary>
/// Human-takeover prediction over a conversation's visitor messages: an explicit request for a person, the same
/// question asked <see cref="TakeoverOptions.RepeatCount"/> times (similarity over the shared text features, so it
/// works for Chinese without word segmentation), anger, or frustration that keeps rising. Pure: the live
/// server and <c>ai eval</c> call the same method. Whether an alert was already raised for the episode is the
/// caller's state (<see cref="TakeoverTracker"/>).
/// </summary>
public sealed class TakeoverPredictor(TextAnalyzer analyzer, SentimentAnalyzer sentiment, TakeoverOptions? options = null)
{
    private static readonly string[] GenericConcepts = ["greet", "thanks", "ok", "bye", "repeat", "wait", "human", "when", "fee", "price", "app"];

    public TakeoverOptions Options { get; } = options ?? new TakeoverOptions();

    public TakeoverSignal Evaluate(IReadOnlyList<string> visitorMessages) =>
        Evaluate(visitorMessages.TakeLast(Options.Window).Select(m => analyzer.Analyze(m)).ToList());

    public TakeoverSignal Evaluate(IReadOnlyList<AnalyzedText> messages)
    {
        if (messages.Count == 0)
        {
            return TakeoverSignal.None;
        }

        var last = messages[^1];
        var lastScore = sentiment.Score(last); // the older messages' scores: only the one before it, and only when asked
        var mood = lastScore.Score;

        if (HumanRequest.IsRequest(last))
        {
            return new TakeoverSignal(true, "asked_for_person", 0, mood);
        }

        // A closing message ("ok thanks", "找到了，谢谢") ends the episode: nothing to take over.
        if (IsClosing(last, lastScore))
        {
            return new TakeoverSignal(false, null, 0, mood);
        }

        // The same question again (checked before anger: it is the more useful reason to show an agent): messages
        // similar to the newest one, itself included.
        var similar = 1;
        var maxSimilarity = 0.0;
        var lastVector = Vector(last);
        for (var i = 0; i < messages.Count - 1; i++)
        {
            var s = Similarity(Vector(messages[i]), lastVector);
            maxSimilarity = Math.Max(maxSimilarity, s);
            if (s >= Options.SimilarityThreshold)
            {
                similar++;
            }
        }

        if (similar >= Options.RepeatCount)
        {
            return new TakeoverSignal(true, "repeated_question", maxSimilarity, mood);
        }

        // Asked again and getting upset: one repeat plus an explicit "again/still/好几次" and a negative tone.
        if (similar >= Options.RepeatCount - 1 && last.Has("repeat") && (lastScore.Frustrated || mood < -0.2))
        {
            return new TakeoverSignal(true, "repeated_question", maxSimilarity, mood);
        }

        if (mood <= Options.AngerThreshold)
        {
            return new TakeoverSignal(true, "angry", maxSimilarity, mood);
        }

        // Frustration rising over the last three messages and now clearly negative.
        if (messages.Count >= 3 && lastScore.Frustrated && sentiment.Score(messages[^2]) is { Score: < 0 } before && lastScore.Score < before.Score)
        {
            return new TakeoverSignal(true, "frustration_rising", maxSimilarity, mood);
        }

        return new TakeoverSignal(false, null, maxSimilarity, mood);
    }

    /// <summary>
    /// How much two messages ask the same thing: cosine over content features (words, CJK bigrams and unigrams,
    /// topical concepts), ignoring conversational concepts such as greetings or "again".
    /// </summary>
    public static double Similarity(AnalyzedText a, AnalyzedText b) => Similarity(Vector(a), Vector(b));

    private static double Similarity(Dictionary<string, double> va, Dictionary<string, double> vb)
    {
        if (va.Count == 0 || vb.Count == 0)
        {
            return 0;
        }

        var dot = 0.0;
        foreach (var (f, w) in va)
        {
            if (vb.TryGetValue(f, out var w2))
            {
                dot += w * w2;
            }
        }

        var na = Math.Sqrt(va.Values.Sum(w => w * w));
        var nb = Math.Sqrt(vb.Values.Sum(w => w * w));
        return dot / (na * nb);
    }

    private static bool IsGeneric(ReadOnlySpan<char> concept)
    {
        foreach (var generic in GenericConcepts)
        {
            if (concept.SequenceEqual(generic))
            {
                return true;
            }
        }

        return false;
    }

    private static Dictionary<string, double> Vector(AnalyzedText text)
    {
        var vector = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var f in text.Features)
        {
            var weight = f[0] switch
            {
                'w' => 1.0,
                'b' => 1.0,
                'u' => 0.3,
                'c' when !IsGeneric(f.AsSpan(TextAnalyzer.Concept.Length)) => 1.0,
                _ => 0,
            };
            if (weight > 0)
            {
                vector[f] = weight;
            }
        }

        return vector;
    }

    private static bool IsClosing(AnalyzedText text, SentimentScore score) =>
        (text.Has("thanks") || text.Has("ok") || text.Has("bye")) && score.Score >= 0 && !text.Has("repeat") && text.ContentTokens.Count <= 6
        && !text.Original.Contains('?', StringComparison.Ordinal) && !text.Original.Contains('？', StringComparison.Ordinal);
}

/// <summary>Detects a visitor asking for a person ("转人工", "人工客服", "talk to a human", "agent please").</summary>
public static class HumanRequest
{
    private static readonly string[] Strong =
    [
        "转人工", "人工客服", "人工服务", "找人工", "要人工", "真人", "人工", "接人工", "叫人工", "真人客服",
        "real person", "live person", "human being", "live agent", "live chat agent", "talk to a human", "speak to a human",
        "human agent", "real human", "customer service representative",
    ];

    private static readonly string[] RequestWords =
    [
        "talk", "speak", "chat", "connect", "transfer", "put", "get", "want", "need", "give", "let", "call", "contact", "reach", "escalate",
        "转", "找", "要", "接", "叫", "换", "联系", "让",
    ];

    public static bool IsRequest(AnalyzedText text)
    {
        var normalized = text.Normalized;
        if (Strong.Any(s => normalized.Contains(s, StringComparison.Ordinal)) && !NegatedRequest(normalized))
        {
            return true;
        }

        if (!text.Has("human"))
        {
            return false;
        }

        // "agent please", "客服?" (a bare mention), or a request verb with the mention: "can I talk to someone from support".
        if (text.ContentTokens.Count <= 3 && text.Concepts.All(c => c is "human" or "greet" or "thanks"))
        {
            return true;
        }

        if (text.Words.Any(w => RequestWords.Contains(w)))
        {
            return true;
        }

        // Chinese: a request verb before the mention of a person ("找个客服跟我说", "帮我转一下客服").
        var mention = PersonWords.Select(p => normalized.IndexOf(p, StringComparison.Ordinal)).Where(i => i >= 0).DefaultIfEmpty(-1).Min();
        return mention > 0 && RequestWords.Any(w => TextAnalyzer.ContainsCjk(w) && normalized.IndexOf(w, StringComparison.Ordinal) is var at && at >= 0 && at < mention);
    }

    private static readonly string[] PersonWords = ["客服", "人工", "真人", "工作人员", "经理", "负责人"];

    private static bool NegatedRequest(string normalized) =>
        normalized.Contains("不用人工", StringComparison.Ordinal) || normalized.Contains("不需要人工", StringComparison.Ordinal)
        || normalized.Contains("no need for a human", StringComparison.Ordinal) || normalized.Contains("don't need a human", StringComparison.Ordinal);
}
