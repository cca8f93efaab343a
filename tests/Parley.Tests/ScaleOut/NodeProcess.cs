using System.Diagnostics;
using System.Globalization;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.ScaleOut;

/// <summary>
/// One Parley node as its own OS process (the built Parley.Server.dll run by `dotnet`), so a test can kill -9 it
/// or stop it with SIGTERM like an orchestrator does. Output goes to a log file that failing tests print.
/// </summary>
public sealed class NodeProcess : IAsyncDisposable
{
    /// <summary>Test-only key-ring key shared by the nodes (each has its own data directory, where one would be generated).</summary>
    private const string ClusterKeyRingKey = "OSJBSxl6bCg+yJyjAcQURtaPtUEWIxIf6WdyOw1uwxI=";

    private readonly IReadOnlyDictionary<string, string?> _environment;
    private readonly string _logPath;
    private Process? _process;

    private NodeProcess(string name, int port, IReadOnlyDictionary<string, string?> environment, string logPath)
    {
        Name = name;
        Port = port;
        BaseAddress = new Uri($"http://127.0.0.1:{port}/");
        _environment = environment;
        _logPath = logPath;
    }

    public string Name { get; }

    public int Port { get; }

    public Uri BaseAddress { get; }

    public bool IsRunning => _process is { HasExited: false };

    public static string ServerDll
    {
        get
        {
            // tests/Parley.Tests/bin/<Configuration>/net10.0/ → src/Parley.Server/bin/<Configuration>/net10.0/
            var output = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
            var configuration = output.Parent!.Name;
            return Path.Combine(ParleyServer.RepositoryRoot, "src", "Parley.Server", "bin", configuration, output.Name, "Parley.Server.dll");
        }
    }

    public static NodeProcess Create(string name, string dataDirectory, IReadOnlyDictionary<string, string?> settings)
    {
        Directory.CreateDirectory(dataDirectory);
        var port = RedisProcess.FreePort();
        var environment = new Dictionary<string, string?>
        {
            ["ASPNETCORE_URLS"] = $"http://127.0.0.1:{port}",
            ["ASPNETCORE_ENVIRONMENT"] = "Production",
            ["DOTNET_gcServer"] = "0",
            // The shipped server compiles every method fully optimised at first call (Parley.Server.csproj), which
            // costs start-up time; tests start dozens of nodes, several at once, on a shared machine, and measure no
            // throughput, so their nodes start the quick way (tiered compilation, the runtime's default).
            ["DOTNET_TieredCompilation"] = "1",
            ["Parley__Database__DataDirectory"] = dataDirectory,
            ["Parley__Bootstrap__AdminEmail"] = ParleyServer.AdminEmail,
            ["Parley__Bootstrap__AdminPassword"] = ParleyServer.AdminPassword,
            ["Parley__Bootstrap__SiteKey"] = ParleyServer.SiteKey,
            ["Parley__Bootstrap__RequirePasswordChange"] = "false",
            ["Parley__DataProtection__Key"] = ClusterKeyRingKey, // every node of a cluster shares the key-ring key
            ["Parley__Widget__SendPerSecond"] = "100000",
            ["Parley__Widget__SendBurst"] = "100000",
            ["Parley__Widget__SendPerVisitorPerWindow"] = "1000000",
            ["Parley__Widget__SessionsPerMinutePerIp"] = "100000",
            ["Parley__Widget__ConnectsPerMinutePerIp"] = "100000",
            ["Parley__Governor__Enabled"] = "false", // a busy test machine must not shed typing or new sessions
            ["Logging__LogLevel__Default"] = "Warning",
            ["Logging__LogLevel__Parley"] = "Information",
            ["Logging__LogLevel__Microsoft.EntityFrameworkCore"] = "None",
        };
        foreach (var (key, value) in settings)
        {
            environment[key.Replace(":", "__", StringComparison.Ordinal)] = value;
        }

        return new NodeProcess(name, port, environment, Path.Combine(dataDirectory, $"{name}.log"));
    }

    public async Task StartAsync()
    {
        var info = new ProcessStartInfo("dotnet")
        {
            ArgumentList = { ServerDll, $"--contentRoot={Path.Combine(ParleyServer.RepositoryRoot, "src", "Parley.Server")}" },
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var (key, value) in _environment)
        {
            info.Environment[key] = value;
        }

        var log = new StreamWriter(_logPath, append: true) { AutoFlush = true };
        await log.WriteLineAsync($"---- start {DateTime.UtcNow:O}");
        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        process.OutputDataReceived += (_, e) => Write(log, e.Data);
        process.ErrorDataReceived += (_, e) => Write(log, e.Data);
        process.Exited += (_, _) => Write(log, $"---- exited {DateTime.UtcNow:O}");
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _process = process;

        using var http = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(5) };
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException($"{Name} exited during start:\n{Log()}");
            }

            try
            {
                if ((await http.GetAsync("health/ready")).IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
            {
                // Not listening yet, or too busy starting to answer within the probe timeout.
            }

            if (deadline.Elapsed > TimeSpan.FromSeconds(180))
            {
                throw new TimeoutException($"{Name} not ready in 180 s:\n{Log()}");
            }

            await Task.Delay(100);
        }
    }

    /// <summary>kill -9: no drain, no goodbye.</summary>
    public async Task KillAsync()
    {
        if (_process is { HasExited: false } process)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
    }

    /// <summary>SIGTERM, as an orchestrator stops a pod, then waits for the process to exit (drain included).</summary>
    public async Task StopAsync(TimeSpan? timeout = null)
    {
        if (_process is not { HasExited: false } process)
        {
            return;
        }

        using (var kill = Process.Start("kill", ["-TERM", process.Id.ToString(CultureInfo.InvariantCulture)]))
        {
            await kill.WaitForExitAsync();
        }

        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(30));
        await process.WaitForExitAsync(cts.Token);
    }

    public string Log(int tail = 8000)
    {
        try
        {
            using var stream = new FileStream(_logPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            using var reader = new StreamReader(stream);
            var text = reader.ReadToEnd();
            return text.Length > tail ? text[^tail..] : text;
        }
        catch (IOException ex)
        {
            return ex.Message;
        }
    }

    private static void Write(StreamWriter log, string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (log)
        {
            try
            {
                log.WriteLine(line);
            }
            catch (ObjectDisposedException)
            {
                // Test over.
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await KillAsync();
        _process?.Dispose();
    }
}
