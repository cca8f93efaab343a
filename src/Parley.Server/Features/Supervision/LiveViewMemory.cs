using System.Collections.Concurrent;
using Microsoft.EntityFrameworkCore;
using Parley.Data;
using static Parley.Server.Features.Supervision.LiveViewService;

namespace Parley.Server.Features.Supervision;

/// <summary>
/// The live view's copy of what it shows: the open conversations' live fields (department, assignee, offer, queue
/// time and priority, bot, the first-reply facts) and the directory (teams with their targets, active users,
/// memberships). It is read whole from the database only when the view starts being watched on this node, on the
/// periodic safety reload and when the cluster bus may have lost something; otherwise only the rows an event named
/// are read again (<see cref="Touch"/>): this node's domain events and the ids another node's ping carries. A
/// snapshot is then a pass over memory. Event handlers call <see cref="Touch"/> and
/// <see cref="AwaitsFirstReply"/> on any thread; everything else runs under the service's gate.
/// </summary>
internal sealed class LiveViewMemory
{
    // Rows read back per query (an IN list; SQLite and PostgreSQL both take it as one parameter).
    private const int Chunk = 500;

    private readonly ConcurrentDictionary<Guid, OpenRow> _open = new();
    private readonly ConcurrentDictionary<Guid, byte> _stale = new();
    private volatile bool _loaded;
    private int _reloadAll;
    private long _directoryVersion = -1;

    public bool IsLoaded => _loaded;

    /// <summary>When the last whole read began (the safety reload counts from it).</summary>
    public DateTime LoadedAt { get; private set; }

    public List<TeamRow> Teams { get; private set; } = [];

    public List<UserRow> Users { get; private set; } = [];

    public ILookup<Guid, Guid> Members { get; private set; } = Array.Empty<Guid>().ToLookup(x => x);

    public ICollection<OpenRow> Open => _open.Values;

    /// <summary>Whole reads and rows read again since start (for the cost measurement and the tests).</summary>
    public (long Reloads, long RowsReread) Reads => (Interlocked.Read(ref _reloads), Interlocked.Read(ref _reread));

    private long _reloads;
    private long _reread;

    /// <summary>The conversation changed: read its row again before the next snapshot. A no-op while not loaded.</summary>
    public void Touch(Guid conversationId)
    {
        if (_loaded)
        {
            _stale.TryAdd(conversationId, 0);
        }
    }

    /// <summary>
    /// Whether an agent's message in this conversation may be its first reply (open, known, not answered yet). A
    /// conversation not in memory is closed, or new and already due to be read (its creation touched it).
    /// </summary>
    public bool AwaitsFirstReply(Guid conversationId) =>
        _loaded && _open.TryGetValue(conversationId, out var row) && row.FirstResponseAt is null;

    /// <summary>Whether the conversation is open and in memory.</summary>
    public bool Knows(Guid conversationId) => _open.ContainsKey(conversationId);

    /// <summary>Whether <see cref="RefreshAsync"/> has anything to read (else a snapshot needs no database at all).</summary>
    public bool NeedsDatabase(bool reloadDue, long directoryVersion) =>
        !_loaded || reloadDue || Volatile.Read(ref _reloadAll) == 1 || !_stale.IsEmpty || Interlocked.Read(ref _directoryVersion) != directoryVersion;

    /// <summary>Every open conversation not answered yet (a ping that overflowed its list of replied ones).</summary>
    public void TouchUnanswered()
    {
        foreach (var row in _open.Values)
        {
            if (row.FirstResponseAt is null)
            {
                Touch(row.Id);
            }
        }
    }

    /// <summary>The next refresh reads everything (a lost ping, an overflowed one).</summary>
    public void ReloadAll() => Volatile.Write(ref _reloadAll, 1);

    /// <summary>Nobody watches on this node: forget it all, so events cost nothing until someone subscribes again.</summary>
    public void Unload()
    {
        _loaded = false;
        _open.Clear();
        _stale.Clear();
        Interlocked.Exchange(ref _directoryVersion, -1);
    }

