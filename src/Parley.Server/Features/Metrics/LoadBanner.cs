using MessagePack;
using Parley.Server.Realtime;

namespace Parley.Server.Features.Metrics;

/// <summary>Pushed as <c>loadState</c> to every agent when a node's load governor changes state (the console's banner).</summary>
[MessagePackObject]
public sealed record LoadStateEvent
{
    /// <summary>normal, pressure or overload.</summary>
    [Key("state")] public required string State { get; init; }

    /// <summary>What is being shed now, in the documented order (typing_receipts, page_tracking, ...).</summary>
    [Key("shedding")] public required IReadOnlyList<string> Shedding { get; init; }

    public static LoadStateEvent Of(LoadState state) => new()
    {
        State = state.ToString().ToLowerInvariant(),
        Shedding = [.. Enum.GetValues<Sheddable>().Where(f => state >= LoadGovernor.LevelOf(f)).Select(LoadGovernor.Name)],
    };
}

/// <summary>Tells the agents (all nodes) when this node's governor changes state.</summary>
internal sealed class LoadBanner(LoadGovernor governor, RealtimeDelivery delivery) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        governor.Changed += OnChanged;
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        governor.Changed -= OnChanged;
        return Task.CompletedTask;
    }

    private void OnChanged(LoadState previous, LoadState next) => delivery.ToAllAgents("loadState", LoadStateEvent.Of(next));
}
