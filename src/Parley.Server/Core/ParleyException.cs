using Parley.Server.Infrastructure;

namespace Parley.Server.Core;

/// <summary>An expected failure with a catalogued code; hubs turn it into a HubException, REST into a problem.</summary>
public sealed class ParleyException(ErrorCode error, string? message = null) : Exception(message ?? error.Meaning)
{
    public ErrorCode Error { get; } = error;

    public string Code => Error.Code;

    public int Status => Error.Status;

    /// <summary>The answer for a conversation that does not exist or that the caller may not use.</summary>
    public static ParleyException NotFound() => new(ErrorCatalogue.ConversationNotFound);
}
