namespace Parley.Server.Realtime.Presence;

/// <summary>Raised (through <see cref="Events.DomainEvents"/>) whenever an agent's effective status changes.</summary>
public sealed record AgentPresenceChanged(Guid AgentId, AgentStatus Status, AgentStatus Previous);
