using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Parley.Data;
using Parley.Server.Features.Access;

namespace Parley.Server.Features.Privacy;

/// <summary>What one run of the retention job did.</summary>
public sealed record RetentionRun(int Conversations, int Files);

/// <summary>
/// Applies each site's retention period: closed conversations whose <see cref="Conversation.ClosedAt"/> is older
/// than <see cref="Site.RetentionDays"/> are deleted or anonymised (<see cref="Site.RetentionMode"/>). Work goes in
/// batches, each one transaction with its own audit entry (<c>retention.applied</c>); a run that fails half-way
/// leaves whole batches done or not done, and the next run starts with the files the last one still owed.
/// </summary>
public sealed partial class RetentionJob(IServiceScopeFactory scopes, IOptions<RetentionOptions> options, TimeProvider time, ILogger<RetentionJob> logger) : BackgroundService
{
    public const string AuditAction = "retention.applied";

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!options.Value.Enabled)
        {
            return;
        }

        using var timer = new PeriodicTimer(options.Value.Interval, time);
        do
        {
            try
            {
                var run = await RunOnceAsync(stoppingToken);
                if (run.Conversations > 0 || run.Files > 0)
                {
                    Log.Applied(logger, run.Conversations, run.Files);
                }
            }
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
            {
                Log.Failed(logger, ex);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }

    /// <summary>One pass over every site with a retention period.</summary>
    public async Task<RetentionRun> RunOnceAsync(CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ParleyDbContext>();
        var lifecycle = scope.ServiceProvider.GetRequiredService<DataLifecycle>();
        var audit = scope.ServiceProvider.GetRequiredService<AuditLog>();

        // What a stopped run still owed first: its rows are gone, its files are not yet.
        var files = await lifecycle.DrainFileDeletionsAsync(cancellationToken);
        var conversations = 0;
        var sites = await db.Sites.AsNoTracking().Where(s => s.RetentionDays != null)
            .Select(s => new { s.Id, Days = s.RetentionDays!.Value, s.RetentionMode }).ToListAsync(cancellationToken);
        foreach (var site in sites)
        {
            var cutoff = time.GetUtcNow().UtcDateTime.AddDays(-site.Days);
            var delete = site.RetentionMode == RetentionMode.Delete;
            while (true)
            {
                var batch = await db.Conversations.AsNoTracking()
                    .Where(c => c.SiteId == site.Id && c.Status == ConversationStatus.Closed && c.ClosedAt < cutoff && (delete || c.AnonymisedAt == null))
                    .OrderBy(c => c.ClosedAt).ThenBy(c => c.Id).Select(c => c.Id).Take(options.Value.BatchSize).ToListAsync(cancellationToken);
                if (batch.Count == 0)
                {
                    break;
                }

                await using (var transaction = await db.Database.BeginTransactionAsync(cancellationToken))
                {
                    foreach (var id in batch)
                    {
                        await lifecycle.RemoveContentAsync(id, cancellationToken);
                    }

                    if (delete)
                    {
                        // Integration events outlive the conversation (no foreign key); their payloads were redacted above.
                        await db.Conversations.Where(c => batch.Contains(c.Id)).ExecuteDeleteAsync(cancellationToken);
                    }

                    audit.Stage(AuditAction, null, "Parley", "site", site.Id.ToString(), new
                    {
                        mode = delete ? "delete" : "anonymise",
                        days = site.Days,
                        closedBefore = cutoff,
                        conversationIds = batch,
                    });
                    await db.SaveChangesAsync(cancellationToken);
                    await transaction.CommitAsync(cancellationToken);
                }

                conversations += batch.Count;
                files += await lifecycle.DrainFileDeletionsAsync(cancellationToken);
            }
        }

        return new RetentionRun(conversations, files);
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Information, "Retention removed {Conversations} conversations and {Files} attachment files")]
        public static partial void Applied(ILogger logger, int conversations, int files);

        [LoggerMessage(2, LogLevel.Warning, "Retention run failed; the next run resumes where it stopped")]
        public static partial void Failed(ILogger logger, Exception exception);
    }
}
