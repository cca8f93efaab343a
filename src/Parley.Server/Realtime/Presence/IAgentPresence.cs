namespace Parley.Server.Realtime.Presence;

/// <summary>What an agent is doing as far as routing is concerned.</summary>
public enum AgentStatus
{
    /// <summary>No live connection (after the grace period): takes nothing, open chats are re-queued by policy.</summary>
    Offline = 0,

    /// <summary>Connected (or briefly dropped) but not taking new conversations; keeps the ones they have.</summary>
    Away = 1,

    /// <summary>Takes new conversations up to their capacity.</summary>
    Online = 2,
}

/// <summary>
/// Who of the agents is online, away or offline. The agent hub reports connections and the agent's own choice;
/// implementations apply the disconnect grace period and raise <see cref="AgentPresenceChanged"/>. In-process
/// by default; a shared implementation (Redis) replaces it when several nodes serve the same agents.
/// </summary>
public interface IAgentPresence
{
    /// <summary>A hub connection of the agent opened. The first one makes the agent online (or what they chose last).</summary>
    Task ConnectedAsync(Guid agentId, string connectionId, CancellationToken cancellationToken = default);

    /// <summary>A hub connection closed. With none left the agent is away for the grace period, then offline.</summary>
    Task DisconnectedAsync(Guid agentId, string connectionId, CancellationToken cancellationToken = default);

    /// <summary>The agent's own choice: <see cref="AgentStatus.Online"/> or <see cref="AgentStatus.Away"/>.</summary>
    Task SetStatusAsync(Guid agentId, AgentStatus status, CancellationToken cancellationToken = default);

    Task<AgentStatus> GetStatusAsync(Guid agentId, CancellationToken cancellationToken = default);

    /// <summary>Every agent who is not offline, with their status.</summary>
    Task<IReadOnlyDictionary<Guid, AgentStatus>> GetPresentAsync(CancellationToken cancellationToken = default);
}
