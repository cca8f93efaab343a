using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Parley.Data;

namespace Parley.Server.Routing;

/// <summary>
/// How long an agent really spends on a conversation, for the visitor's estimated wait: the median time from
/// assignment to close over the most recently closed conversations, per team where the team has enough of them,
/// else over all of them, else <see cref="RoutingOptions.AverageHandleSeconds"/>. The median, because a chat left
/// open over lunch should not move everybody's estimate. Re-read at most once a minute, on the routing pass.
/// </summary>
internal sealed class HandleTimes(IOptions<RoutingOptions> options, TimeProvider time)
{
    /// <summary>Closed conversations read per refresh (the newest), across all teams.</summary>
    internal const int Window = 500;

    /// <summary>Fewer samples than this and the estimate falls back (team → everyone → configured).</summary>
    internal const int MinSamples = 5;

    private static readonly TimeSpan RefreshEvery = TimeSpan.FromMinutes(1);

    private Estimates? _estimates;

    /// <summary>Seconds an agent of <paramref name="teamId"/> (null: the general queue) spends on a conversation.</summary>
    public int SecondsFor(Guid? teamId)
    {
        var estimates = _estimates;
        if (estimates is null)
        {
            return options.Value.AverageHandleSeconds;
        }

        return teamId is { } id && estimates.PerTeam.TryGetValue(id, out var team) ? team : estimates.Overall ?? options.Value.AverageHandleSeconds;
    }

    /// <summary>Reads the newest closed conversations again when the last read is older than a minute.</summary>
    public async Task RefreshAsync(ParleyDbContext db, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        if (_estimates is { } current && now - current.At < RefreshEvery)
        {
            return;
        }

        // Closed conversations by their last activity (the close line): the (Status, LastMessageAt) index serves it.
        var rows = await db.Conversations.AsNoTracking()
            .Where(c => c.Status == ConversationStatus.Closed && c.AssignedAt != null && c.ClosedAt != null)
            .OrderByDescending(c => c.LastMessageAt)
            .Take(Window)
            .Select(c => new { c.TeamId, c.AssignedAt, c.ClosedAt })
            .ToListAsync(cancellationToken);
        _estimates = Compute(rows.Select(r => (r.TeamId, (r.ClosedAt!.Value - r.AssignedAt!.Value).TotalSeconds)), now);
    }

    internal static Estimates Compute(IEnumerable<(Guid? TeamId, double Seconds)> samples, DateTimeOffset at)
    {
        var valid = samples.Where(s => s.Seconds > 0).ToList();
        var perTeam = valid.Where(s => s.TeamId is not null)
            .GroupBy(s => s.TeamId!.Value)
            .Where(g => g.Count() >= MinSamples)
            .ToDictionary(g => g.Key, g => Median(g.Select(s => s.Seconds)));
        return new Estimates(at, perTeam, valid.Count >= MinSamples ? Median(valid.Select(s => s.Seconds)) : null);
    }

    private static int Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToList();
        var middle = sorted.Count / 2;
        var median = sorted.Count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
        return (int)Math.Clamp(Math.Round(median), 1, 86_400);
    }

    internal sealed record Estimates(DateTimeOffset At, IReadOnlyDictionary<Guid, int> PerTeam, int? Overall);
}
