using System.Globalization;
using System.Net;

namespace Parley.LoadTest;

/// <summary>Command-line options: <c>--name value</c> pairs after the scenario name.</summary>
internal sealed class Options
{
    private readonly Dictionary<string, string> _values = new(StringComparer.OrdinalIgnoreCase);

    public Options(string scenario, IEnumerable<KeyValuePair<string, string>> values)
    {
        Scenario = scenario;
        foreach (var (k, v) in values)
        {
            _values[k] = v;
        }
    }

    public string Scenario { get; }

    public static Options Parse(string[] args)
    {
        if (args.Length == 0 || args[0].StartsWith("--", StringComparison.Ordinal))
        {
            throw new ArgumentException("usage: Parley.LoadTest <idle|chat|fanout|churn|reconnect|echo|report> [--name value ...]");
        }

        var values = new List<KeyValuePair<string, string>>();
        for (var i = 1; i < args.Length; i++)
        {
            if (!args[i].StartsWith("--", StringComparison.Ordinal))
            {
                throw new ArgumentException($"unexpected argument '{args[i]}'");
            }

            var name = args[i][2..];
            var value = i + 1 < args.Length && !args[i + 1].StartsWith("--", StringComparison.Ordinal) ? args[++i] : "true";
            values.Add(new(name, value));
        }

        return new Options(args[0], values);
    }

    public IReadOnlyDictionary<string, string> Values => _values;

    public string Get(string name, string fallback) => _values.TryGetValue(name, out var v) ? v : fallback;

    public string? Get(string name) => _values.GetValueOrDefault(name);

    public int Int(string name, int fallback) => _values.TryGetValue(name, out var v) ? int.Parse(v, CultureInfo.InvariantCulture) : fallback;

    public double Double(string name, double fallback) => _values.TryGetValue(name, out var v) ? double.Parse(v, CultureInfo.InvariantCulture) : fallback;

    public bool Flag(string name) => _values.TryGetValue(name, out var v) && v is "true" or "1" or "yes";

    public Uri BaseUrl => new(Get("url", "http://127.0.0.1:5000"));

    public string SiteKey => Get("site-key", "bench");

    public string Email => Get("email", "bench@example.com");

    public string Password => Get("password", "Tr4ffic-load-smoke-2026");

    public int? ServerPid => _values.TryGetValue("server-pid", out var v) ? int.Parse(v, CultureInfo.InvariantCulture) : null;

    /// <summary>Client source addresses (127.0.0.x), comma separated; connections are spread over them round robin.</summary>
    public IPAddress[] Sources => Get("sources", "127.0.0.1").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
        .Select(IPAddress.Parse)
        .ToArray();

    /// <summary>
    /// The browsers' keep-alive: web/packages/shared/src/hub.ts, KEEP_ALIVE_MS (KeepAliveContractTests checks that
    /// this copy agrees).
    /// </summary>
    public const double ClientKeepAliveSeconds = 30;

    /// <summary>How long a connection may send nothing before the generator pings (<c>--ping-seconds</c>).</summary>
    public TimeSpan PingInterval => TimeSpan.FromSeconds(Double("ping-seconds", ClientKeepAliveSeconds));

    public string Label => Get("label", Scenario);

    public string? Output => Get("out");
}
