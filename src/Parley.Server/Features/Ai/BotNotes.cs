using System.Globalization;

namespace Parley.Server.Features.Ai;

/// <summary>
/// The bot's internal notes for agents (which entry answered, the hand-off summary) in the conversation's language,
/// Simplified Chinese or English (docs/ai.md "Bot-first conversations"). Parley has no per-site default language: the
/// conversation's language is what the visitor writes, and before they write anything, their browser's language.
/// </summary>
public static class BotNotes
{
    /// <summary>The conversation's language: <c>zh-CN</c> or <c>en</c>.</summary>
    /// <param name="visitorTexts">The visitor's messages (any order).</param>
    /// <param name="browserLanguage">The visitor's browser language (BCP 47) from the widget, if known.</param>
    public static string Language(IEnumerable<string> visitorTexts, string? browserLanguage) =>
        FromText(visitorTexts) ?? (browserLanguage?.StartsWith("zh", StringComparison.OrdinalIgnoreCase) == true ? "zh-CN" : "en");

    /// <summary>The language the visitor writes in, or null when they wrote no letters yet.</summary>
    public static string? FromText(IEnumerable<string> visitorTexts)
    {
        int cjk = 0, words = 0;
        foreach (var text in visitorTexts)
        {
            var inWord = false;
            foreach (var c in text)
            {
                if (TextAnalyzer.IsCjk(c))
                {
                    cjk++;
                    inWord = false;
                }
                else if (char.IsAsciiLetter(c))
                {
                    words += inWord ? 0 : 1;
                    inWord = true;
                }
                else
                {
                    inWord = false;
                }
            }
        }

        // A Chinese character says about as much as an English word.
        return cjk + words == 0 ? null : cjk > words ? "zh-CN" : "en";
    }

    public static bool IsChinese(string language) => language.StartsWith("zh", StringComparison.OrdinalIgnoreCase);

    public static string Answered(string language, string question, double confidence) => IsChinese(language)
        ? $"机器人根据知识库条目“{question}”作答（置信度 {Number(confidence)}）。"
        : $"Bot answered from knowledge entry “{question}” (confidence {Number(confidence)}).";

    public static string AnsweredByModel(string language, IEnumerable<string> questions, int tokens) => IsChinese(language)
        ? $"机器人通过大语言模型根据知识库条目 {string.Join("、", questions.Select(q => $"“{q}”"))} 作答（{tokens} 个 token）。"
        : $"Bot answered with the language model from knowledge entries {string.Join(", ", questions.Select(q => $"“{q}”"))} ({tokens} tokens).";

    public static string WrittenSummary(string language, int tokens, string summary) => IsChinese(language)
        ? $"摘要（大语言模型，{tokens} 个 token）：{summary}"
        : $"Summary (language model, {tokens} tokens): {summary}";

    /// <summary>Why the bot handed off, in words (reason codes as <see cref="TakeoverSignal.Reason"/> and the bot's own).</summary>
    public static string Reason(string language, string reason) => (IsChinese(language), reason) switch
    {
        (true, "asked_for_person") => "访客要求人工服务",
        (true, "bot_failed") => "连续两次未能回答",
        (true, "repeated_question") => "访客重复提问",
        (true, "angry") => "访客情绪激动",
        (true, "frustration_rising") => "访客不满情绪上升",
        (true, "bot_error") => "机器人出错",
        (false, "asked_for_person") => "the visitor asked for a person",
        (false, "bot_failed") => "no answer twice",
        (false, "repeated_question") => "the same question again",
        (false, "angry") => "the visitor is upset",
        (false, "frustration_rising") => "frustration rising",
        (false, "bot_error") => "the bot failed",
        _ => reason,
    };

    /// <summary>A sentiment label (<see cref="SentimentResult.Label"/>) in words.</summary>
    public static string Sentiment(string language, string? label) => (IsChinese(language), label ?? "neutral") switch
    {
        (true, "very_negative") => "非常负面",
        (true, "negative") => "负面",
        (true, "positive") => "正面",
        (true, "neutral") => "中性",
        (false, "very_negative") => "very negative",
        (_, var other) => other,
    };

    /// <summary>The hand-off summary's fixed words.</summary>
    internal sealed record SummaryWords(string HandedOff, string Unknown, string VisitorAsked, string NothingYet, string BotAnswered, string NothingFromKnowledge);

    internal static SummaryWords Words(string language) => IsChinese(language)
        ? new("机器人已转人工（{0}）。意图：{1}；情绪：{2}。", "未知", "访客问：", "暂无", "机器人答：", "未从知识库作答")
        : new("Bot handed off ({0}). Intent: {1}; sentiment: {2}.", "unknown", "Visitor asked: ", "nothing yet", "Bot answered: ", "nothing from the knowledge base");

    private static string Number(double value) => value.ToString("0.00", CultureInfo.InvariantCulture);
}
