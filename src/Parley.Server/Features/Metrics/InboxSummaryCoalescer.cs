using Microsoft.Extensions.Options;
using Parley.Server.Messaging;

namespace Parley.Server.Features.Metrics;

/// <summary>
/// Under Pressure, inbox summaries (the agents' <c>conversationUpdated</c>) are not pushed on every change: the latest
/// summary of each conversation is held and pushed when <see cref="GovernorOptions.InboxSummaryMilliseconds"/> ticks,
/// so an agent gets at most one per conversation per interval however fast it changes (shedding step 3), and all of
/// one tick's summaries in one event (<c>conversationsUpdated</c>): one write per agent per interval, however many
/// conversations are busy. Messages themselves are never held. Back at Normal, whatever is held is pushed at once
/// and summaries flow per change again.
/// </summary>
public sealed class InboxSummaryCoalescer : IDisposable
{
    private readonly LoadGovernor _governor;
    private readonly TimeProvider _time;
    private readonly TimeSpan _interval;
    private readonly TimeSpan _overloadInterval;
    private readonly Lock _gate = new();
    private readonly Dictionary<Guid, ConversationSummary> _held = [];
    private Action<IReadOnlyList<ConversationSummary>>? _deliver;
    private ITimer? _timer;

    public InboxSummaryCoalescer(LoadGovernor governor, IOptions<GovernorOptions> options, TimeProvider time)
    {
        _governor = governor;
        _time = time;
        _interval = TimeSpan.FromMilliseconds(options.Value.InboxSummaryMilliseconds);
        _overloadInterval = TimeSpan.FromMilliseconds(Math.Max(options.Value.InboxSummaryMilliseconds, options.Value.OverloadInboxSummaryMilliseconds));
        governor.Changed += OnChanged;
    }

    /// <summary>Summaries waiting for the next tick.</summary>
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

    /// <summary>The summary of <paramref name="conversationId"/> waiting for the next tick, if any (diagnostics, tests).</summary>
    public ConversationSummary? HeldSummary(Guid conversationId)
    {
        lock (_gate)
        {
            return _held.GetValueOrDefault(conversationId);
        }
    }

    /// <summary>
    /// True when the governor sheds inbox summaries now: <paramref name="summary"/> replaces any held one of its
    /// conversation and goes out through <paramref name="deliver"/>, with every other summary held, at the next tick.
    /// False: deliver it now.
    /// </summary>
    public bool Hold(ConversationSummary summary, Action<IReadOnlyList<ConversationSummary>> deliver)
    {
        if (!_governor.ShouldShed(Sheddable.InboxSummaries))
        {
            return false;
        }

        lock (_gate)
        {
            _deliver = deliver;
            _held[summary.Id] = summary;
            if (_timer is null)
            {
                var interval = IntervalAt(_governor.State);
                _timer = _time.CreateTimer(_ => Flush(), null, interval, interval);
            }
        }

        return true;
    }

    /// <summary>Pushes everything held now (the timer's tick, and the return to Normal).</summary>
    public void Flush()
    {
        ConversationSummary[] batch;
        Action<IReadOnlyList<ConversationSummary>>? deliver;
        lock (_gate)
        {
            batch = [.. _held.Values];
            _held.Clear();
            deliver = _deliver;
            if (batch.Length == 0)
            {
                // A quiet tick: stop ticking until something is held again.
                _timer?.Dispose();
                _timer = null;
            }
        }

        if (batch.Length > 0)
        {
            deliver?.Invoke(batch);
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

    /// <summary>The tick at <paramref name="state"/>: Overload spaces them further (fewer, larger writes to every agent).</summary>
    private TimeSpan IntervalAt(LoadState state) => state >= LoadState.Overload ? _overloadInterval : _interval;

    private void OnChanged(LoadState previous, LoadState next)
    {
        lock (_gate)
        {
            if (IntervalAt(previous) != IntervalAt(next))
            {
                _timer?.Change(IntervalAt(next), IntervalAt(next));
            }
        }

        if (next < LoadGovernor.LevelOf(Sheddable.InboxSummaries))
        {
            Flush();
        }
    }
}
