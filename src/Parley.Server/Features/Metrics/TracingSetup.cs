using System.Diagnostics;
using System.Diagnostics.Tracing;
using System.Net.Sockets;
using OpenTelemetry;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Parley.Server.Features.Metrics;

/// <summary>Parley's own spans (the write path); HTTP, hubs, EF Core, Npgsql, Redis and HttpClient come from their instrumentations.</summary>
public static class ParleyTelemetry
{
    public const string SourceName = "Parley";

    public static readonly ActivitySource Source = new(SourceName);
}

/// <summary>
/// OpenTelemetry traces, metrics and logs over OTLP, configured only by the standard <c>OTEL_*</c> variables (read
/// from configuration, so environment variables and appsettings both work): nothing is exported unless
/// <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> (or a per-signal endpoint) is set, and <c>OTEL_SDK_DISABLED=true</c> turns it
/// off. Logs carry the trace and span id either way.
/// </summary>
public static class TracingSetup
{
    private static readonly string[] EndpointKeys =
        ["OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT"];

    public static IServiceCollection AddParleyTracing(this IServiceCollection services, IConfiguration configuration)
    {
        services.Configure<LoggerFactoryOptions>(o => o.ActivityTrackingOptions = ActivityTrackingOptions.TraceId | ActivityTrackingOptions.SpanId);
        var config = configuration;
        if (!OtlpConfigured(config))
        {
            return services;
        }

        services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService(config["OTEL_SERVICE_NAME"] is { Length: > 0 } name ? name : "parley"))
            .WithTracing(t => t
                .AddSource(ParleyTelemetry.SourceName, "Microsoft.AspNetCore.SignalR.Server", "Npgsql")
                .AddAspNetCoreInstrumentation(o => o.Filter = http =>
                    !http.Request.Path.StartsWithSegments("/metrics", StringComparison.OrdinalIgnoreCase)
                    && !http.Request.Path.StartsWithSegments("/health", StringComparison.OrdinalIgnoreCase))
                .AddHttpClientInstrumentation()
                .AddEntityFrameworkCoreInstrumentation()
                .AddRedisInstrumentation())
            .WithLogging(_ => { }, o =>
            {
                o.IncludeFormattedMessage = true;
                o.IncludeScopes = false;
            })
            .UseOtlpExporter();
        services.AddHostedService<OtlpHealth>();
        return services;
    }

    internal static bool OtlpConfigured(IConfiguration config) =>
        !string.Equals(config["OTEL_SDK_DISABLED"], "true", StringComparison.OrdinalIgnoreCase)
        && EndpointKeys.Any(k => !string.IsNullOrWhiteSpace(config[k]));

    internal static Uri? Endpoint(IConfiguration config)
    {
        foreach (var key in EndpointKeys)
        {
            if (Uri.TryCreate(config[key], UriKind.Absolute, out var uri))
            {
                return uri;
            }
        }

        return null;
    }
}

/// <summary>
/// Makes an unreachable or failing collector visible as a warning, and nothing more: export runs on the SDK's own
/// background threads, drops what it cannot send, and never delays a request. Checks the endpoint once at start
/// and reports the exporter's own failure events (at most one warning a minute).
/// </summary>
internal sealed partial class OtlpHealth(IConfiguration config, TimeProvider time, ILogger<OtlpHealth> logger) : BackgroundService
{
    private ExportFailures? _failures;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        _failures = new ExportFailures(this);
        if (TracingSetup.Endpoint(config) is not { } endpoint)
        {
            return;
        }

        try
        {
            using var tcp = new TcpClient();
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
            timeout.CancelAfter(TimeSpan.FromSeconds(3));
            await tcp.ConnectAsync(endpoint.Host, endpoint.Port, timeout.Token);
            LogReachable(logger, endpoint);
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException && !stoppingToken.IsCancellationRequested)
        {
            LogUnreachable(logger, endpoint, ex.Message);
        }
    }

    public override void Dispose()
    {
        _failures?.Dispose();
        base.Dispose();
    }

    private long _lastWarning;

    private void ExportFailed(string what)
    {
        var now = time.GetTimestamp();
        var last = Interlocked.Read(ref _lastWarning);
        if (last != 0 && time.GetElapsedTime(last, now) < TimeSpan.FromMinutes(1))
        {
            return;
        }

        if (Interlocked.CompareExchange(ref _lastWarning, now, last) == last)
        {
            LogExportFailed(logger, what);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "OpenTelemetry: exporting over OTLP to {Endpoint}")]
    private static partial void LogReachable(ILogger logger, Uri endpoint);

    [LoggerMessage(Level = LogLevel.Warning, Message = "OpenTelemetry: the OTLP collector at {Endpoint} is unreachable ({Error}); telemetry is dropped until it answers, Parley itself is unaffected")]
    private static partial void LogUnreachable(ILogger logger, Uri endpoint, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "OpenTelemetry: exporting over OTLP failed ({What}); telemetry is dropped until the collector answers, Parley itself is unaffected")]
    private static partial void LogExportFailed(ILogger logger, string what);

    /// <summary>The OTLP exporter reports failures as EventSource events only; this turns them into one warning.</summary>
    private sealed class ExportFailures(OtlpHealth owner) : EventListener
    {
        protected override void OnEventSourceCreated(EventSource eventSource)
        {
            if (eventSource.Name == "OpenTelemetry-Exporter-OpenTelemetryProtocol")
            {
                EnableEvents(eventSource, EventLevel.Warning);
            }
        }

        protected override void OnEventWritten(EventWrittenEventArgs eventData)
        {
            // OnEventWritten can run before the primary constructor's field is assigned (sources created early).
            if (eventData.Level <= EventLevel.Warning && owner is not null)
            {
                owner.ExportFailed(eventData.EventName ?? "export");
            }
        }
    }
}
