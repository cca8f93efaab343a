namespace Parley.Server.Features.Widget;

/// <summary>Raised when a visitor with an open conversation loads a page.</summary>
public sealed record VisitorPageChanged(Guid ConversationId, VisitorPage Page);
