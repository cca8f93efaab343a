using Parley.Data;

namespace Parley.Server.Messaging;

/// <summary>Raised after a message is durable and its sender acknowledged, in sequence order per conversation.</summary>
public sealed record MessageCommitted(Message Message, ConversationState Conversation);
