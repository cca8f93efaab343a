using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Parley.Data;
using Parley.Server.Features.Metrics;
using Parley.Server.Infrastructure;
using Parley.Server.Realtime.Presence;
using Parley.Server.Routing;

namespace Parley.Server.Features.Alerts;

/// <summary>
/// Evaluates the alert rules every <see cref="AlertsOptions.EvaluateSeconds"/> on every node and keeps one
/// <see cref="AlertIncident"/> per firing episode (rule and subject) in the store:
/// <list type="bullet">
/// <item>Node-local rules (error rate, commit latency, disk space) are measured by each node for itself; the subject
/// is the node.</item>
/// <item>One node at a time holds the <c>alerts</c> lease (a conditional UPDATE of <see cref="NodeLease"/>). It
/// evaluates the cluster rules (queue wait, no agent online, webhook endpoint disabled), resolves episodes of nodes
/// that stopped reporting and of disabled rules, and is the only node that sends.</item>
/// <item>Each notice is claimed by a conditional UPDATE of its incident before it is queued, so a notice goes out once
/// per episode (and per reminder interval, and once at recovery) even while a lease changes hands.</item>
/// </list>
/// </summary>
public sealed partial class AlertEvaluator(
    IServiceScopeFactory scopes,
    ParleyMetrics metrics,
    AlertSignals signals,
    AlertSender sender,
    IAgentPresence presence,
    IOptions<AlertsOptions> options,
    TimeProvider time,
    IHostApplicationLifetime lifetime,
    ILogger<AlertEvaluator> logger) : BackgroundService
{
    public const string LeaseName = "alerts";

    /// <summary>The subject of an episode that spans every department.</summary>
    public const string AllDepartments = "all departments";

    /// <summary>This process in the lease table (two servers on one machine, as in tests, are two holders).</summary>
    private readonly string _holder = Truncate($"{Environment.MachineName}/{Environment.ProcessId}/{Guid.NewGuid():N}", 200);

    /// <summary>The subject of this node's own episodes and the server name in notices.</summary>
    public static string NodeName { get; } = Environment.MachineName;

    private bool _failing;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!options.Value.Enabled)
        {
            return;
        }

        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using (lifetime.ApplicationStarted.Register(() => started.TrySetResult()))
        {
            await started.Task.WaitAsync(stoppingToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }

        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(options.Value.EvaluateSeconds), time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                try
                {
                    await RunOnceAsync(metrics.Snapshot, stoppingToken);
                    _failing = false;
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    if (!_failing)
                    {
                        LogEvaluationFailed(logger, ex);
                    }

                    _failing = true;
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>One evaluation over <paramref name="snapshot"/> (tests call it with a snapshot and a fake clock).</summary>
    /// <returns>Whether this node held the lease (and so sent what was due); false also when there was nothing to
    /// evaluate (no enabled rule, no open episode, no recovery to announce), in which case no lease is taken.</returns>
    public async Task<bool> RunOnceAsync(OperationsSnapshot snapshot, CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ParleyDbContext>();
        var now = time.GetUtcNow().UtcDateTime;
        var o = options.Value;
        var rules = await db.AlertRules.AsNoTracking().OrderBy(r => r.CreatedAt).ToListAsync(cancellationToken);
        if (!rules.Exists(r => r.Enabled)
            && !await db.AlertIncidents.AnyAsync(i => i.OpenKey != null || (i.ResolvedAt != null && i.NotifiedAt != null && i.RecoveryNotifiedAt == null), cancellationToken))
        {
            // No rule to evaluate and no episode to end or announce: nothing for a leader to do, so no lease is taken
            // (a write on every tick of every node of a server that has no alerting set up).
            return false;
        }

        var leader = await NodeLeases.TryHoldAsync(db, LeaseName, _holder, now, TimeSpan.FromSeconds(o.LeaseSeconds), cancellationToken);

        foreach (var rule in rules.Where(r => r.Enabled && AlertRuleKinds.Find(r.Kind) is { NodeLocal: true }))
        {
            var firing = new Dictionary<string, (double Value, string? Detail)>();
            if (ObserveLocal(rule, snapshot) is { } value)
            {
                firing[NodeName] = (value, null);
            }

            await ApplyAsync(db, rule, firing, subject => subject == NodeName, now, cancellationToken);
        }

        if (!leader)
        {
            return false;
        }

        foreach (var rule in rules.Where(r => r.Enabled && AlertRuleKinds.Find(r.Kind) is { NodeLocal: false }))
        {
            var firing = await ObserveClusterAsync(db, rule, snapshot, now, cancellationToken);
            await ApplyAsync(db, rule, firing, _ => true, now, cancellationToken);
        }

        // Episodes nobody keeps alive: a rule switched off, a node that stopped (its own rules can no longer end them).
        var stale = now - TimeSpan.FromSeconds(Math.Max(60, 3 * o.EvaluateSeconds));
        var enabled = rules.Where(r => r.Enabled).Select(r => r.Id).ToList();
        var local = rules.Where(r => AlertRuleKinds.Find(r.Kind) is { NodeLocal: true }).Select(r => r.Id).ToList();
        await db.AlertIncidents
            .Where(i => i.OpenKey != null && (!enabled.Contains(i.RuleId) || (local.Contains(i.RuleId) && i.LastSeenAt < stale)))
            .ExecuteUpdateAsync(s => s.SetProperty(i => i.OpenKey, (string?)null).SetProperty(i => i.ResolvedAt, now), cancellationToken);

        await NotifyAsync(db, rules, now, cancellationToken);
        return true;
    }

    /// <summary>Opens, refreshes and resolves the rule's episodes for the subjects in scope.</summary>
    private static async Task ApplyAsync(ParleyDbContext db, AlertRule rule, Dictionary<string, (double Value, string? Detail)> firing, Func<string, bool> inScope, DateTime now, CancellationToken cancellationToken)
    {
        var open = await db.AlertIncidents.Where(i => i.RuleId == rule.Id && i.OpenKey != null).ToListAsync(cancellationToken);
        foreach (var (subject, (value, detail)) in firing)
        {
            if (open.FirstOrDefault(i => i.Subject == subject) is { } incident)
            {
                incident.Value = value;
                incident.Detail = detail;
                incident.LastSeenAt = now;
            }
            else
            {
                db.AlertIncidents.Add(new AlertIncident
                {
                    RuleId = rule.Id,
                    Subject = Truncate(subject, 300),
                    OpenKey = OpenKey(rule.Id, subject),
                    Value = value,
                    Detail = detail is null ? null : Truncate(detail, 1000),
                    StartedAt = now,
                    LastSeenAt = now,
                });
            }
        }

        foreach (var incident in open.Where(i => inScope(i.Subject) && !firing.ContainsKey(i.Subject)))
        {
            incident.OpenKey = null;
            incident.ResolvedAt = now;
        }

        try
        {
            await db.SaveChangesAsync(cancellationToken);
        }
        catch (DbUpdateException)
        {
            // Another node opened the same episode at the same moment (the unique OpenKey); the next tick sees it.
            db.ChangeTracker.Clear();
        }
    }

    /// <summary>Queues what is due: a new episode, a reminder, a recovery. Each is claimed first (one node sends it).</summary>
    private async Task NotifyAsync(ParleyDbContext db, List<AlertRule> rules, DateTime now, CancellationToken cancellationToken)
    {
        var channels = await db.AlertChannels.AsNoTracking().Where(c => c.Enabled).ToListAsync(cancellationToken);
        if (channels.Count == 0)
        {
            return; // episodes stay "not notified": a channel added later hears of those still open
        }

        var due = await db.AlertIncidents.AsNoTracking()
            .Where(i => i.OpenKey != null || (i.ResolvedAt != null && i.RecoveryNotifiedAt == null))
            .OrderBy(i => i.Id).Take(500).ToListAsync(cancellationToken);
        var byId = rules.ToDictionary(r => r.Id);
        foreach (var incident in due)
        {
            if (!byId.TryGetValue(incident.RuleId, out var rule))
            {
                continue;
            }

            NoticeState state;
            DateTime at = now;
            if (incident.OpenKey is not null)
            {
                if (incident.NotifiedAt is null)
                {
                    state = NoticeState.Firing;
                }
                else if (rule.RenotifyMinutes > 0 && now - incident.NotifiedAt.Value >= TimeSpan.FromMinutes(rule.RenotifyMinutes))
                {
                    state = NoticeState.Reminder;
                }
                else
                {
                    continue;
                }

                var notices = incident.Notices;
                if (await db.AlertIncidents.Where(i => i.Id == incident.Id && i.Notices == notices && i.OpenKey != null)
                        .ExecuteUpdateAsync(s => s.SetProperty(i => i.NotifiedAt, now).SetProperty(i => i.Notices, notices + 1), cancellationToken) != 1)
                {
                    continue;
                }
            }
            else
            {
                // An episode nobody was told about ends silently; there is nothing to recover from.
                var told = incident.NotifiedAt is not null;
                if (await db.AlertIncidents.Where(i => i.Id == incident.Id && i.RecoveryNotifiedAt == null)
                        .ExecuteUpdateAsync(s => s.SetProperty(i => i.RecoveryNotifiedAt, now), cancellationToken) != 1 || !told)
                {
                    continue;
                }

                state = NoticeState.Resolved;
                at = incident.ResolvedAt!.Value;
            }

            var notice = new AlertNotice(state, rule.Kind, incident.Subject, incident.Value, rule.Threshold, incident.Detail, incident.StartedAt, at, incident.Id, NodeName);
            LogNotice(logger, notice.StateName, rule.Kind, incident.Subject, channels.Count);
            foreach (var channel in channels)
            {
                sender.Enqueue(channel, notice);
            }
        }
    }

    /// <summary>A node-local rule's value when it fires on this node, else null.</summary>
    private double? ObserveLocal(AlertRule rule, OperationsSnapshot snapshot)
    {
        switch (rule.Kind)
        {
            case "error_rate":
                var (requests, errors) = signals.Requests();
                if (requests < options.Value.MinRequests)
                {
                    return null;
                }

                var rate = (double)errors / requests;
                return rate > rule.Threshold ? rate : null;
            case "commit_latency":
                return signals.CommitP99() is { } p99 && p99 > rule.Threshold ? p99 : null;
            case "disk_space":
                var free = snapshot.DataDirectoryFreeBytes;
                var megabytes = free / 1024d / 1024d;
                return free >= 0 && megabytes < rule.Threshold ? Math.Floor(megabytes) : null;
            default:
                return null;
        }
    }

    /// <summary>Subjects for which a cluster rule fires now, with the value and any detail.</summary>
    private async Task<Dictionary<string, (double Value, string? Detail)>> ObserveClusterAsync(ParleyDbContext db, AlertRule rule, OperationsSnapshot snapshot, DateTime now, CancellationToken cancellationToken)
    {
        var firing = new Dictionary<string, (double Value, string? Detail)>();
        switch (rule.Kind)
        {
            case "queue_wait":
                {
                    string? department = rule.TeamId is { } teamId
                        ? await db.Teams.AsNoTracking().Where(t => t.Id == teamId).Select(t => t.Name).FirstOrDefaultAsync(cancellationToken)
                        : null;
                    foreach (var queue in snapshot.Queues.Where(q => department is null || q.Department == department))
                    {
                        if (queue.Depth > 0 && queue.OldestWaitSeconds > rule.Threshold)
                        {
                            firing[queue.Department] = (Math.Round(queue.OldestWaitSeconds), null);
                        }
                    }

                    break;
                }

            case "no_agent_online":
                {
                    var present = await presence.GetPresentAsync(cancellationToken);
                    var online = present.Where(p => p.Value == AgentStatus.Online).Select(p => p.Key).ToHashSet();
                    var instant = new DateTimeOffset(now, TimeSpan.Zero);
                    var teams = await db.Teams.AsNoTracking()
                        .Where(t => rule.TeamId == null || t.Id == rule.TeamId)
                        .Select(t => new { t.Id, t.Name, t.TimeZone, t.HoursJson }).ToListAsync(cancellationToken);
                    if (rule.TeamId is { } teamId)
                    {
                        if (teams.FirstOrDefault() is { } team && BusinessHours.FromStored(team.TimeZone, team.HoursJson).IsOpen(instant))
                        {
                            var members = await db.TeamMembers.AsNoTracking().Where(m => m.TeamId == teamId).Select(m => m.UserId).ToListAsync(cancellationToken);
                            if (!members.Any(online.Contains))
                            {
                                firing[team.Name] = (0, null);
                            }
                        }
                    }
                    else if (online.Count == 0 && (teams.Count == 0 || teams.Any(t => BusinessHours.FromStored(t.TimeZone, t.HoursJson).IsOpen(instant))))
                    {
                        firing[AllDepartments] = (0, null);
                    }

                    break;
                }

            case "webhook_disabled":
                {
                    var disabled = await db.WebhookEndpoints.AsNoTracking()
                        .Where(e => !e.Enabled && e.DisabledReason != null)
                        .Select(e => new { e.Id, e.Url, e.Description, e.DisabledReason }).ToListAsync(cancellationToken);
                    foreach (var endpoint in disabled)
                    {
                        // The URL's host only: a path or query may carry a receiver's token.
                        var name = endpoint.Description is { Length: > 0 } d ? d : Uri.TryCreate(endpoint.Url, UriKind.Absolute, out var uri) ? uri.Host : "webhook";
                        firing[$"{name} ({endpoint.Id.ToString()[..8]})"] = (0, endpoint.DisabledReason);
                    }

                    break;
                }
        }

        return firing;
    }

    private static string OpenKey(Guid rule, string subject) => Truncate($"{rule:N}/{subject}", 340);

    private static string Truncate(string value, int max) => value.Length <= max ? value : value[..max];

    [LoggerMessage(Level = LogLevel.Warning, Message = "Evaluating alert rules failed; retrying on the next tick")]
    private static partial void LogEvaluationFailed(ILogger logger, Exception exception);

    [LoggerMessage(Level = LogLevel.Information, Message = "Alert {State}: {Rule} for {Subject} to {Channels} channel(s)")]
    private static partial void LogNotice(ILogger logger, string state, string rule, string subject, int channels);
}