    /// <summary>
    /// Brings memory up to date: a whole read when not loaded, when <paramref name="reloadDue"/> or after
    /// <see cref="ReloadAll"/>; else the directory when <paramref name="directoryVersion"/> moved and the touched rows.
    /// </summary>
    public async Task RefreshAsync(ParleyDbContext db, DateTime now, bool reloadDue, long directoryVersion, CancellationToken cancellationToken)
    {
        if (!_loaded || reloadDue || Interlocked.Exchange(ref _reloadAll, 0) == 1)
        {
            // Loaded first, then read: a change committed meanwhile is either in this read or touched for the next.
            _stale.Clear();
            _loaded = true;
            LoadedAt = now;
            Interlocked.Exchange(ref _directoryVersion, directoryVersion);
            await LoadDirectoryAsync(db, cancellationToken);
            var rows = await ReadOpenAsync(db, cancellationToken);
            var seen = new HashSet<Guid>();
            foreach (var row in rows)
            {
                seen.Add(row.Id);
                _open[row.Id] = Merge(_open.GetValueOrDefault(row.Id), row);
            }

            foreach (var id in _open.Keys.Where(id => !seen.Contains(id)).ToList())
            {
                _open.TryRemove(id, out _);
            }

            Interlocked.Increment(ref _reloads);
            return;
        }

        if (Interlocked.Exchange(ref _directoryVersion, directoryVersion) != directoryVersion)
        {
            await LoadDirectoryAsync(db, cancellationToken);
        }

        if (_stale.IsEmpty)
        {
            return;
        }

        var ids = new List<Guid>(_stale.Count);
        foreach (var id in _stale.Keys)
        {
            if (_stale.TryRemove(id, out _))
            {
                ids.Add(id);
            }
        }

        foreach (var chunk in ids.Chunk(Chunk))
        {
            var rows = await OpenRows(db, db.Conversations.Where(c => chunk.Contains(c.Id) && c.Status != ConversationStatus.Closed)).ToListAsync(cancellationToken);
            var found = rows.ToDictionary(r => r.Id);
            foreach (var id in chunk)
            {
                if (found.TryGetValue(id, out var row))
                {
                    _open[id] = Merge(_open.GetValueOrDefault(id), row);
                }
                else
                {
                    _open.TryRemove(id, out _);
                }
            }

            Interlocked.Add(ref _reread, chunk.Length);
        }
    }

    /// <summary>The open conversations as the database has them (the tests compare memory with it).</summary>
    public static Task<List<OpenRow>> ReadOpenAsync(ParleyDbContext db, CancellationToken cancellationToken) =>
        OpenRows(db, db.Conversations.Where(c => c.Status != ConversationStatus.Closed)).ToListAsync(cancellationToken);

    public static async Task<(List<TeamRow> Teams, List<UserRow> Users, ILookup<Guid, Guid> Members)> ReadDirectoryAsync(ParleyDbContext db, CancellationToken cancellationToken)
    {
        var teams = await db.Teams.AsNoTracking().OrderBy(t => t.Name)
            .Select(t => new TeamRow(t.Id, t.Name, t.FirstResponseTargetSeconds)).ToListAsync(cancellationToken);
        var users = await db.Users.AsNoTracking().Where(u => u.IsActive).OrderBy(u => u.DisplayName)
            .Select(u => new UserRow(u.Id, u.DisplayName, u.Capacity)).ToListAsync(cancellationToken);
        var members = (await db.TeamMembers.AsNoTracking().Select(m => new { m.TeamId, m.UserId }).ToListAsync(cancellationToken))
            .ToLookup(m => m.UserId, m => m.TeamId);
        return (teams, users, members);
    }

    private async Task LoadDirectoryAsync(ParleyDbContext db, CancellationToken cancellationToken) =>
        (Teams, Users, Members) = await ReadDirectoryAsync(db, cancellationToken);

    /// <summary>
    /// The facts' "first" times are filled by the facts refresher a moment after the change that set them, so a row
    /// read right after the event may not have them yet; memory keeps what it knew, as the facts row only ever fills.
    /// </summary>
    private static OpenRow Merge(OpenRow? known, OpenRow fresh) => known is null ? fresh : fresh with
    {
        FirstResponseAt = fresh.FirstResponseAt ?? known.FirstResponseAt,
        FirstQueuedAt = fresh.FirstQueuedAt ?? known.FirstQueuedAt,
        FirstAssignedAt = fresh.FirstAssignedAt ?? known.FirstAssignedAt,
    };

    private static IQueryable<OpenRow> OpenRows(ParleyDbContext db, IQueryable<Conversation> conversations) =>
        from c in conversations.AsNoTracking()
        join f in db.ConversationFacts.AsNoTracking() on c.Id equals f.ConversationId into facts
        from f in facts.DefaultIfEmpty()
        select new OpenRow(
            c.Id, c.TeamId, c.AssigneeId, c.OfferedToId, c.QueuedAt, c.Priority, c.BotActive, c.Status == ConversationStatus.Open, c.CreatedAt,
            f == null ? null : f.FirstResponseAt, f == null ? null : f.FirstQueuedAt, f == null ? null : f.FirstAssignedAt);
}
