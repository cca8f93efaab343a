using Microsoft.Extensions.Options;
using Parley.Server.Messaging;

namespace Parley.Server.Features.Metrics;

/// <summary>
/// Under Pressure, inbox summaries (the agents' <c>conversationUpdated</c>) are not pushed on every change: the latest
/// summary of each conversation is held and pushed when <see cref="GovernorOptions.InboxSummaryMilliseconds"/> ticks,
/// so an agent gets at most one per conversation per interval however fast it changes (shedding step 3). Messages
/// themselves are never held. Back at Normal, whatever is held is pushed at once and summaries flow per change again.
/// </summary>
public sealed class InboxSummaryCoalescer : IDisposable
{
    private readonly LoadGovernor _governor;
    private readonly TimeProvider _time;
    private readonly TimeSpan _interval;
    private readonly Lock _gate = new();
    private readonly Dictionary<Guid, ConversationSummary> _held = [];
    private Action<ConversationSummary>? _deliver;
    private ITimer? _timer;

    public InboxSummaryCoalescer(LoadGovernor governor, IOptions<GovernorOptions> options, TimeProvider time)
    {
        _governor = governor;
        _time = time;
        _interval = TimeSpan.FromMilliseconds(options.Value.InboxSummaryMilliseconds);
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

    /// <summary>
    /// True when the governor sheds inbox summaries now: <paramref name="summary"/> replaces any held one of its
    /// conversation and goes out through <paramref name="deliver"/> at the next tick. False: deliver it now.
    /// </summary>
    public bool Hold(ConversationSummary summary, Action<ConversationSummary> deliver)
    {
        if (!_governor.ShouldShed(Sheddable.InboxSummaries))
        {
            return false;
        }

        lock (_gate)
        {
            _deliver = deliver;
            _held[summary.Id] = summary;
            _timer ??= _time.CreateTimer(_ => Flush(), null, _interval, _interval);
        }

        return true;
    }

    /// <summary>Pushes everything held now (the timer's tick, and the return to Normal).</summary>
    public void Flush()
    {
        List<ConversationSummary> batch;
        Action<ConversationSummary>? deliver;
        lock (_gate)
        {
            batch = [.. _held.Values];
            _held.Clear();
            deliver = _deliver;
            if (batch.Count == 0)
            {
                // A quiet tick: stop ticking until something is held again.
                _timer?.Dispose();
                _timer = null;
            }
        }

        foreach (var summary in batch)
        {
            deliver?.Invoke(summary);
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

    private void OnChanged(LoadState previous, LoadState next)
    {
        if (next < LoadGovernor.LevelOf(Sheddable.InboxSummaries))
        {
            Flush();
        }
    }
}
