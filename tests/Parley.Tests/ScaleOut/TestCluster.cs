using Parley.Tests.Infrastructure;

namespace Parley.Tests.ScaleOut;

/// <summary>
/// Three Parley nodes as separate processes on loopback ports, sharing one fresh PostgreSQL database and one
/// redis-server of their own. Clients pick nodes round robin, skipping nodes that are down.
/// </summary>
public sealed class TestCluster : IAsyncDisposable
{
    private int _next;

    private TestCluster(TestStorage storage, RedisProcess redis, IReadOnlyList<NodeProcess> nodes)
    {
        Storage = storage;
        Redis = redis;
        Nodes = nodes;
    }

    public TestStorage Storage { get; }

    public RedisProcess Redis { get; }

    public IReadOnlyList<NodeProcess> Nodes { get; }

    public static async Task<TestCluster> StartAsync(int nodes = 3, IReadOnlyDictionary<string, string?>? settings = null)
    {
        if (!File.Exists(NodeProcess.ServerDll))
        {
            throw new InvalidOperationException($"Build the server first: {NodeProcess.ServerDll} is missing.");
        }

        var storage = await TestStorage.CreateAsync(Store.Postgres);
        RedisProcess? redis = null;
        try
        {
            redis = await RedisProcess.StartAsync();
            var common = new Dictionary<string, string?>(storage.Settings())
            {
                ["Parley:Redis:ConnectionString"] = redis.ConnectionString,
                ["Parley:Redis:HeartbeatSeconds"] = "1",
                ["Parley:Redis:NodeTimeoutSeconds"] = "4",

                // The live view's safety refresh would hide a lost cross-node ping; only events may wake it here.
                ["Parley:LiveView:RefreshSeconds"] = "3600",
                ["Parley:LiveView:ReloadSeconds"] = "3600",
            };
            foreach (var (key, value) in settings ?? new Dictionary<string, string?>())
            {
                common[key] = value;
            }

            var list = Enumerable.Range(1, nodes)
                .Select(i => NodeProcess.Create($"node{i}", Path.Combine(storage.DataDirectory, $"node{i}"), common))
                .ToList();
            var cluster = new TestCluster(storage, redis, list);

            // The first node migrates the schema and creates the admin; the others start beside it.
            var started = System.Diagnostics.Stopwatch.StartNew();
            await list[0].StartAsync();
            var first = started.Elapsed;
            await Task.WhenAll(list.Skip(1).Select(n => n.StartAsync()));
            TestContext.Current.TestOutputHelper?.WriteLine($"cluster: first node ready in {first.TotalSeconds:F1} s, all {nodes} in {started.Elapsed.TotalSeconds:F1} s");
            return cluster;
        }
        catch
        {
            if (redis is not null)
            {
                await redis.DisposeAsync();
            }

            await storage.DisposeAsync();
            throw;
        }
    }

    /// <summary>The next running node after <paramref name="current"/> (round robin), as a load balancer would pick.</summary>
    public NodeProcess NextNode(NodeProcess? current = null)
    {
        for (var i = 0; i < Nodes.Count * 2; i++)
        {
            var node = Nodes[Interlocked.Increment(ref _next) % Nodes.Count];
            if (node.IsRunning && node != current)
            {
                return node;
            }
        }

        return Nodes.FirstOrDefault(n => n.IsRunning) ?? throw new InvalidOperationException("No node is running.");
    }

    /// <summary>Starts whatever a previous test stopped or killed, and Redis if it is down.</summary>
    public async Task EnsureAllRunningAsync()
    {
        if (!await Redis.PingAsync())
        {
            await Redis.StartAgainAsync();
        }

        await Task.WhenAll(Nodes.Where(n => !n.IsRunning).Select(n => n.StartAsync()));
    }

    public string Logs(int tail = 8000) => string.Join("\n", Nodes.Select(n => $"===== {n.Name}\n{n.Log(tail)}"));

    public async ValueTask DisposeAsync()
    {
        await Task.WhenAll(Nodes.Select(n => n.DisposeAsync().AsTask()));
        await Redis.DisposeAsync();
        await Storage.DisposeAsync();
    }
}

/// <summary>One cluster for all scale-out tests (starting three processes is the slow part); each test uses its own conversations.</summary>
public class ClusterFixture : IAsyncLifetime
{
    private TestCluster? _cluster;

    public TestCluster Cluster => _cluster ?? throw new InvalidOperationException("Cluster not started.");

    /// <summary>Three server processes are heavy: they run where PARLEY_SCALEOUT_TESTS=1 (.ci/run sets it).</summary>
    public static bool Enabled => Environment.GetEnvironmentVariable("PARLEY_SCALEOUT_TESTS") == "1";

    /// <summary>Settings every node of this cluster starts with, beyond the defaults.</summary>
    protected virtual IReadOnlyDictionary<string, string?>? Settings => null;

    public async ValueTask InitializeAsync()
    {
        if (Enabled)
        {
            _cluster = await TestCluster.StartAsync(settings: Settings);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_cluster is not null)
        {
            await _cluster.DisposeAsync();
        }

        GC.SuppressFinalize(this);
    }

    /// <summary>Before each scale-out test: skipped unless enabled; nodes an earlier test stopped are started again.</summary>
    public async ValueTask BeforeTestAsync()
    {
        if (!Enabled)
        {
            Assert.Skip("Set PARLEY_SCALEOUT_TESTS=1 to run the three-process scale-out tests (CI does).");
        }

        await Cluster.EnsureAllRunningAsync();
    }

    /// <summary>
    /// After each scale-out test: a failed test's output carries the node logs; PARLEY_SCALEOUT_LOGS=/some/dir keeps
    /// every test's node logs, for investigating the timings of passing runs too.
    /// </summary>
    public void AfterTest()
    {
        if (!Enabled)
        {
            return;
        }

        if (TestContext.Current.TestState?.Result == TestResult.Failed)
        {
            TestContext.Current.TestOutputHelper?.WriteLine(Cluster.Logs());
        }

        if (Environment.GetEnvironmentVariable("PARLEY_SCALEOUT_LOGS") is { Length: > 0 } directory)
        {
            Directory.CreateDirectory(directory);
            File.WriteAllText(Path.Combine(directory, $"{TestContext.Current.Test?.TestDisplayName ?? "test"}-{DateTime.UtcNow:HHmmss}.log"), Cluster.Logs(1_000_000));
        }
    }
}
