using Parley.Data;
using Parley.Server.Features.Metrics;

namespace Parley.Server.Infrastructure;

/// <summary>
/// A background job that works in passes, one node at a time: each pass takes (or renews) a named
/// <see cref="NodeLeases">lease</see> and does one bounded piece of work; passes follow each other while more waits
/// (with <see cref="Pause"/> between them), then the job sleeps for <see cref="Interval"/>. Passes in this process
/// never overlap either, so tests and the bench may call <see cref="RunPassAsync"/> while the job runs. While the load
/// governor sheds <see cref="Sheddable.BackgroundCatchUp"/> a catch-up stops after its first pass: one pass per
/// interval, so the job falls behind slowly instead of competing with sends.
/// </summary>
public abstract class LeasedPassWorker(IServiceScopeFactory scopes, TimeProvider time, LoadGovernor governor) : BackgroundService
{
    private readonly string _holder = $"{Environment.MachineName}/{Guid.NewGuid():N}";
    private readonly SemaphoreSlim _pass = new(1, 1);

    // When this process's lease, by its last renewal, enters the second half of its term; null: not held (guarded by _pass).
    private DateTime? _renewAfter;

    /// <summary>The clock the passes run on (tests: a fake one).</summary>
    protected TimeProvider Time => time;

    protected abstract string Lease { get; }

    protected abstract TimeSpan LeaseDuration { get; }

    /// <summary>The sleep once a catch-up has nothing more to do.</summary>
    protected abstract TimeSpan Interval { get; }

    /// <summary>Between two passes of one catch-up (zero: at once).</summary>
    protected virtual TimeSpan Pause => TimeSpan.Zero;

    /// <summary>One bounded piece of work under the lease: how much it did, and whether more waits right away.</summary>
    protected abstract Task<(long Done, bool More)> WorkAsync(ParleyDbContext db, CancellationToken cancellationToken);

    /// <summary>Logs a failed pass; the next pass retries (the work queue is in the database).</summary>
    protected abstract void PassFailed(Exception exception);

    /// <summary>
    /// One pass: (0, false) when another node holds the lease. The lease is renewed only in the second half of its
    /// term, not by every pass: a renewal is a write and a commit, and at low message rates it was a third of what the
    /// search indexer's passes cost (docs/benchmarks.md, findings of 2026-12-06). A pass is bounded work, far shorter
    /// than half a lease, so the lease cannot run out under it.
    /// </summary>
    protected async Task<(long Done, bool More)> RunPassAsync(CancellationToken cancellationToken)
    {
        await _pass.WaitAsync(cancellationToken);
        try
        {
            await using var scope = scopes.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<ParleyDbContext>();
            var now = time.GetUtcNow().UtcDateTime;
            if (_renewAfter is not { } renewAfter || now >= renewAfter)
            {
                if (!await NodeLeases.TryHoldAsync(db, Lease, _holder, now, LeaseDuration, cancellationToken))
                {
                    _renewAfter = null;
                    return (0, false);
                }

                _renewAfter = now + (LeaseDuration / 2);
            }

            return await WorkAsync(db, cancellationToken);
        }
        finally
        {
            _pass.Release();
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                try
                {
                    while ((await RunPassAsync(stoppingToken)).More && !governor.ShouldShed(Sheddable.BackgroundCatchUp))
                    {
                        if (Pause > TimeSpan.Zero)
                        {
                            await Task.Delay(Pause, time, stoppingToken);
                        }
                    }
                }
                catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
                {
                    PassFailed(ex);
                }

                await Task.Delay(Interval, time, stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }
}
