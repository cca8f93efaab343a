using Microsoft.Extensions.Options;
using Parley.Server.Messaging;

namespace Parley.Server.Features.Metrics;

/// <summary>
/// Under Pressure, inbox summaries (the agents' <c>conversationUpdated</c>) are not pushed on every change: the latest
/// summary of each conversation is held and pushed once it has been held for
/// <see cref="GovernorOptions.InboxSummaryMilliseconds"/> (<see cref="GovernorOptions.OverloadInboxSummaryMilliseconds"/>
/// at Overload), so an agent gets at most one per conversation per interval however fast it changes (shedding step 3).
/// A tick every fifth of the interval pushes the summaries that came due, together (<c>conversationsUpdated</c>): a
/// few writes per agent per tick however many conversations are busy, and an even stream instead of one burst per
/// interval. Messages themselves are never held. Back at Normal, whatever is held is pushed at once and summaries
/// flow per change again.
/// </summary>
public sealed class InboxSummaryCoalescer : IDisposable
{
    /// <summary>Ticks per interval: a held summary waits at most a fifth of the interval longer than the interval.</summary>
    private const int TicksPerInterval = 5;

    private readonly LoadGovernor _governor;
    private readonly TimeProvider _time;
    private readonly TimeSpan _interval;
    private readonly TimeSpan _overloadInterval;
    private readonly Lock _gate = new();
    private readonly Dictionary<Guid, (ConversationSummary Summary, long Since)> _held = [];
    private Action<IReadOnlyList<ConversationSummary>>? _deliver;
    private ITimer? _timer;

    // Something is held (read without the lock on the Normal path, where nothing usually is).
    private volatile bool _holding;

    public InboxSummaryCoalescer(LoadGovernor governor, IOptions<GovernorOptions> options, TimeProvider time)
    {
        _governor = governor;
        _time = time;
        _interval = TimeSpan.FromMilliseconds(options.Value.InboxSummaryMilliseconds);
        _overloadInterval = TimeSpan.FromMilliseconds(Math.Max(options.Value.InboxSummaryMilliseconds, options.Value.OverloadInboxSummaryMilliseconds));
        governor.Changed += OnChanged;
    }

    /// <summary>Summaries waiting to go out.</summary>
    public int Held
    {
        get
        {
            lock (_gate)
            {
                return _held.Count;
            }
        }
    }

    /// <summary>The summary of <paramref name="conversationId"/> waiting to go out, if any (diagnostics, tests).</summary>
    public ConversationSummary? HeldSummary(Guid conversationId)
    {
        lock (_gate)
        {
            return _held.TryGetValue(conversationId, out var held) ? held.Summary : null;
        }
    }

    /// <summary>
    /// True when the governor sheds inbox summaries now: <paramref name="summary"/> replaces any held one of its
    /// conversation (keeping its place: a busy conversation is not put off for ever) and goes out through
    /// <paramref name="deliver"/>, with the others that came due, at the first tick an interval after it was held.
    /// False: deliver it now.
    /// </summary>
    public bool Hold(ConversationSummary summary, Action<IReadOnlyList<ConversationSummary>> deliver)
    {
        if (!_governor.ShouldShed(Sheddable.InboxSummaries))
        {
            // Back at Normal: this newer summary goes out now, so an older one still held must not follow it. (The
            // fan-out calls this under its per-conversation lock, so a Hold of the same conversation that just held
            // one is seen here.)
            if (_holding)
            {
                lock (_gate)
                {
                    _held.Remove(summary.Id);
                }
            }

            return false;
        }

        lock (_gate)
        {
            _deliver = deliver;
            var since = _held.TryGetValue(summary.Id, out var held) ? held.Since : _time.GetTimestamp();
            _held[summary.Id] = (summary, since);
            _holding = true;
            if (_timer is null)
            {
                var tick = TickAt(_governor.State);
                _timer = _time.CreateTimer(_ => Push(all: false), null, tick, tick);
            }
        }

        return true;
    }

    /// <summary>Pushes everything held now (the return to Normal; diagnostics, tests).</summary>
    public void Flush() => Push(all: true);

    /// <summary>
    /// Pushes what came due (everything when <paramref name="all"/>). It delivers under the lock (delivery only queues
    /// writes): a summary taken out here cannot reach a connection after a newer one of its conversation that
    /// <see cref="Hold"/> let go out directly meanwhile.
    /// </summary>
    private void Push(bool all)
    {
        List<ConversationSummary>? batch = null;
        lock (_gate)
        {
            var now = _time.GetTimestamp();
            var interval = IntervalAt(_governor.State);
            foreach (var (id, held) in _held)
            {
                if (all || _time.GetElapsedTime(held.Since, now) >= interval)
                {
                    (batch ??= []).Add(held.Summary);
                }
            }

            foreach (var summary in batch ?? [])
            {
                _held.Remove(summary.Id);
            }

            if (_held.Count == 0)
            {
                // Nothing left: stop ticking until something is held again.
                _timer?.Dispose();
                _timer = null;
                _holding = false;
            }

            if (batch is not null)
            {
                _deliver?.Invoke(batch);
            }
        }
    }

    public void Dispose()
    {
        _governor.Changed -= OnChanged;
        lock (_gate)
        {
            _timer?.Dispose();
            _timer = null;
        }
    }

    /// <summary>How long a summary is held at <paramref name="state"/>: Overload holds them longer.</summary>
    private TimeSpan IntervalAt(LoadState state) => state >= LoadState.Overload ? _overloadInterval : _interval;

    private TimeSpan TickAt(LoadState state) => IntervalAt(state) / TicksPerInterval;

    private void OnChanged(LoadState previous, LoadState next)
    {
        lock (_gate)
        {
            if (TickAt(previous) != TickAt(next))
            {
                _timer?.Change(TickAt(next), TickAt(next));
            }
        }

        if (next < LoadGovernor.LevelOf(Sheddable.InboxSummaries))
        {
            Flush();
        }
    }
}
