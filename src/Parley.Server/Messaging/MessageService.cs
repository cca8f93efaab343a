using System.Security.Claims;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Parley.Data;
using Parley.Server.Features.Access;
using Parley.Server.Infrastructure;
using Parley.Server.Realtime;

namespace Parley.Server.Messaging;

/// <summary>Send and replay, shared by both hubs and the REST API.</summary>
public sealed class MessageService(MessageSender sender, ParleyDbContext db, AccessPolicy access, IOptions<MessagingOptions> options, Features.Metrics.ParleyMetrics metrics)
{
    public Task<SendAck> SendAsync(Actor actor, SendRequest request, CancellationToken cancellationToken = default) =>
        sender.SendAsync(actor, request, order: null, admission: null, access, cancellationToken);

    /// <summary>
    /// Validates, checks access and stores a message. A hub passes its connection's <paramref name="order"/> so that
    /// pipelined sends are sequenced in the order they arrived (docs/protocol.md rule 9).
    /// </summary>
    public Task<SendAck> SendAsync(Actor actor, SendRequest request, SendOrder? order, CancellationToken cancellationToken = default) =>
        sender.SendAsync(actor, request, order, admission: null, access, cancellationToken);

    /// <summary>
    /// Checks access, then subscribes (through <paramref name="subscribe"/>) before reading, so nothing committed in
    /// between falls through the gap between replay and live delivery; then replays.
    /// </summary>
    public async Task<ReplayDto> JoinAsync(Actor actor, string? conversationId, long afterSeq, Action<Guid> subscribe, CancellationToken cancellationToken)
    {
        var id = Ids.Parse(conversationId, "conversationId");
        var conversation = await FindAccessibleAsync(actor, id, cancellationToken);
        subscribe(id);
        return await ReplayAsync(actor, conversation, afterSeq, cancellationToken);
    }

    /// <summary>
    /// Messages after <paramref name="afterSeq"/> in the actor's numbering, or the newest ones when too many were
    /// missed. The conversation row may be older than the messages read: the reply's lastSeq covers both.
    /// </summary>
    private async Task<ReplayDto> ReplayAsync(Actor actor, Conversation conversation, long afterSeq, CancellationToken cancellationToken)
    {
        var conversationId = conversation.Id;
        var visitor = actor.Audience == Audience.Visitor;
        var lastSeq = visitor ? conversation.LastVisitorSeq : conversation.LastSeq;
        var limit = options.Value.ReplayLimit;
        afterSeq = Math.Max(0, afterSeq);
        var truncated = lastSeq - afterSeq > limit;
        var from = truncated ? lastSeq - limit : afterSeq;

        var query = db.Messages.AsNoTracking().Where(m => m.ConversationId == conversationId);
        var messages = visitor
            ? await query.Where(m => m.VisitorSeq > from).OrderBy(m => m.VisitorSeq).Take(limit).ToListAsync(cancellationToken)
            : await query.Where(m => m.Seq > from).OrderBy(m => m.Seq).Take(limit).ToListAsync(cancellationToken);

        var dtos = messages.ConvertAll(m => MessageMapper.ToDto(m, actor.Audience));
        metrics.Replayed(truncated);

        // Read receipts are stored in agent numbering; the visitor gets the agents' position in theirs.
        var peerReadSeq = !visitor ? conversation.VisitorReadSeq
            : conversation.AgentReadSeq <= 0 ? 0
            : await db.Messages.Where(m => m.ConversationId == conversationId && m.Seq <= conversation.AgentReadSeq && m.VisitorSeq != null)
                .MaxAsync(m => m.VisitorSeq, cancellationToken) ?? 0;
        return new ReplayDto
        {
            ConversationId = conversationId,
            Messages = dtos,
            LastSeq = Math.Max(lastSeq, dtos.Count > 0 ? dtos[^1].Seq : 0),
            Truncated = truncated,
            Status = WireNames.Of(conversation.Status),
            PeerReadSeq = peerReadSeq,
        };
    }

    /// <summary>The conversation when the actor may read it (<see cref="AccessPolicy"/>); otherwise the same not-found answer as for an unknown id.</summary>
    public Task<Conversation> FindAccessibleAsync(Actor actor, Guid conversationId, CancellationToken cancellationToken) =>
        access.RequireConversationAsync(actor, conversationId, ConversationAction.Read, cancellationToken);
}
