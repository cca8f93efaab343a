using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using System.Threading.Channels;
using Microsoft.EntityFrameworkCore;
using Parley.Data;
using Parley.Server.Data;
using Parley.Server.Events;
using Parley.Server.Features.Ai;
using Parley.Server.Features.Csat;
using Parley.Server.Realtime;

namespace Parley.Server.Features.Reports;

/// <summary>
/// Copies a conversation's lifecycle (department, assignee, close, abandonment, rating, intent) into its
/// <see cref="ConversationFacts"/> row after each change. Listeners only queue the id; a background loop reads the
/// changed conversations in batches and upserts their facts, so nothing here runs on the message path. The message
/// counters are the group commit's (in its transaction); this loop never touches them.
/// </summary>
/// <remarks>
/// It reads the conversation row as it stands, so it is idempotent and a change it misses (a crash before the flush)
/// is repaired by the conversation's next change. "First" times are only ever filled, never moved.
/// </remarks>
public sealed partial class ConversationFactsRefresher(IServiceScopeFactory scopes, TimeProvider time, ILogger<ConversationFactsRefresher> logger)
    : BackgroundService, IDomainEventListener<ConversationChanged>, IDomainEventListener<ConversationRated>
{
    private const int BatchSize = 200;

    // Visitor messages read for the intent at close: the intent is the first that is more than a greeting.
    private const int IntentWindow = 10;

    private readonly Channel<Guid> _changed = Channel.CreateUnbounded<Guid>(new UnboundedChannelOptions { SingleReader = true });
    private readonly ConcurrentDictionary<Guid, byte> _pending = new();
    private long _flushed;

    /// <summary>How many refreshes have been written (tests wait on it).</summary>
    public long Flushed => Interlocked.Read(ref _flushed);

    /// <summary>Conversations queued and not yet written.</summary>
    public int Pending => _pending.Count;

    public void Handle(ConversationChanged domainEvent) => Enqueue(domainEvent.Conversation.Id);

    public void Handle(ConversationRated domainEvent) => Enqueue(domainEvent.Rating.ConversationId);

    public void Enqueue(Guid conversationId)
    {
        if (_pending.TryAdd(conversationId, 0))
        {
            _changed.Writer.TryWrite(conversationId);
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var batch = new List<Guid>(BatchSize);
        while (await _changed.Reader.WaitToReadAsync(stoppingToken))
        {
            while (batch.Count < BatchSize && _changed.Reader.TryRead(out var id))
            {
                _pending.TryRemove(id, out _);
                batch.Add(id);
            }

            try
            {
                await RefreshAsync(batch, stoppingToken);
                Interlocked.Add(ref _flushed, batch.Count);
            }
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
            {
                LogRefreshFailed(logger, ex, batch.Count);
            }

            batch.Clear();
        }
    }

    /// <summary>Reads the conversations and upserts their facts.</summary>
    public async Task RefreshAsync(IReadOnlyCollection<Guid> ids, CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ParleyDbContext>();
        var dialect = scope.ServiceProvider.GetRequiredService<SqlDialect>();
        var rows = await (from c in db.Conversations.AsNoTracking()
                          where ids.Contains(c.Id)
                          join r in db.ConversationRatings on c.Id equals r.ConversationId into ratings
                          from r in ratings.DefaultIfEmpty()
                          join f in db.ConversationFacts on c.Id equals f.ConversationId into facts
                          from f in facts.DefaultIfEmpty()
                          select new Row(c, r == null ? null : r.Score, f == null ? null : f.Intent, f == null ? null : f.ClosedAt)).ToListAsync(cancellationToken);
        if (rows.Count == 0)
        {
            return;
        }

        var engines = scope.ServiceProvider.GetService<AiService>()?.Engines;
        var now = time.GetUtcNow().UtcDateTime;
        var connection = dialect.CreateConnection();
        await using (connection)
        {
            await connection.OpenAsync(cancellationToken);
            await dialect.InitializeConnectionAsync(connection, cancellationToken);
            await using var tx = await connection.BeginTransactionAsync(cancellationToken);
            await using var cmd = connection.CreateCommand();
            cmd.Transaction = tx;
            var sql = new StringBuilder();

            // The group commit locks a conversation row before it upserts that conversation's facts row. Inserting a
            // facts row checks its foreign key, which waits for that conversation row: without taking the
            // conversation rows first, in the same order (the same helper the group commit locks with), this upsert
            // and a commit deadlock on PostgreSQL (each holding what the other waits for). SQLite has one writer and
            // needs no row locks.
            if (dialect.LocksRows)
            {
                dialect.SelectConversationsForUpdate(cmd, rows.Select(r => r.Conversation.Id).ToList());
                await using (var reader = await cmd.ExecuteReaderAsync(cancellationToken))
                {
                    while (await reader.ReadAsync(cancellationToken))
                    {
                    }
                }

                cmd.Parameters.Clear();
            }

            var dirty = new SortedSet<DateTime>();
            for (var i = 0; i < rows.Count; i++)
            {
                var (c, score, knownIntent, wasClosedAt) = rows[i];
                var closed = c.Status == ConversationStatus.Closed;
                var intent = knownIntent;
                if (closed && intent is null && engines is not null)
                {
                    var texts = await VisitorTexts.OldestAsync(db, c.Id, IntentWindow, cancellationToken);
                    intent = engines.ConversationIntent(texts.Select(t => engines.Analyzer.Analyze(t)))?.Intent;
                }

                sql.Append(CultureInfo.InvariantCulture, $"""
                    INSERT INTO "ConversationFacts" ("ConversationId", "SiteId", "TeamId", "AssigneeId", "CreatedAt", "FirstQueuedAt", "FirstAssignedAt",
                        "ClosedAt", "MessagesIn", "MessagesOut", "BotMessages", "BotStarted", "HandedOff", "Abandoned", "CsatScore", "Intent", "UpdatedAt")
                    VALUES (@id{i}, @s{i}, @t{i}, @a{i}, @c{i}, @q{i}, @g{i}, @x{i}, 0, 0, 0, @b{i}, @h{i}, @ab{i}, @r{i}, @n{i}, @u{i})
                    ON CONFLICT ("ConversationId") DO UPDATE SET
                        "TeamId" = excluded."TeamId",
                        "AssigneeId" = COALESCE(excluded."AssigneeId", "ConversationFacts"."AssigneeId"),
                        "FirstQueuedAt" = COALESCE("ConversationFacts"."FirstQueuedAt", @rq{i},
                            CASE WHEN "ConversationFacts"."BotStarted" OR excluded."BotStarted" THEN NULL ELSE "ConversationFacts"."CreatedAt" END),
                        "FirstAssignedAt" = COALESCE("ConversationFacts"."FirstAssignedAt", excluded."FirstAssignedAt"),
                        "ClosedAt" = excluded."ClosedAt",
                        "Abandoned" = excluded."Abandoned",
                        "HandedOff" = "ConversationFacts"."HandedOff" OR ("ConversationFacts"."BotStarted" AND @p{i}),
                        "BotStarted" = "ConversationFacts"."BotStarted" OR excluded."BotStarted",
                        "CsatScore" = COALESCE(excluded."CsatScore", "ConversationFacts"."CsatScore"),
                        "Intent" = COALESCE(excluded."Intent", "ConversationFacts"."Intent"),
                        "UpdatedAt" = excluded."UpdatedAt";
                    """);
                // A person is involved once the bot let go or someone took the conversation from it.
                var personInvolved = !c.BotActive || c.AssigneeId is not null;
                dialect.Add(cmd, $"@id{i}", c.Id);
                dialect.Add(cmd, $"@s{i}", c.SiteId);
                dialect.Add(cmd, $"@t{i}", c.TeamId);
                dialect.Add(cmd, $"@a{i}", c.AssigneeId);
                dialect.Add(cmd, $"@c{i}", c.CreatedAt);
                dialect.Add(cmd, $"@q{i}", c.QueuedAt ?? (c.BotActive ? null : c.CreatedAt));
                dialect.Add(cmd, $"@rq{i}", c.QueuedAt);
                dialect.Add(cmd, $"@g{i}", c.AssignedAt);
                dialect.Add(cmd, $"@x{i}", closed ? c.ClosedAt : null);
                dialect.Add(cmd, $"@b{i}", c.BotActive);
                dialect.Add(cmd, $"@h{i}", c.BotActive && c.AssigneeId is not null);
                dialect.Add(cmd, $"@p{i}", personInvolved);
                dialect.Add(cmd, $"@ab{i}", closed && c.WaitingSince is not null);
                dialect.Add(cmd, $"@r{i}", score);
                dialect.Add(cmd, $"@n{i}", intent);
                dialect.Add(cmd, $"@u{i}", now);

                // The hourly rollups hold closed conversations: a change to one that is or was closed makes its
                // creation hour and its closing hours (the new one, and the old one when it was reopened) stale.
                if (closed || wasClosedAt is not null)
                {
                    dirty.Add(ReportRollupMaterialiser.HourOf(c.CreatedAt));
                    if (closed && c.ClosedAt is { } closedAt)
                    {
                        dirty.Add(ReportRollupMaterialiser.HourOf(closedAt));
                    }

                    if (wasClosedAt is { } before)
                    {
                        dirty.Add(ReportRollupMaterialiser.HourOf(before));
                    }
                }
            }

            // Marked in the same transaction as the facts, in hour order (two nodes' refreshers lock them alike).
            var h = 0;
            foreach (var hour in dirty)
            {
                sql.Append(ReportRollupMaterialiser.MarkSql("@dh" + h.ToString(CultureInfo.InvariantCulture)));
                dialect.Add(cmd, $"@dh{h}", hour);
                h++;
            }

            cmd.CommandText = sql.ToString();
            await cmd.ExecuteNonQueryAsync(cancellationToken);
            await tx.CommitAsync(cancellationToken);
        }
    }

    private sealed record Row(Conversation Conversation, int? Score, string? Intent, DateTime? ClosedAt);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Refreshing the report facts of {Count} conversations failed; their next change repairs them")]
    private static partial void LogRefreshFailed(ILogger logger, Exception exception, int count);
}
