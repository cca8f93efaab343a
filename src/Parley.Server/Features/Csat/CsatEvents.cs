namespace Parley.Server.Features.Csat;

/// <summary>Raised once per conversation when its visitor rates it (reports, webhooks and the console listen).</summary>
public sealed record ConversationRated(RatingDto Rating);
