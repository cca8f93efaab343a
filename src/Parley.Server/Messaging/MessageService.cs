using System.Security.Claims;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Parley.Data;
using Parley.Server.Features.Access;
using Parley.Server.Infrastructure;
using Parley.Server.Realtime;

namespace Parley.Server.Messaging;

/// <summary>Send and replay, shared by both hubs and the REST API.</summary>
public sealed class MessageService(MessageWriter writer, ParleyDbContext db, AccessPolicy access, IOptions<MessagingOptions> options, Features.Metrics.ParleyMetrics metrics)
{
    public Task<SendAck> SendAsync(Actor actor, SendRequest request, CancellationToken cancellationToken = default) =>
        SendAsync(actor, request, order: null, cancellationToken);

    /// <summary>
    /// Validates, checks access and stores a message. A hub passes its connection's <paramref name="order"/> so that
    /// pipelined sends are sequenced in the order they arrived (docs/protocol.md rule 9).
    /// </summary>
    public Task<SendAck> SendAsync(Actor actor, SendRequest request, SendOrder? order, CancellationToken cancellationToken = default) =>
        SendAsync(actor, request, order, null, cancellationToken);

    /// <summary>As above, after <paramref name="admission"/>.</summary>
    /// <param name="admission">
    /// A check started by the caller that may need the network (the visitor's cluster-wide send limit): awaited after
    /// the turn is taken, so waiting for it never lets a later send overtake this one.
    /// </param>
    public async Task<SendAck> SendAsync(Actor actor, SendRequest request, SendOrder? order, Task? admission, CancellationToken cancellationToken)
    {
        // Taken before the first await: the invocation's start is the order the client sent in.
        var turn = order?.Take();
        Task<WriteResult> written;
        try
        {
            if (admission is not null)
            {
                await admission;
            }

            written = await EnqueueAsync(actor, request, turn, cancellationToken);
        }
        finally
        {
            turn?.Done();
        }

        var result = await written;
        return WriteOutcomes.AckOrThrow(result, actor.Audience);
    }

    private async Task<Task<WriteResult>> EnqueueAsync(Actor actor, SendRequest request, SendOrder.Turn? turn, CancellationToken cancellationToken)
    {
        var conversationId = Ids.Parse(request.ConversationId, "conversationId");
        var clientId = Ids.Parse(request.ClientId, "clientId");
        var body = (request.Body ?? "").Trim();
        if (body.Length == 0)
        {
            throw new ParleyException(ErrorCatalogue.BodyEmpty, "The message body is empty.");
        }

        if (body.Length > options.Value.MaxBodyLength)
        {
            throw new ParleyException(ErrorCatalogue.BodyTooLarge, $"The message body is longer than {options.Value.MaxBodyLength} characters.");
        }

        TextInput.RequireBody(body);

        var isVisitor = actor.Audience == Audience.Visitor;
        var asBot = !isVisitor && request.AsBot;
        if (asBot && request.Note)
        {
            throw new ParleyException(ErrorCatalogue.InvalidRequest, "A message is either a bot reply or an internal note, not both.");
        }

        var botName = asBot ? (TextInput.Require(request.BotName, "botName")?.Trim() is { Length: > 0 } n ? n : "Bot") : null;
        if (botName is { Length: > 100 })
        {
            throw new ParleyException(ErrorCatalogue.InvalidRequest, "botName is at most 100 characters.");
        }

        if (!isVisitor)
        {
            // Visitors are checked inside the write transaction (RequiredContactId), with no extra query on their path.
            await access.RequireConversationAsync(actor, conversationId, request.Note ? ConversationAction.Note : ConversationAction.Reply, cancellationToken);
        }

        var command = new WriteCommand(
            conversationId,
            clientId,
            isVisitor ? SenderKind.Visitor : asBot ? SenderKind.Bot : SenderKind.Agent,
            actor.PrincipalId,
            botName ?? actor.Name,
            !isVisitor && request.Note ? MessageKind.Note : MessageKind.Text,
            body)
        {
            RequiredContactId = isVisitor ? actor.PrincipalId : null,
            RejectIfClosed = isVisitor,
        };

        if (turn is not null)
        {
            await turn.Previous;
        }

        return await writer.EnqueueAsync(command, cancellationToken);
    }

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
