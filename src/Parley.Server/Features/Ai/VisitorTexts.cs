using Microsoft.EntityFrameworkCore;
using Parley.Data;

namespace Parley.Server.Features.Ai;

/// <summary>What the engines read of a conversation: the visitor's newest text messages, oldest first.</summary>
internal static class VisitorTexts
{
    /// <param name="upToMessageId">Only messages up to this one (the bot reads as of the message it answers).</param>
    public static async Task<List<string>> NewestAsync(ParleyDbContext db, Guid conversationId, int take, long? upToMessageId, CancellationToken cancellationToken)
    {
        var query = db.Messages.AsNoTracking()
            .Where(m => m.ConversationId == conversationId && m.SenderKind == SenderKind.Visitor && m.Kind == MessageKind.Text);
        if (upToMessageId is { } last)
        {
            query = query.Where(m => m.Id <= last);
        }

        var texts = await query.OrderByDescending(m => m.Seq).Take(take).Select(m => m.Body).ToListAsync(cancellationToken);
        texts.Reverse();
        return texts;
    }

    /// <summary>The visitor's first text messages, oldest first: what a conversation's intent is read from (reports).</summary>
    public static async Task<List<string>> OldestAsync(ParleyDbContext db, Guid conversationId, int take, CancellationToken cancellationToken) =>
        await db.Messages.AsNoTracking()
            .Where(m => m.ConversationId == conversationId && m.SenderKind == SenderKind.Visitor && m.Kind == MessageKind.Text)
            .OrderBy(m => m.Seq).Take(take).Select(m => m.Body).ToListAsync(cancellationToken);
}
