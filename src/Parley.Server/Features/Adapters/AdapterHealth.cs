using System.Collections.Concurrent;
using Microsoft.EntityFrameworkCore;
using Parley.Data;

namespace Parley.Server.Features.Adapters;

/// <summary>
/// Records each adapter's last success and last failure in the database (<see cref="AdapterStatus"/>), so the admin
/// screen shows what every node saw. A failure is always written (the circuit breaker bounds how often one happens);
/// a success at most once a minute per adapter and node, or at once after a failure, so a busy panel does not turn
/// every query into a write. A write that fails is logged and never fails the panel.
/// </summary>
public sealed partial class AdapterHealth(IServiceScopeFactory scopes, TimeProvider time, ILogger<AdapterHealth> logger)
{
    public const int MaxErrorLength = 500;
    private static readonly TimeSpan SuccessWriteInterval = TimeSpan.FromMinutes(1);
    private readonly ConcurrentDictionary<string, DateTimeOffset> _successWritten = new(StringComparer.Ordinal);

    public async Task SucceededAsync(string adapter, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        if (_successWritten.TryGetValue(adapter, out var written) && now - written < SuccessWriteInterval)
        {
            return;
        }

        _successWritten[adapter] = now;
        var at = now.UtcDateTime;
        await WriteAsync(
            adapter,
            q => q.ExecuteUpdateAsync(s => s.SetProperty(a => a.LastSuccessAt, at).SetProperty(a => a.ConsecutiveFailures, 0), cancellationToken),
            () => new AdapterStatus { Name = adapter, LastSuccessAt = at },
            cancellationToken);
    }

    public async Task FailedAsync(string adapter, string kind, string error, CancellationToken cancellationToken)
    {
        _successWritten.TryRemove(adapter, out _);
        var at = time.GetUtcNow().UtcDateTime;
        var summary = error.Length <= MaxErrorLength ? error : error[..(MaxErrorLength - 1)] + "…";
        await WriteAsync(
            adapter,
            q => q.ExecuteUpdateAsync(
                s => s.SetProperty(a => a.LastFailureAt, at).SetProperty(a => a.LastFailureKind, kind).SetProperty(a => a.LastError, summary)
                    .SetProperty(a => a.ConsecutiveFailures, a => a.ConsecutiveFailures + 1),
                cancellationToken),
            () => new AdapterStatus { Name = adapter, LastFailureAt = at, LastFailureKind = kind, LastError = summary, ConsecutiveFailures = 1 },
            cancellationToken);
    }

    /// <summary>Update the row; when there is none yet, insert it (and if another node inserted it meanwhile, update again).</summary>
    private async Task WriteAsync(string adapter, Func<IQueryable<AdapterStatus>, Task<int>> update, Func<AdapterStatus> create, CancellationToken cancellationToken)
    {
        try
        {
            await using var scope = scopes.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<ParleyDbContext>();
            if (await update(db.AdapterStatuses.Where(a => a.Name == adapter)) > 0)
            {
                return;
            }

            db.AdapterStatuses.Add(create());
            try
            {
                await db.SaveChangesAsync(cancellationToken);
            }
            catch (DbUpdateException)
            {
                db.ChangeTracker.Clear();
                await update(db.AdapterStatuses.Where(a => a.Name == adapter));
            }
        }
        catch (Exception ex) when (ex is DbUpdateException or InvalidOperationException or System.Data.Common.DbException or TimeoutException)
        {
            LogWriteFailed(logger, adapter, ex.Message);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not record the status of context adapter {Adapter}: {Error}")]
    private static partial void LogWriteFailed(ILogger logger, string adapter, string error);
}
