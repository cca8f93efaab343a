namespace Parley.Server.Features.Ai;

/// <summary>
/// A human-takeover alert was raised (once per episode): webhook/gRPC <c>conversation.takeover_suggested</c>; agents
/// see it on the conversation's summary (<c>takeoverReason</c>); the bot hands off when it has the conversation.
/// </summary>
public sealed record TakeoverSuggested(
    Guid ConversationId, Guid SiteId, Guid? TeamId, Guid? AssigneeId, string Reason, double Similarity, double Sentiment, bool BotActive, DateTime RaisedAt);
