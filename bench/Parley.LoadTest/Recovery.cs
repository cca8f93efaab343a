using System.Diagnostics;

namespace Parley.LoadTest;

/// <summary>
/// After an overload run stops sending: how long until an agent's reply is acknowledged within 100 ms again (a probe
/// send every 250 ms, timed from the end of the load), and until the server reports itself Healthy (its load governor
/// back to Normal). Runs alongside the drain, so it also shows how long the backlog takes to clear.
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
        while (conv is not null && !cts.IsCancellationRequested)
        {
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

            if (probes.Count >= FastInARow && probes.TakeLast(FastInARow).All(p => p.Ms <= FastMs) && healthy.IsCompleted)
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

        return new()
        {
            ["recoveryProbes"] = probes.Count,
            ["recoveryProbeMaxMs"] = probes.Count == 0 ? null : Math.Round(probes.Max(p => double.IsInfinity(p.Ms) ? -1 : p.Ms), 1),
            ["recoveredAfterS"] = run >= FastInARow ? Math.Round(fastFrom!.Value, 1) : null,
            ["healthyAfterS"] = await healthy,
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
