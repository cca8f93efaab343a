using System.Collections.Concurrent;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Parley.Data;

namespace Parley.Server.Features.Access;

/// <summary>
/// This node's cache of users' access scopes (role, departments, grants). Request paths read through it; realtime
/// fan-out, which must never wait on the database, only looks it up. Entries expire after
/// <see cref="AccessOptions.ScopeCacheSeconds"/> and are dropped at once by <see cref="Invalidate"/>, which every
/// change of role, grant, activity or team membership on this node calls.
/// </summary>
public sealed partial class AccessDirectory(IServiceScopeFactory scopes, IOptions<AccessOptions> options, TimeProvider time, ILogger<AccessDirectory> logger)
{
    private readonly ConcurrentDictionary<Guid, Entry> _cache = new();
    private readonly ConcurrentDictionary<Guid, Task> _refreshing = new();
    private long _version;

    /// <summary>
    /// Moves with every change of users, teams or memberships made on this node (<see cref="Invalidate"/>,
    /// <see cref="InvalidateAll"/>, <see cref="TeamsChanged"/>); the live view reads its copy of the directory again then.
    /// </summary>
    public long Version => Interlocked.Read(ref _version);

    /// <summary>A team was created or changed (name, first-response target): nobody's scope changes, the directory does.</summary>
    public void TeamsChanged() => Interlocked.Increment(ref _version);

    /// <summary>The user's scope, or null when the user does not exist or is deactivated.</summary>
    public async Task<AccessScope?> GetAsync(Guid userId, CancellationToken cancellationToken = default)
    {
        if (_cache.TryGetValue(userId, out var entry) && !IsStale(entry))
        {
            return entry.Scope;
        }

        return await LoadAsync(userId, cancellationToken);
    }

    /// <summary>
    /// Fan-out's question: may this user see a conversation of that team and assignee? Never blocks. Unknown users
    /// are denied (fail closed) while their scope loads in the background; stale entries are used and refreshed.
    /// </summary>
    public bool CanSee(Guid userId, Guid? teamId, Guid? assigneeId)
    {
        if (!_cache.TryGetValue(userId, out var entry))
        {
            RefreshInBackground(userId);
            return false;
        }

        if (IsStale(entry))
        {
            RefreshInBackground(userId);
        }

        return entry.Scope?.CanSee(teamId, assigneeId) ?? false;
    }

    /// <summary>Forgets a user's cached scope (after a change of role, grant, activity or team membership).</summary>
    public void Invalidate(Guid userId)
    {
        Interlocked.Increment(ref _version);
        if (_cache.TryRemove(userId, out _))
        {
            RefreshInBackground(userId);
        }
    }

    /// <summary>Forgets every cached scope (after a team is deleted).</summary>
    public void InvalidateAll()
    {
        Interlocked.Increment(ref _version);
        foreach (var userId in _cache.Keys)
        {
            Invalidate(userId);
        }
    }

    private bool IsStale(Entry entry) => time.GetUtcNow() - entry.LoadedAt > TimeSpan.FromSeconds(options.Value.ScopeCacheSeconds);

    private void RefreshInBackground(Guid userId)
    {
        if (_refreshing.ContainsKey(userId))
        {
            return;
        }

        var task = Task.Run(async () =>
        {
            try
            {
                await LoadAsync(userId, CancellationToken.None);
            }
            catch (Exception ex)
            {
                LogRefreshFailed(logger, ex, userId);
            }
            finally
            {
                _refreshing.TryRemove(userId, out _);
            }
        });
        _refreshing.TryAdd(userId, task);
    }

    private async Task<AccessScope?> LoadAsync(Guid userId, CancellationToken cancellationToken)
    {
        var loadedAt = time.GetUtcNow();
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ParleyDbContext>();
        var user = await db.Users.AsNoTracking()
            .Where(u => u.Id == userId)
            .Select(u => new { u.Role, u.AllDepartments, u.IsActive })
            .FirstOrDefaultAsync(cancellationToken);
        AccessScope? result = null;
        if (user is { IsActive: true })
        {
            var teams = await db.TeamMembers.AsNoTracking().Where(m => m.UserId == userId).Select(m => m.TeamId).ToListAsync(cancellationToken);
            result = new AccessScope(userId, user.Role, user.AllDepartments, teams.ToHashSet(), options.Value.UnteamedVisibleToAll);
        }

        _cache[userId] = new Entry(result, loadedAt);
        return result;
    }

    private sealed record Entry(AccessScope? Scope, DateTimeOffset LoadedAt);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not refresh the access scope of user {UserId}")]
    private static partial void LogRefreshFailed(ILogger logger, Exception exception, Guid userId);
}
