using Parley.Server.Infrastructure;
using Parley.Server.Realtime;

namespace Parley.Server.Messaging;

/// <summary>
/// What a refused write means to the caller. The one mapping from <see cref="WriteOutcome"/> to an error, shared by
/// every path that writes a message (text over the hubs and REST, attachments), so they cannot answer differently.
/// </summary>
public static class WriteOutcomes
{
    /// <summary>The acknowledgement of a stored (or retried) message; otherwise the error its outcome stands for.</summary>
    public static SendAck AckOrThrow(WriteResult result, Audience audience) =>
        ErrorOf(result.Outcome) is { } error ? throw error : MessageMapper.ToAck(result, audience);

    /// <summary>Null when the message was stored or was a retry of the same sender's message.</summary>
    public static ParleyException? ErrorOf(WriteOutcome outcome) => outcome switch
    {
        WriteOutcome.Stored or WriteOutcome.Duplicate => null,
        WriteOutcome.Closed => new ParleyException(ErrorCatalogue.ConversationClosed, "The conversation is closed; start a new one."),
        WriteOutcome.Blocked => new ParleyException(ErrorCatalogue.ContactBlocked, "This visitor is blocked."),
        WriteOutcome.ClientIdTaken => new ParleyException(ErrorCatalogue.ClientIdConflict, "Another sender already used this client id in this conversation; generate a new one for a new message."),
        _ => ParleyException.NotFound(),
    };
}
