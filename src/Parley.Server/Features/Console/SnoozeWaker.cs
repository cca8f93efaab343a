using System.ComponentModel.DataAnnotations;
using System.Threading.Channels;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Parley.Data;
using Parley.Server.Events;
using Parley.Server.Messaging;

namespace Parley.Server.Features.Console;

public sealed class ConsoleOptions
{
    public const string Section = "Parley:Console";

    /// <summary>How often snoozed conversations whose time has come are re-opened.</summary>
    [Range(1, 3600)]
    public int SnoozeCheckSeconds { get; set; } = 15;

    /// <summary>Most search hits per page.</summary>
    [Range(1, 200)]
    public int SearchPageSize { get; set; } = 30;

    /// <summary>PostgreSQL: how many of the newest message ids a search reads directly (LIKE) before it turns to the index.</summary>
    [Range(0, 10_000_000)]
    public long SearchDirectWindow { get; set; } = 10_000;

    /// <summary>How often the search indexer looks for messages above its watermark.</summary>
    [Range(1, 3600)]
    public int SearchIndexIntervalSeconds { get; set; } = 5;

    /// <summary>Most message ids the search indexer covers in one transaction (PostgreSQL).</summary>
    [Range(100, 1_000_000)]
    public int SearchIndexBatch { get; set; } = 20_000;

    /// <summary>
    /// The same on SQLite, where the indexer's transaction holds the one write lock that every send's group commit
    /// needs: 20,000 ids held it for most of a second under load, stalling agents' replies (docs/benchmarks.md).
    /// </summary>
    [Range(10, 1_000_000)]
    public int SearchIndexSqliteBatch { get; set; } = 1_000;

    /// <summary>Pause between two batches of one catch-up, so that the chat path's commits get the write lock between them.</summary>
    [Range(0, 10_000)]
    public int SearchIndexPauseMilliseconds { get; set; } = 20;

    /// <summary>How long the search indexer's lease lasts: one node at a time indexes.</summary>
    [Range(5, 3600)]
    public int SearchIndexLeaseSeconds { get; set; } = 30;
}

/// <summary>
/// Re-opens snoozed conversations when their time comes (polled, so it survives restarts: the time is in the
/// database) and at once when their visitor writes (a MessageCommitted listener hands the id over).
/// </summary>
internal sealed partial class SnoozeWaker(
    IServiceScopeFactory scopes, IOptions<ConsoleOptions> options, TimeProvider time, ILogger<SnoozeWaker> logger)
    : BackgroundService, IDomainEventListener<MessageCommitted>
{
    private readonly Channel<(Guid Id, DateTime SnoozedUntil)> _woken = Channel.CreateBounded<(Guid, DateTime)>(new BoundedChannelOptions(10_000) { FullMode = BoundedChannelFullMode.DropOldest });

    public void Handle(MessageCommitted domainEvent)
    {
        // Carries the snooze the message saw: a snooze set after the message was stored is not woken by it.
        if (domainEvent.Conversation.SnoozedUntil is { } until && domainEvent.Message.SenderKind == SenderKind.Visitor)
        {
            _woken.Writer.TryWrite((domainEvent.Conversation.Id, until));
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var interval = TimeSpan.FromSeconds(options.Value.SnoozeCheckSeconds);
        var nextSweep = time.GetUtcNow();
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                while (_woken.Reader.TryRead(out var woken))
                {
                    await WakeAsync(woken.Id, woken.SnoozedUntil, SystemLine.WokeVisitorWrote, stoppingToken);
                }

                if (time.GetUtcNow() >= nextSweep)
                {
                    await SweepAsync(stoppingToken);
                    nextSweep = time.GetUtcNow() + interval;
                }

                using var wait = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
                var delay = nextSweep - time.GetUtcNow();
                wait.CancelAfter(delay > TimeSpan.Zero ? delay : TimeSpan.Zero);
                try
                {
                    await _woken.Reader.WaitToReadAsync(wait.Token);
                }
                catch (OperationCanceledException) when (!stoppingToken.IsCancellationRequested)
                {
                    // Time for the next sweep.
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                LogFailed(logger, ex);
                await Task.Delay(interval, time, stoppingToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
        }
    }

    private async Task SweepAsync(CancellationToken cancellationToken)
    {
        List<Guid> due;
        await using (var scope = scopes.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<ParleyDbContext>();
            var now = time.GetUtcNow().UtcDateTime;
            due = await db.Conversations.AsNoTracking().Where(c => c.SnoozedUntil != null && c.SnoozedUntil <= now)
                .OrderBy(c => c.SnoozedUntil).Select(c => c.Id).Take(500).ToListAsync(cancellationToken);
        }

        foreach (var id in due)
        {
            await WakeAsync(id, null, SystemLine.WokeSnoozeEnded, cancellationToken);
        }
    }

    private async Task WakeAsync(Guid id, DateTime? snoozedUntil, string reason, CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        if (await scope.ServiceProvider.GetRequiredService<ConsoleConversationActions>().WakeAsync(id, snoozedUntil, reason, cancellationToken))
        {
            LogWoken(logger, id);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Snoozed conversation {ConversationId} re-opened")]
    private static partial void LogWoken(ILogger logger, Guid conversationId);

    [LoggerMessage(Level = LogLevel.Error, Message = "Waking snoozed conversations failed; retrying")]
    private static partial void LogFailed(ILogger logger, Exception exception);
}
