using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;
using Parley.Server.Events;
using Parley.Server.Infrastructure;

namespace Parley.Server.Realtime.Presence;

public sealed class PresenceOptions
{
    public const string Section = "Parley:Presence";

    /// <summary>
    /// Seconds an agent whose last connection dropped stays away (keeping their chats) before going offline. A
    /// reconnect within it (network blip, page reload) restores the agent as if nothing happened.
    /// </summary>
    [Range(0, 3600)]
    public double OfflineGraceSeconds { get; set; } = 30;
}

/// <summary>Presence of the agents connected to this process. Enough for one node; scale-out swaps in a shared one.</summary>
internal sealed class InProcessAgentPresence(DomainEvents events, TimeProvider time, IOptions<PresenceOptions> options) : IAgentPresence, IDisposable
{
    private readonly Dictionary<Guid, Entry> _agents = [];
    private readonly Lock _gate = new();

    public Task ConnectedAsync(Guid agentId, string connectionId, CancellationToken cancellationToken = default)
    {
        Change? change;
        lock (_gate)
        {
            if (!_agents.TryGetValue(agentId, out var entry))
            {
                entry = new Entry();
                _agents[agentId] = entry;
            }

            entry.Connections.Add(connectionId);
            entry.GraceTimer?.Dispose();
            entry.GraceTimer = null;
            change = entry.SetEffective(agentId, entry.Chosen);
        }

        Raise(change);
        return Task.CompletedTask;
    }

    public Task DisconnectedAsync(Guid agentId, string connectionId, CancellationToken cancellationToken = default)
    {
        Change? change = null;
        lock (_gate)
        {
            if (_agents.TryGetValue(agentId, out var entry) && entry.Connections.Remove(connectionId) && entry.Connections.Count == 0)
            {
                var grace = TimeSpan.FromSeconds(options.Value.OfflineGraceSeconds);
                if (grace <= TimeSpan.Zero)
                {
                    change = GoOffline(agentId, entry);
                }
                else
                {
                    change = entry.SetEffective(agentId, AgentStatus.Away);
                    entry.GraceTimer = time.CreateTimer(_ => GraceElapsed(agentId, entry), null, grace, Timeout.InfiniteTimeSpan);
                }
            }
        }

        Raise(change);
        return Task.CompletedTask;
    }

    public Task SetStatusAsync(Guid agentId, AgentStatus status, CancellationToken cancellationToken = default)
    {
        if (status == AgentStatus.Offline)
        {
            throw new ParleyException(ErrorCatalogue.InvalidStatus, "An agent can choose 'online' or 'away'; offline follows from disconnecting.");
        }

        Change? change = null;
        lock (_gate)
        {
            if (!_agents.TryGetValue(agentId, out var entry) || entry.Connections.Count == 0)
            {
                throw new ParleyException(ErrorCatalogue.NotConnected, "Connect to the agent hub before setting a status.");
            }

            entry.Chosen = status;
            change = entry.SetEffective(agentId, status);
        }

        Raise(change);
        return Task.CompletedTask;
    }

    public Task<AgentStatus> GetStatusAsync(Guid agentId, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            return Task.FromResult(_agents.TryGetValue(agentId, out var entry) ? entry.Effective : AgentStatus.Offline);
        }
    }

    public Task<IReadOnlyDictionary<Guid, AgentStatus>> GetPresentAsync(CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            IReadOnlyDictionary<Guid, AgentStatus> present = _agents
                .Where(a => a.Value.Effective != AgentStatus.Offline)
                .ToDictionary(a => a.Key, a => a.Value.Effective);
            return Task.FromResult(present);
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            foreach (var entry in _agents.Values)
            {
                entry.GraceTimer?.Dispose();
            }
        }
    }

    private void GraceElapsed(Guid agentId, Entry entry)
    {
        Change? change = null;
        lock (_gate)
        {
            // A reconnect may have won the race with this timer: it cleared the timer and added a connection.
            if (entry.Connections.Count == 0 && _agents.GetValueOrDefault(agentId) == entry)
            {
                change = GoOffline(agentId, entry);
            }
        }

        Raise(change);
    }

    private Change? GoOffline(Guid agentId, Entry entry)
    {
        entry.GraceTimer?.Dispose();
        _agents.Remove(agentId);
        return entry.SetEffective(agentId, AgentStatus.Offline);
    }

    // Raised outside the lock: listeners may call back into presence.
    private void Raise(Change? change)
    {
        if (change is { } c)
        {
            events.Publish(new AgentPresenceChanged(c.AgentId, c.Status, c.Previous));
        }
    }

    private readonly record struct Change(Guid AgentId, AgentStatus Status, AgentStatus Previous);

    private sealed class Entry
    {
        public HashSet<string> Connections { get; } = [];

        /// <summary>What the agent asked for; survives reconnects within the grace period.</summary>
        public AgentStatus Chosen { get; set; } = AgentStatus.Online;

        public AgentStatus Effective { get; private set; } = AgentStatus.Offline;

        public ITimer? GraceTimer { get; set; }

        public Change? SetEffective(Guid agentId, AgentStatus status)
        {
            if (status == Effective)
            {
                return null;
            }

            var previous = Effective;
            Effective = status;
            return new Change(agentId, status, previous);
        }
    }
}
