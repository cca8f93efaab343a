using Microsoft.Extensions.Options;
using Parley.Data;
using Parley.Server.Features.Access;
using Parley.Server.Infrastructure;

namespace Parley.Server.Messaging;

/// <summary>
/// The send path: validation, the caller's turn, the write. A singleton, so the visitor hub's <c>Send</c> resolves no
/// scoped service (a hub instance is created per invocation, and its scoped dependencies were a tenth of what a
/// message allocated); console users' sends come through <see cref="MessageService"/>, which adds their access check.
/// </summary>
public sealed class MessageSender(MessageWriter writer, IOptions<MessagingOptions> options)
{
    /// <summary>
    /// Validates, checks access and stores a message. A hub passes its connection's <paramref name="order"/> so that
    /// pipelined sends are sequenced in the order they arrived (docs/protocol.md rule 9).
    /// </summary>
    /// <param name="admission">
    /// A check started by the caller that may need the network (the visitor's cluster-wide send limit): awaited after
    /// the turn is taken, so waiting for it never lets a later send overtake this one.
    /// </param>
    /// <param name="access">
    /// The caller's access policy, which a console user's send is checked against; a visitor's send needs none (it is
    /// checked inside the write transaction), so the visitor hub sends without a DI scope's services.
    /// </param>
    public async Task<SendAck> SendAsync(Actor actor, SendRequest request, SendOrder? order, Task? admission, AccessPolicy? access, CancellationToken cancellationToken)
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

            written = await EnqueueAsync(actor, request, turn, access, cancellationToken);
        }
        finally
        {
            turn?.Done();
        }

        var result = await written;
        return WriteOutcomes.AckOrThrow(result, actor.Audience);
    }

    // A ValueTask: the write is usually queued without waiting, and a Task<Task<...>> was allocated for every send.
    private async ValueTask<Task<WriteResult>> EnqueueAsync(Actor actor, SendRequest request, SendOrder.Turn? turn, AccessPolicy? access, CancellationToken cancellationToken)
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

        // Who may write here is checked inside the write transaction, against the locked conversation row: the
        // visitor's own conversation (RequiredContactId), a console user's department sandbox (RequiredScope). Neither
        // costs a query on the send path; the console user's scope comes from the access directory's cache.
        AccessScope? scope = null;
        if (!isVisitor)
        {
            scope = await (access ?? throw new InvalidOperationException("A console user's send needs the caller's access policy."))
                .RequireMessageScopeAsync(actor, request.Note ? ConversationAction.Note : ConversationAction.Reply, cancellationToken);
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
            RequiredScope = scope,
            RejectIfClosed = isVisitor,
        };

        if (turn is not null)
        {
            await turn.Previous;
        }

        return await writer.EnqueueAsync(command, cancellationToken);
    }
}
