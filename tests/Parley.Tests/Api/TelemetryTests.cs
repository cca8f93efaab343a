using System.Collections.Concurrent;
using System.Net;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Api;

/// <summary>
/// OpenTelemetry over OTLP (configured by the standard OTEL_* settings) against a real loopback receiver, trace ids
/// in problem details and logs, and an unreachable collector. In the metrics collection: the SDK's listeners are
/// process-wide.
/// </summary>
[Collection(nameof(MetricsTests))]
public sealed class TelemetryTests
{
    private const string TraceId = "0af7651916cd43dd8448eb211c80319c";

    [Fact]
    public async Task ProblemDetails_CarryTheRequestsTraceId()
    {
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage);
        using var http = server.CreateHttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/v1/auth/me");
        request.Headers.Add("traceparent", $"00-{TraceId}-b7ad6b7169203331-01");

        using var response = await http.SendAsync(request, TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        var problem = System.Text.Json.JsonDocument.Parse(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken)).RootElement;
        Assert.Contains(TraceId, problem.GetProperty("traceId").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Otlp_ExportsSpansOfHttpHubsTheWritePathAndTheDatabase_WithTraceIdsInLogs()
    {
        await using var collector = await OtlpReceiver.StartAsync();
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        var logs = new LogRecorder();
        await using var server = await ParleyServer.StartAsync(storage, Otlp(collector.Url), configure: b => b.Logging.AddProvider(logs));
        await using var visitor = await VisitorClient.ConnectAsync(server);
        var conversation = await visitor.StartConversationAsync();
        await visitor.SendAsync(conversation.Id, "traced");

        var traces = await Eventually.ValueAsync(
            () => Task.FromResult(collector.Text("/v1/traces")),
            t => t.Contains("parley.group_commit", StringComparison.Ordinal) && t.Contains("parley.queue_wait", StringComparison.Ordinal)
                && t.Contains("VisitorHub/Send", StringComparison.Ordinal) && t.Contains("/api/v1/widget/session", StringComparison.Ordinal),
            TimeSpan.FromSeconds(30));
        Assert.Contains("parley", traces, StringComparison.Ordinal); // service.name

        // Logs go to the collector too, and console logs carry the trace id of the request they belong to.
        await Eventually.ValueAsync(() => Task.FromResult(collector.Text("/v1/logs")), t => t.Length > 0, TimeSpan.FromSeconds(30));
        using (var activity = new System.Diagnostics.Activity("test").Start())
        {
#pragma warning disable CA1848 // one test line
            server.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Parley.Test").LogWarning("inside a span");
#pragma warning restore CA1848
            Assert.Contains(logs.Scopes, s => s.TryGetValue("TraceId", out var id) && id?.ToString() == activity.TraceId.ToHexString());
        }
    }

    [Fact]
    public async Task Otlp_UnreachableCollector_CostsOnlyAWarning()
    {
        var closedPort = MetricsTests.FreePort();
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        var logs = new LogRecorder();
        await using var server = await ParleyServer.StartAsync(storage, Otlp(new Uri($"http://127.0.0.1:{closedPort}")), configure: b => b.Logging.AddProvider(logs));
        await using var visitor = await VisitorClient.ConnectAsync(server);
        var conversation = await visitor.StartConversationAsync();
        for (var i = 0; i < 5; i++)
        {
            var ack = await visitor.SendAsync(conversation.Id, $"still works {i}");
            Assert.True(ack.Seq > 0);
        }

        await Eventually.ValueAsync(
            () => Task.FromResult(logs.Messages.ToList()),
            m => m.Any(x => x.Level == LogLevel.Warning && x.Text.Contains("OTLP collector", StringComparison.Ordinal)),
            TimeSpan.FromSeconds(30));
        Assert.DoesNotContain(logs.Messages, m => m.Level >= LogLevel.Error && m.Text.Contains("OpenTelemetry", StringComparison.Ordinal));
        using var http = server.CreateHttpClient();
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/health/ready", TestContext.Current.CancellationToken)).StatusCode);
    }

    private static Dictionary<string, string?> Otlp(Uri endpoint) => new()
    {
        ["OTEL_EXPORTER_OTLP_ENDPOINT"] = endpoint.ToString().TrimEnd('/'),
        ["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf",
        ["OTEL_BSP_SCHEDULE_DELAY"] = "200",
        ["OTEL_BLRP_SCHEDULE_DELAY"] = "200",
        ["OTEL_METRIC_EXPORT_INTERVAL"] = "500",
        ["Logging:LogLevel:Default"] = "Information",
    };

    /// <summary>A real OTLP/HTTP endpoint on loopback: records the raw protobuf bodies per path and answers 200.</summary>
    private sealed class OtlpReceiver : IAsyncDisposable
    {
        private readonly WebApplication _app;
        private readonly ConcurrentQueue<(string Path, byte[] Body)> _bodies = new();

        private OtlpReceiver(WebApplication app) => _app = app;

        public Uri Url { get; private set; } = null!;

        public static async Task<OtlpReceiver> StartAsync()
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.WebHost.UseSetting("urls", "http://127.0.0.1:0");
            builder.Logging.ClearProviders();
            var app = builder.Build();
            var receiver = new OtlpReceiver(app);
            app.MapPost("/v1/{signal}", async (HttpContext context) =>
            {
                using var buffer = new MemoryStream();
                await context.Request.Body.CopyToAsync(buffer);
                receiver._bodies.Enqueue((context.Request.Path, buffer.ToArray()));
                context.Response.ContentType = "application/x-protobuf";
            });
            await app.StartAsync();
            receiver.Url = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
            return receiver;
        }

        /// <summary>The bodies sent to a path, as text: protobuf keeps strings (span names, attributes) verbatim in UTF-8.</summary>
        public string Text(string path) => string.Join("\n", _bodies.Where(b => b.Path == path).Select(b => Encoding.UTF8.GetString(b.Body)));

        public async ValueTask DisposeAsync()
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }

    /// <summary>Records what the server logs, with the scopes of each entry (where the trace id lives).</summary>
    public sealed class LogRecorder : ILoggerProvider, ISupportExternalScope
    {
        private IExternalScopeProvider _scopes = new LoggerExternalScopeProvider();

        public ConcurrentQueue<(LogLevel Level, string Category, string Text)> Messages { get; } = new();

        public ConcurrentQueue<Dictionary<string, object?>> Scopes { get; } = new();

        public ILogger CreateLogger(string categoryName) => new Recorder(this, categoryName);

        public void SetScopeProvider(IExternalScopeProvider scopeProvider) => _scopes = scopeProvider;

        public void Dispose()
        {
        }

        private sealed class Recorder(LogRecorder owner, string category) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => owner._scopes.Push(state);

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                owner.Messages.Enqueue((logLevel, category, formatter(state, exception)));
                var scope = new Dictionary<string, object?>();
                owner._scopes.ForEachScope(
                    (s, d) =>
                    {
                        if (s is IEnumerable<KeyValuePair<string, object?>> pairs)
                        {
                            foreach (var (k, v) in pairs)
                            {
                                d[k] = v;
                            }
                        }
                    },
                    scope);
                if (scope.Count > 0)
                {
                    owner.Scopes.Enqueue(scope);
                }
            }
        }
    }
}
