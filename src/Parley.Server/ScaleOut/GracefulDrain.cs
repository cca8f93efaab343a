using System.ComponentModel.DataAnnotations;
using System.Runtime.CompilerServices;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Protocol;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using Parley.Server.Infrastructure;
using Parley.Server.Realtime;

namespace Parley.Server.ScaleOut;

public sealed class DrainOptions
{
    public const string Section = "Parley:Drain";

    /// <summary>
    /// Seconds to keep serving after readiness turns unhealthy, so the load balancer stops sending new clients
    /// before they are told to leave (Kubernetes: match the endpoint propagation delay).
    /// </summary>
    [Range(0, 120)]
    public double DelaySeconds { get; set; }

    /// <summary>Longest wait for hub calls in progress (sends being committed) before connections are closed.</summary>
    [Range(0, 120)]
    public double InFlightTimeoutSeconds { get; set; } = 10;

    /// <summary>Longest wait for clients to leave after they were told to reconnect elsewhere; the rest are cut.</summary>
    [Range(0, 120)]
    public double DisconnectTimeoutSeconds { get; set; } = 5;
}

/// <summary>
/// Graceful shutdown. On SIGTERM, before anything else stops: readiness fails and new hub connections are
/// refused (503, code <c>draining</c>); new hub calls are answered <c>unavailable: draining</c>; calls in flight
/// finish (their sends are committed and acknowledged); then every connection is closed with the close reason
/// <see cref="CloseReason"/> and "allow reconnect", so clients reconnect through the load balancer to another
/// node and resume by replay. The write path then stops on its own: it commits what is still queued and
/// publishes it to the other nodes before the process exits.
/// </summary>
internal sealed partial class GracefulDrain(ConnectionRegistry registry, IOptions<DrainOptions> options, TimeProvider time, ILogger<GracefulDrain> logger)
    : IHostedLifecycleService, IHubFilter, IHealthCheck
{
    public static readonly string CloseReason = ErrorCatalogue.Draining.HubText("This server is shutting down; reconnect to resume.");

    private int _inFlight;
    private volatile bool _draining;

    public bool IsDraining => _draining;

    public async Task StoppingAsync(CancellationToken cancellationToken)
    {
        _draining = true;
        var o = options.Value;
        LogDraining(logger, registry.Count);
        if (o.DelaySeconds > 0)
        {
            await Task.Delay(TimeSpan.FromSeconds(o.DelaySeconds), time, cancellationToken);
        }

        await WaitAsync(() => Volatile.Read(ref _inFlight) == 0, o.InFlightTimeoutSeconds, cancellationToken);

        var close = new SerializedHubMessage(new CloseMessage(CloseReason, allowReconnect: true));
        foreach (var connection in registry.All)
        {
            connection.CloseForReconnect(close);
        }

        if (!await WaitAsync(() => registry.Count == 0, o.DisconnectTimeoutSeconds, cancellationToken))
        {
            foreach (var connection in registry.All)
            {
                connection.Abort();
            }
        }

        LogDrained(logger, registry.Count);
    }

    // Every hub invocation passes here and awaits the method (a send awaits its commit): the pooling builder reuses the
    // state machine instead of allocating one per invocation. SignalR awaits the returned ValueTask once.
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public async ValueTask<object?> InvokeMethodAsync(HubInvocationContext invocationContext, Func<HubInvocationContext, ValueTask<object?>> next)
    {
        Interlocked.Increment(ref _inFlight);
        try
        {
            if (_draining)
            {
                throw new HubException(ErrorCatalogue.Unavailable.HubText("This server is shutting down; reconnect and retry (sends with the same client id are safe to repeat)."));
            }

            return await next(invocationContext);
        }
        finally
        {
            Interlocked.Decrement(ref _inFlight);
        }
    }

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(_draining ? HealthCheckResult.Unhealthy("Draining for shutdown.") : HealthCheckResult.Healthy());

    /// <summary>Refuses new hub connections (and negotiations) while draining, so the client tries elsewhere.</summary>
    /// <remarks>Not async: a connection let through keeps no state machine of this middleware for its life.</remarks>
    public RequestDelegate RefuseNewConnections(RequestDelegate next) => context =>
    {
        if (_draining && context.Request.Path.StartsWithSegments("/hubs", StringComparison.OrdinalIgnoreCase))
        {
            context.Response.Headers.RetryAfter = "1";
            return Problems.Create(ErrorCatalogue.Draining, "This server is shutting down; connect again to reach another one.").ExecuteAsync(context);
        }

        return next(context);
    };

    private async Task<bool> WaitAsync(Func<bool> condition, double seconds, CancellationToken cancellationToken)
    {
        var deadline = time.GetTimestamp() + (long)(seconds * time.TimestampFrequency);
        while (!condition())
        {
            if (time.GetTimestamp() >= deadline || cancellationToken.IsCancellationRequested)
            {
                return false;
            }

            // Polling a counter: nothing to subscribe to, and shutdown is not a hot path.
            await Task.Delay(TimeSpan.FromMilliseconds(20), time, CancellationToken.None);
        }

        return true;
    }

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(Level = LogLevel.Information, Message = "Draining: refusing new connections, finishing calls in flight, then asking {Count} connection(s) to reconnect elsewhere")]
    private static partial void LogDraining(ILogger logger, int count);

    [LoggerMessage(Level = LogLevel.Information, Message = "Drained ({Remaining} connection(s) left were cut)")]
    private static partial void LogDrained(ILogger logger, int remaining);
}
