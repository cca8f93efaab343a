using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Api;

/// <summary>
/// Runs alone: OpenTelemetry subscribes to meters by name process-wide, so servers of tests running beside it
/// would add their counts to this server's /metrics.
/// </summary>
[CollectionDefinition(nameof(MetricsTests), DisableParallelization = true)]
public sealed class MetricsRunsAlone;

[Collection(nameof(MetricsTests))]
public sealed partial class MetricsTests
{
    public const string Token = "metrics-scrape-token-0123456789";

    /// <summary>Settings of a server whose /metrics a test reads with <see cref="Token"/>, sampling fast.</summary>
    public static Dictionary<string, string?> Settings(int? managementPort = null) => new()
    {
        ["Parley:Metrics:Token"] = Token,
        ["Parley:Metrics:SampleSeconds"] = "0.2",
        ["Parley:Metrics:StoreSampleSeconds"] = "0.2",
        ["Parley:Metrics:ManagementPort"] = managementPort?.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["Parley:Metrics:ManagementHost"] = "127.0.0.1",
    };

    /// <summary>
    /// <see cref="Settings"/> with the load governor on and driven by commits alone, so its state is deterministic:
    /// every commit counts as slow (a 1 µs threshold, as one SQLite commit can take under a millisecond), one sample
    /// raises the state, and the CPU signal is off (the test process's CPU is every test's, not this server's).
    /// <paramref name="overload"/>: commits raise Overload, else Pressure only; <paramref name="calmSeconds"/>: how long
    /// calm lasts before the state steps down.
    /// </summary>
    public static Dictionary<string, string?> GovernedByCommits(bool overload, int calmSeconds)
    {
        var settings = Settings();
        settings["Parley:Governor:Enabled"] = "true";
        settings["Parley:Governor:PressureCpu"] = "1.01";
        settings["Parley:Governor:PressureCommitSeconds"] = "0.000001";
        settings["Parley:Governor:OverloadCommitSeconds"] = overload ? "0.000001" : "60";
        settings["Parley:Governor:RiseSamples"] = "1";
        settings["Parley:Governor:CalmSeconds"] = calmSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return settings;
    }

    public static async Task<Dictionary<string, PrometheusFamily>> ScrapeAsync(ParleyServer server)
    {
        using var http = server.CreateHttpClient();
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token);
        using var response = await http.GetAsync("/metrics", TestContext.Current.CancellationToken);
        response.EnsureSuccessStatusCode();
        Assert.StartsWith("text/plain", response.Content.Headers.ContentType?.MediaType, StringComparison.Ordinal);
        return PrometheusText.Parse(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task Scrape_ParsesStrictly_WithConventionalNamesUnitsAndBoundedLabels()
    {
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage, Settings());
        await using var visitor = await VisitorClient.ConnectAsync(server);
        var conversation = await visitor.StartConversationAsync();
        await visitor.SendAsync(conversation.Id, "one");
        await visitor.SendAsync(conversation.Id, "two");
        await using var agent = await AgentClient.ConnectAsync(server);
        await agent.JoinAsync(conversation.Id);

        var families = await Eventually.ValueAsync(
            () => ScrapeAsync(server),
            f => Gauge(f, "parley_connections", "hub", "agent") == 1 && Gauge(f, "parley_connections", "hub", "visitor") == 1
                && Gauge(f, "parley_agents", "status", "online") >= 1);

        Assert.Equal(2, families["parley_messages_stored_total"].Samples.Single().Value);
        Assert.Equal("counter", families["parley_messages_stored_total"].Type);
        Assert.Equal("histogram", families["parley_commit_duration_seconds"].Type);
        Assert.Equal("histogram", families["parley_commit_batch_size"].Type);
        Assert.Equal("histogram", families["parley_writer_queue_wait_seconds"].Type);
        Assert.Equal(2, families["parley_commit_batch_size"].Samples.Where(s => s.Name.EndsWith("_count", StringComparison.Ordinal)).Sum(s => s.Value));
        Assert.Contains(families["parley_replays_total"].Samples, s => s.Label("outcome") == "complete");
        Assert.Contains(families["parley_queue_depth"].Samples, s => s.Label("department") == "general");
        Assert.Contains(families["parley_queue_oldest_wait_seconds"].Samples, s => s.Label("department") == "general");
        foreach (var gauge in new[] { "parley_fanout_backlog", "parley_writer_queue_depth", "parley_webhook_outbox", "parley_governor_state", "parley_data_directory_free_bytes" })
        {
            Assert.Equal("gauge", families[gauge].Type);
        }

        Assert.Equal(["away", "offline", "online"], families["parley_agents"].Samples.Select(s => s.Label("status")).Order(StringComparer.Ordinal));
        Assert.True(families["parley_data_directory_free_bytes"].Samples.Single().Value > 0);
        Assert.Contains("dotnet_gc_heap_total_allocated_bytes_total", families.Keys);

        // Bounded cardinality: Parley's series carry only these labels, and never an id.
        string[] allowed = ["hub", "status", "department", "outcome", "limiter", "operation", "feature", "le", "otel_scope_name", "otel_scope_version", "otel_scope_schema_url"];
        foreach (var sample in families.Where(f => f.Key.StartsWith("parley_", StringComparison.Ordinal)).SelectMany(f => f.Value.Samples))
        {
            Assert.All(sample.Labels, l =>
            {
                Assert.Contains(l.Key, allowed);
                Assert.False(GuidLike().IsMatch(l.Value), $"{sample.Name} carries an id-like label {l.Key}={l.Value}");
            });
        }
    }

