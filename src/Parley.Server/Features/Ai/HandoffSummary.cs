using Microsoft.EntityFrameworkCore;
using Parley.Data;

namespace Parley.Server.Features.Ai;

/// <summary>One line of the bot's exchange with the visitor.</summary>
public sealed record ExchangeLine(bool FromVisitor, string Text);

/// <summary>
/// The short summary an agent reads when the bot hands a conversation over (an internal note, never shown to the
/// visitor): without a provider, extracted — why, the intent and mood, what the visitor asked, what the bot answered.
/// With a provider, <see cref="LlmProvider.SummarizeAsync"/> writes a second, shorter one after the hand-off.
/// </summary>
public static class HandoffSummary
{
    /// <summary>At most this many lines of the exchange are read (the newest).</summary>
    public const int MaxLines = 20;

    /// <summary>The visitor's and the bot's text messages, oldest first (the newest <see cref="MaxLines"/>).</summary>
    public static async Task<List<ExchangeLine>> ExchangeAsync(ParleyDbContext db, Guid conversationId, CancellationToken cancellationToken)
    {
        var rows = await db.Messages.AsNoTracking()
            .Where(m => m.ConversationId == conversationId && m.Kind == MessageKind.Text && (m.SenderKind == SenderKind.Visitor || m.SenderKind == SenderKind.Bot))
            .OrderByDescending(m => m.Seq).Take(MaxLines).Select(m => new { m.SenderKind, m.Body }).ToListAsync(cancellationToken);
        rows.Reverse();
        return rows.ConvertAll(r => new ExchangeLine(r.SenderKind == SenderKind.Visitor, r.Body));
    }

    /// <param name="reason">Why the bot handed off: a reason code (<see cref="BotNotes.Reason"/>) or words.</param>
    /// <param name="language">The note's language, <c>zh-CN</c> or <c>en</c> (<see cref="BotNotes.Language"/>).</param>
    /// <param name="cannedBotLines">The bot's fixed lines (greeting, "put it another way", hand-off): not answers.</param>
    public static string Extract(IReadOnlyList<ExchangeLine> exchange, string reason, string? intent, string? sentiment, IReadOnlySet<string> cannedBotLines, string language = "en")
    {
        var words = BotNotes.Words(language);
        var asked = exchange.Where(l => l.FromVisitor).Select(l => Quote(l.Text, 120)).TakeLast(5).ToList();
        var answered = exchange.Where(l => !l.FromVisitor && !cannedBotLines.Contains(l.Text)).Select(l => Quote(l.Text, 80)).TakeLast(3).ToList();
        return string.Format(System.Globalization.CultureInfo.InvariantCulture, words.HandedOff, BotNotes.Reason(language, reason), intent ?? words.Unknown, BotNotes.Sentiment(language, sentiment))
            + $"\n{words.VisitorAsked}{(asked.Count == 0 ? words.NothingYet : string.Join(" / ", asked))}"
            + $"\n{words.BotAnswered}{(answered.Count == 0 ? words.NothingFromKnowledge : string.Join(" / ", answered))}";
    }

    /// <summary>The exchange as the provider reads it: one "Visitor: ..." or "Bot: ..." line each.</summary>
    public static List<string> ForProvider(IReadOnlyList<ExchangeLine> exchange) =>
        exchange.Select(l => (l.FromVisitor ? "Visitor: " : "Bot: ") + Quote(l.Text, 500)[1..^1]).ToList();

    private static string Quote(string text, int max)
    {
        var t = text.Replace('\r', ' ').Replace('\n', ' ').Trim();
        return "“" + (t.Length > max ? t[..max] + "…" : t) + "”";
    }
}
