using System.Diagnostics;

namespace Parley.LoadTest;

/// <summary>
/// After an overload run stops typing: how long until an agent's reply is acknowledged within 100 ms again (a probe
/// send every 250 ms), and until the server reports itself Healthy (its load governor back to Normal). The visitors'
/// outboxes still hold what they typed while the server was behind and keep sending it, as the widget does, so the load
/// on the server stops only when that backlog is answered: both are timed from the end of the typing and from the end
/// of the backlog. Runs alongside the drain.
/// </summary>
internal static class Recovery
{
    private const double FastMs = 100;
    private const int FastInARow = 8;

    public static async Task<Dictionary<string, object?>> MeasureAsync(Target target, MessageLoad load, TimeSpan max)
    {
        var end = Stopwatch.GetTimestamp();
        using var cts = new CancellationTokenSource(max);
        var healthy = WaitHealthyAsync(target, end, cts.Token);
        var probes = new List<(double AtS, double Ms)>();
        var conv = load.Conversations.FirstOrDefault(c => c.AgentSender is not null);
        double? backlogClearedS = null;
        while (conv is not null && !cts.IsCancellationRequested)
        {
            if (backlogClearedS is null && load.Unanswered <= 0)
            {
                backlogClearedS = Seconds(end, Stopwatch.GetTimestamp());
            }

            var sent = Stopwatch.GetTimestamp();
            try
            {
                await conv.AgentSender!.InvokeAsync("Send", Wire.SendArgs(conv.Id, Guid.NewGuid(), Wire.Body(sent)), Wire.ReadAck, Stopwatch.GetElapsedTime(end) < max ? max - Stopwatch.GetElapsedTime(end) : TimeSpan.FromSeconds(1));
                probes.Add((Seconds(end, sent), Stopwatch.GetElapsedTime(sent).TotalMilliseconds));
            }
            catch (Exception ex) when (ex is TimeoutException or IOException or InvalidOperationException or OperationCanceledException or HubErrorException or System.Net.WebSockets.WebSocketException)
            {
                probes.Add((Seconds(end, sent), double.PositiveInfinity));
            }

            if (backlogClearedS is { } cleared && probes.Count(p => p.AtS >= cleared) >= FastInARow && probes.TakeLast(FastInARow).All(p => p.Ms <= FastMs) && healthy.IsCompleted)
            {
                break;
            }

            try
            {
                await Task.Delay(250, cts.Token);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }

        // The first probe of the final run of fast ones (if the run is long enough to count).
        double? fastFrom = null;
        var run = 0;
        for (var i = probes.Count - 1; i >= 0 && probes[i].Ms <= FastMs; i--)
        {
            fastFrom = probes[i].AtS;
            run++;
        }

        double? recovered = run >= FastInARow ? Math.Round(fastFrom!.Value, 1) : null;
        var healthyAfter = await healthy;
        return new()
        {
            ["recoveryProbes"] = probes.Count,
            ["recoveryProbeMaxMs"] = probes.Count == 0 ? null : Math.Round(probes.Max(p => double.IsInfinity(p.Ms) ? -1 : p.Ms), 1),
            ["recoveredAfterS"] = recovered,
            ["healthyAfterS"] = healthyAfter,
            ["backlogClearedAfterS"] = backlogClearedS is { } b ? Math.Round(b, 1) : null,

            // From the end of the load on the server (the backlog answered); 0 when it was already so by then.
            ["recoveredAfterLoadS"] = recovered is { } r && backlogClearedS is { } c ? Math.Round(Math.Max(0, r - c), 1) : null,
            ["healthyAfterLoadS"] = healthyAfter is { } h && backlogClearedS is { } c2 ? Math.Round(Math.Max(0, h - c2), 1) : null,
        };
    }

    private static async Task<double?> WaitHealthyAsync(Target target, long end, CancellationToken cancellationToken)
    {
        try
        {
            while (!await target.IsHealthyAsync(cancellationToken))
            {
                await Task.Delay(500, cancellationToken);
            }

            return Math.Round(Stopwatch.GetElapsedTime(end).TotalSeconds, 1);
        }
        catch (OperationCanceledException)
        {
            return null;
        }
    }

    private static double Seconds(long from, long to) => (to - from) / (double)Stopwatch.Frequency;
}