    [Fact]
    public async Task RateLimitRejections_AreCountedByLimiter()
    {
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        var settings = Settings();
        settings["Parley:Widget:SendPerSecond"] = "0.01";
        settings["Parley:Widget:SendBurst"] = "1";
        await using var server = await ParleyServer.StartAsync(storage, settings);
        await using var visitor = await VisitorClient.ConnectAsync(server);
        var conversation = await visitor.StartConversationAsync();
        await visitor.SendAsync(conversation.Id, "one");
        await Assert.ThrowsAnyAsync<Exception>(() => visitor.SendAsync(conversation.Id, "two"));

        var families = await ScrapeAsync(server);

        Assert.Equal(1, families["parley_rate_limit_rejections_total"].Samples.Single(s => s.Label("limiter") == "visitor-send-connection").Value);
    }

    [Fact]
    public async Task Metrics_ByDefault_AreRefusedEvenToAdmins()
    {
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage);
        var (admin, _) = await AgentClient.SignInAsync(server);
        using (admin)
        {
            using var response = await admin.GetAsync("/metrics", TestContext.Current.CancellationToken);
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
            Assert.Contains("\"code\":\"unauthorized\"", await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken), StringComparison.Ordinal);
        }

        using var anonymous = server.CreateHttpClient();
        anonymous.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", "anything-at-all-1234567");
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/METRICS", TestContext.Current.CancellationToken)).StatusCode);
    }

    [Fact]
    public async Task Metrics_WithToken_NeedTheExactBearer()
    {
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage, Settings());
        using var http = server.CreateHttpClient();

        Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync("/metrics", TestContext.Current.CancellationToken)).StatusCode);
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token + "x");
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync("/metrics", TestContext.Current.CancellationToken)).StatusCode);
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/metrics", TestContext.Current.CancellationToken)).StatusCode);
    }

    [Fact]
    public async Task ManagementPort_ServesMetricsAndHealthOnly_AndTheMainPortStillRefuses()
    {
        var port = FreePort();
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        var settings = Settings(port);
        settings["Parley:Metrics:Token"] = null;
        await using var server = await ParleyServer.StartAsync(storage, settings);
        using var management = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
        using var main = server.CreateHttpClient();

        var text = await management.GetStringAsync("/metrics", TestContext.Current.CancellationToken);
        Assert.Contains("parley_connections", PrometheusText.Parse(text).Keys);
        Assert.Equal(HttpStatusCode.OK, (await management.GetAsync("/health/live", TestContext.Current.CancellationToken)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await management.GetAsync("/api/v1/setup/status", TestContext.Current.CancellationToken)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await management.GetAsync("/", TestContext.Current.CancellationToken)).StatusCode);

        Assert.Equal(HttpStatusCode.Unauthorized, (await main.GetAsync("/metrics", TestContext.Current.CancellationToken)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await main.GetAsync("/api/v1/setup/status", TestContext.Current.CancellationToken)).StatusCode);
    }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static double Gauge(Dictionary<string, PrometheusFamily> families, string name, string label, string value) =>
        families.TryGetValue(name, out var family) ? family.Samples.Where(s => s.Labels.GetValueOrDefault(label) == value).Sum(s => s.Value) : -1;

    [GeneratedRegex("[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}")]
    private static partial Regex GuidLike();
}
