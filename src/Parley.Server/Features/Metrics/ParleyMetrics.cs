using System.Diagnostics.Metrics;
using OpenTelemetry.Metrics;

namespace Parley.Server.Features.Metrics;

/// <summary>Parley's own instruments; exported with the runtime's and ASP.NET Core's at <c>/metrics</c>.</summary>
public sealed class ParleyMetrics
{
    public const string MeterName = "Parley";

    private readonly Counter<long> _messagesStored;
    private readonly Counter<long> _duplicates;
    private readonly Histogram<int> _batchSize;
    private readonly Histogram<double> _commitSeconds;
    private readonly Counter<long> _slowConsumers;

    public ParleyMetrics(IMeterFactory meters)
    {
        var meter = meters.Create(MeterName);
        _messagesStored = meter.CreateCounter<long>("parley.messages.stored", description: "Messages durably stored");
        _duplicates = meter.CreateCounter<long>("parley.messages.duplicates", description: "Sends recognised as retries of a stored message");
        _batchSize = meter.CreateHistogram<int>("parley.commit.batch_size", description: "Messages per group-commit transaction");
        _commitSeconds = meter.CreateHistogram<double>("parley.commit.duration", unit: "s", description: "Duration of a group-commit transaction");
        _slowConsumers = meter.CreateCounter<long>("parley.connections.slow_consumer_disconnects", description: "Connections closed because their outbound queue was full");
    }

    public void Committed(int batchSize, int stored, int duplicates, TimeSpan elapsed)
    {
        _batchSize.Record(batchSize);
        _commitSeconds.Record(elapsed.TotalSeconds);
        _messagesStored.Add(stored);
        if (duplicates > 0)
        {
            _duplicates.Add(duplicates);
        }
    }

    public void SlowConsumerDisconnected() => _slowConsumers.Add(1);
}

public static class MetricsSetup
{
    public static WebApplicationBuilder AddParleyMetrics(this WebApplicationBuilder builder)
    {
        builder.Services.AddSingleton<ParleyMetrics>();
        builder.Services.AddOpenTelemetry().WithMetrics(m => m
            .AddMeter(ParleyMetrics.MeterName, "System.Runtime", "Microsoft.AspNetCore.Hosting", "Microsoft.AspNetCore.Server.Kestrel", "Microsoft.AspNetCore.Http.Connections")
            .AddPrometheusExporter());
        return builder;
    }

    public static WebApplication MapParleyMetrics(this WebApplication app)
    {
        app.MapPrometheusScrapingEndpoint("/metrics");
        return app;
    }
}
