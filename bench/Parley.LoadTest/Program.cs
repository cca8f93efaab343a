using System.Text.Json;
using Parley.LoadTest;

Options options;
try
{
    options = Options.Parse(args);
}
catch (ArgumentException ex)
{
    Console.Error.WriteLine(ex.Message);
    return 2;
}

if (options.Scenario == "report")
{
    return Report.Write(options);
}

// Every run is bounded: whatever happens, the process ends after --max-seconds.
var maxSeconds = options.Double("max-seconds", 600);
using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(maxSeconds));
using var watchdog = new Timer(_ =>
{
    Console.Error.WriteLine($"[{options.Scenario}] exceeded --max-seconds {maxSeconds}; exiting");
    Environment.Exit(3);
}, null, TimeSpan.FromSeconds(maxSeconds + 30), Timeout.InfiniteTimeSpan);

ThreadPool.SetMinThreads(16, 16);
using var target = new Target(options);
Dictionary<string, object?> result;
try
{
    switch (options.Scenario)
    {
        case "idle-worker":
            return await ConnectionScenarios.IdleWorkerAsync(options, target, cts.Token);
        case "idle":
            result = await ConnectionScenarios.IdleAsync(options, target, cts.Token);
            break;
        case "chat":
            result = await MessageScenarios.ChatAsync(options, target, cts.Token);
            break;
        case "fanout":
            result = await MessageScenarios.FanoutAsync(options, target, cts.Token);
            break;
        case "churn":
            result = await ConnectionScenarios.ChurnAsync(options, target, cts.Token);
            break;
        case "reconnect":
            result = await ConnectionScenarios.ReconnectAsync(options, target, cts.Token);
            break;
        case "echo":
            result = await EchoScenario.RunAsync(options, target, cts.Token);
            break;
        default:
            Console.Error.WriteLine($"unknown scenario '{options.Scenario}'");
            return 2;
    }
}
catch (OperationCanceledException)
{
    Console.Error.WriteLine($"[{options.Scenario}] cancelled after --max-seconds {maxSeconds}");
    return 3;
}

result["options"] = options.Values;
var json = JsonSerializer.Serialize(result, Report.JsonOptions);
Console.WriteLine(json);
if (options.Output is { } path)
{
    await File.WriteAllTextAsync(path, json);
}

// Correctness failures (never timing) decide the exit code when asked: the smoke test relies on it.
static long Count(Dictionary<string, object?> r, string key) => r.TryGetValue(key, out var v) && v is not null ? Convert.ToInt64(v, System.Globalization.CultureInfo.InvariantCulture) : 0;
var failures = Count(result, "errors") + Count(result, "lost") + Count(result, "duplicates") + Count(result, "outOfOrder");
if (failures > 0)
{
    Console.Error.WriteLine($"[{options.Scenario}] FAILED: errors={Count(result, "errors")} lost={Count(result, "lost")} duplicates={Count(result, "duplicates")} outOfOrder={Count(result, "outOfOrder")}");
}

return options.Flag("fail-on-errors") && failures > 0 ? 1 : 0;
