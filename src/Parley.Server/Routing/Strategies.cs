using Parley.Data;

namespace Parley.Server.Routing;

/// <summary>An agent routing could give a conversation to, with what they hold now.</summary>
public sealed record Candidate(Guid AgentId, int Load, int Capacity, DateTime? LastAssignedAt)
{
    public bool HasRoom => Load < Capacity;
}

/// <summary>The assignment strategies: pure choices over candidates, so each is unit-tested on its own.</summary>
public static class Strategies
{
    /// <summary>
    /// The agent to offer the next conversation to, or null when nobody can take it (or the team picks manually).
    /// A preferred agent (sticky: the visitor's last agent) wins when they have room.
    /// </summary>
    public static Guid? Choose(RoutingStrategy strategy, IReadOnlyList<Candidate> candidates, Guid? preferred = null)
    {
        if (strategy == RoutingStrategy.Manual)
        {
            return null;
        }

        if (preferred is { } p && candidates.FirstOrDefault(c => c.AgentId == p) is { HasRoom: true })
        {
            return p;
        }

        Candidate? best = null;
        foreach (var c in candidates)
        {
            if (c.HasRoom && (best is null || Better(strategy, c, best)))
            {
                best = c;
            }
        }

        return best?.AgentId;
    }

    private static bool Better(RoutingStrategy strategy, Candidate c, Candidate best)
    {
        int order;
        if (strategy == RoutingStrategy.RoundRobin)
        {
            // Longest since their last assignment first; never-assigned members first of all.
            order = Nullable.Compare(c.LastAssignedAt, best.LastAssignedAt);
        }
        else
        {
            // Fewest active chats relative to capacity: compare Load/Capacity without floating point.
            order = ((long)c.Load * best.Capacity).CompareTo((long)best.Load * c.Capacity);
            if (order == 0)
            {
                order = Nullable.Compare(c.LastAssignedAt, best.LastAssignedAt);
            }
        }

        // Stable tie-break so every node makes the same choice from the same data.
        return order < 0 || (order == 0 && c.AgentId.CompareTo(best.AgentId) < 0);
    }
}
