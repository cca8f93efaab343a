using System.Diagnostics;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Parley.Data;
using Parley.Server.Data;
using Parley.Server.Messaging;
using Parley.Server.Realtime;
using Parley.Server.Realtime.Presence;

namespace Parley.Server.Features.Metrics;

/// <summary>
/// Takes the <see cref="OperationsSnapshot"/> every <see cref="MetricsOptions.SampleSeconds"/>: node-local figures
/// each tick, the store's (queues, agents, webhook outbox, disk) every <see cref="MetricsOptions.StoreSampleSeconds"/>.
/// Gauges never query the store during a scrape; a failing store read keeps the last figures and logs once.
/// </summary>
internal sealed partial class OperationsSampler(
    ParleyMetrics metrics,
    LoadGovernor governor,
    ConnectionRegistry registry,
    MessageWriter writer,
    VisitorAdmission admission,
    IAgentPresence presence,
    IServiceScopeFactory scopes,
    IOptions<MetricsOptions> options,
    IOptions<DatabaseOptions> database,
    TimeProvider time,
    IHostApplicationLifetime lifetime,
    ILogger<OperationsSampler> logger) : BackgroundService
{
    /// <summary>Raised after each new snapshot (the load governor listens).</summary>
    public event Action<OperationsSnapshot>? Sampled;

    private OperationsSnapshot _store = OperationsSnapshot.Empty;
    private long _lastStoreSample;
    private TimeSpan _lastCpu = Process.GetCurrentProcess().TotalProcessorTime;
    private long _lastCpuAt = Stopwatch.GetTimestamp();
    private bool _storeFailing;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // The store is migrated by another hosted service: read it only once the application has started.
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using (lifetime.ApplicationStarted.Register(() => started.TrySetResult()))
        {
            await started.Task.WaitAsync(stoppingToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }

        if (stoppingToken.IsCancellationRequested)
        {
            return;
        }

        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(options.Value.SampleSeconds), time);
        try
        {
            do
            {
                try
                {
                    await SampleAsync(stoppingToken);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    LogSampleFailed(logger, ex);
                }
            }
            while (await timer.WaitForNextTickAsync(stoppingToken));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>One sample now (tests call it to avoid waiting for the timer).</summary>
    internal async Task SampleAsync(CancellationToken cancellationToken)
    {
        var storeDue = _lastStoreSample == 0
            || time.GetElapsedTime(_lastStoreSample) >= TimeSpan.FromSeconds(options.Value.StoreSampleSeconds);
        if (storeDue)
        {
            try
            {
                _store = await SampleStoreAsync(cancellationToken);
                _lastStoreSample = time.GetTimestamp();
                _storeFailing = false;
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                if (!_storeFailing)
                {
                    LogStoreSampleFailed(logger, ex);
                }

                _storeFailing = true;
            }
        }

        var snapshot = _store with
        {
            TakenAt = time.GetUtcNow(),
            VisitorConnections = registry.VisitorCount,
            AgentConnections = registry.AgentCount,
            FanoutBacklog = registry.TotalPending(),
            CommitSeconds = metrics.TakeSlowestCommit().TotalSeconds,
            WriterQueueDepth = writer.QueueDepth,
            AdmissionWaiting = admission.Waiting,
            AdmissionLimit = admission.Enabled ? admission.Limit : 0,
            ThreadPoolQueue = ThreadPool.PendingWorkItemCount,
            Cpu = SampleCpu(),
        };
        snapshot = snapshot with { GovernorState = (int)governor.Evaluate(snapshot) };
        metrics.Publish(snapshot);
        Sampled?.Invoke(snapshot);
    }

    private double SampleCpu()
    {
        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        var now = Stopwatch.GetTimestamp();
        var wall = Stopwatch.GetElapsedTime(_lastCpuAt, now);
        var used = cpu - _lastCpu;
        _lastCpu = cpu;
        _lastCpuAt = now;
        return wall <= TimeSpan.Zero ? 0 : Math.Clamp(used.TotalSeconds / wall.TotalSeconds / Environment.ProcessorCount, 0, 1);
    }

    private async Task<OperationsSnapshot> SampleStoreAsync(CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ParleyDbContext>();
        var now = time.GetUtcNow().UtcDateTime;

        var waiting = await db.Conversations.AsNoTracking()
            .Where(c => c.QueuedAt != null && c.AssigneeId == null && c.Status != ConversationStatus.Closed)
            .GroupBy(c => c.TeamId)
            .Select(g => new { TeamId = g.Key, Depth = g.Count(), Oldest = g.Min(c => c.QueuedAt) })
            .ToListAsync(cancellationToken);
        var teams = await db.Teams.AsNoTracking().Select(t => new { t.Id, t.Name }).ToDictionaryAsync(t => t.Id, t => t.Name, cancellationToken);
        // Every department appears (0 when nobody waits), so a dashboard's series does not vanish when a queue empties.
        var queues = teams.Select(t => (Id: (Guid?)t.Key, Name: t.Value)).Append((Id: null, Name: "general"))
            .Select(t => waiting.FirstOrDefault(w => w.TeamId == t.Id) is { } w
                ? new QueueSample(t.Name, w.Depth, w.Oldest is { } oldest ? Math.Max(0, (now - oldest).TotalSeconds) : 0)
                : new QueueSample(t.Name, 0, 0))
            .OrderBy(q => q.Department, StringComparer.Ordinal)
            .ToList();

        var activeUsers = await db.Users.AsNoTracking().CountAsync(u => u.IsActive, cancellationToken);
        var present = await presence.GetPresentAsync(cancellationToken);
        var online = present.Count(p => p.Value == AgentStatus.Online);
        var away = present.Count(p => p.Value == AgentStatus.Away);

        var backlog = await db.WebhookDeliveries.AsNoTracking().CountAsync(d => d.Status == WebhookDeliveryStatus.Pending, cancellationToken);

        return OperationsSnapshot.Empty with
        {
            Queues = queues,
            AgentsOnline = online,
            AgentsAway = away,
            AgentsOffline = Math.Max(0, activeUsers - online - away),
            WebhookBacklog = backlog,
            DataDirectoryFreeBytes = FreeBytes(database.Value.ResolveDataDirectory()),
        };
    }

    private static long FreeBytes(string directory)
    {
        try
        {
            var dir = new DirectoryInfo(directory);
            while (dir is not null && !dir.Exists)
            {
                dir = dir.Parent;
            }

            return dir is null ? -1 : new DriveInfo(dir.FullName).AvailableFreeSpace;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException)
        {
            return -1;
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Sampling the operations figures failed")]
    private static partial void LogSampleFailed(ILogger logger, Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Reading queue, agent and webhook figures from the store failed; gauges keep their last values until it works again")]
    private static partial void LogStoreSampleFailed(ILogger logger, Exception exception);
}
