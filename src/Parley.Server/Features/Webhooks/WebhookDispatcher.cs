using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Parley.Data;
using Parley.Server.Features.Integration;
using Parley.Webhooks;

namespace Parley.Server.Features.Webhooks;

/// <summary>
/// Delivers the webhook outbox. Safe on any number of nodes: a worker first claims due rows with a conditional
/// UPDATE (only rows whose lease is free or expired), then sends only what carries its own lease token, and
/// records the outcome only while it still holds the lease. Two nodes therefore never send the same attempt.
/// </summary>
public sealed partial class WebhookDispatcher(
    IServiceScopeFactory scopes,
    IntegrationEventSignal signal,
    IOptions<WebhookOptions> options,
    TimeProvider time,
    Metrics.ParleyMetrics metrics,
    WebhookSubscriptions subscriptions,
    ILogger<WebhookDispatcher> logger) : BackgroundService
{
    private readonly HttpClient _guarded = new(SsrfGuard.CreateHandler(allowPrivate: false)) { Timeout = Timeout.InfiniteTimeSpan };
    private readonly HttpClient _permissive = new(SsrfGuard.CreateHandler(allowPrivate: true)) { Timeout = Timeout.InfiniteTimeSpan };

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var o = options.Value;
        while (!stoppingToken.IsCancellationRequested)
        {
            // Subscribe to the wake-up before looking, so an outbox row written in between is not missed. Events that
            // wrote no outbox row (no endpoint subscribes) do not wake the workers.
            var woken = signal.OutboxWaitAsync(stoppingToken);
            try
            {
                var (claimed, delay) = await ClaimAsync(stoppingToken);
                if (claimed.Count > 0)
                {
                    await Parallel.ForEachAsync(claimed, new ParallelOptions { MaxDegreeOfParallelism = o.MaxConcurrency, CancellationToken = stoppingToken }, DeliverAsync);
                    continue;
                }

                if (delay > TimeSpan.Zero)
                {
                    var idleFrom = time.GetTimestamp();
                    await Task.WhenAny(woken, Task.Delay(delay, time, stoppingToken));

                    // Woken by a commit: let the burst it belongs to finish before looking again.
                    var rest = o.WakeCoalesce - time.GetElapsedTime(idleFrom);
                    if (woken.IsCompleted && rest > TimeSpan.Zero)
                    {
                        await Task.Delay(rest, time, stoppingToken);
                    }
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex)
            {
                LogWorkerFailed(logger, ex);
                await Task.WhenAny(Task.Delay(o.PollInterval, time, stoppingToken));
            }
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        _guarded.Dispose();
        _permissive.Dispose();
    }

    internal sealed record Claimed(WebhookDelivery Delivery, WebhookEndpoint Endpoint, IntegrationEvent Event, Guid Token);

    /// <summary>Claims the deliveries due now; when there are none, how long until the next one may be (one scope).</summary>
    private async Task<(List<Claimed> Claimed, TimeSpan NextDueIn)> ClaimAsync(CancellationToken cancellationToken)
    {
        var o = options.Value;
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ParleyDbContext>();
        var now = time.GetUtcNow().UtcDateTime;
        var ids = await db.WebhookDeliveries.AsNoTracking()
            .Where(d => d.Status == WebhookDeliveryStatus.Pending && d.NextAttemptAt <= now && (d.LeaseUntil == null || d.LeaseUntil < now))
            .OrderBy(d => d.NextAttemptAt).Select(d => d.Id).Take(o.BatchSize).ToListAsync(cancellationToken);
        if (ids.Count == 0)
        {
            return ([], await NextDueInAsync(db, cancellationToken));
        }

        // The lease condition is repeated in the UPDATE itself: on PostgreSQL a concurrent claimer that locked the
        // row first makes this statement re-check the updated row and skip it; SQLite serializes writers.
        var token = Guid.NewGuid();
        var until = now + o.LeaseDuration;
        await db.WebhookDeliveries
            .Where(d => ids.Contains(d.Id) && d.Status == WebhookDeliveryStatus.Pending && (d.LeaseUntil == null || d.LeaseUntil < now))
            .ExecuteUpdateAsync(s => s.SetProperty(d => d.LeaseToken, token).SetProperty(d => d.LeaseUntil, until), cancellationToken);

        var rows = await (
            from d in db.WebhookDeliveries.AsNoTracking()
            join e in db.WebhookEndpoints.AsNoTracking() on d.EndpointId equals e.Id
            join ev in db.IntegrationEvents.AsNoTracking() on d.EventId equals ev.Id
            where d.LeaseToken == token
            select new { d, e, ev }).ToListAsync(cancellationToken);
        return (rows.ConvertAll(r => new Claimed(r.d, r.e, r.ev, token)), TimeSpan.Zero);
    }

    private async Task<TimeSpan> NextDueInAsync(ParleyDbContext db, CancellationToken cancellationToken)
    {
        var next = await db.WebhookDeliveries.AsNoTracking()
            .Where(d => d.Status == WebhookDeliveryStatus.Pending)
            .Select(d => d.LeaseUntil != null && d.LeaseUntil > d.NextAttemptAt ? d.LeaseUntil : (DateTime?)d.NextAttemptAt)
            .MinAsync(cancellationToken);
        var poll = options.Value.PollInterval;
        if (next is null)
        {
            return poll;
        }

        var until = next.Value - time.GetUtcNow().UtcDateTime;
        return until < TimeSpan.Zero ? TimeSpan.FromMilliseconds(10) : until < poll ? until : poll;
    }

    /// <summary>The request body: the Standard Webhooks envelope, identical on every attempt of one event.</summary>
    public static byte[] Body(IntegrationEvent evt)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("id", MessageId(evt.Id));
            json.WriteString("type", evt.Type);
            json.WriteString("timestamp", evt.CreatedAt);
            json.WritePropertyName("data");
            json.WriteRawValue(evt.DataJson);
            json.WriteEndObject();
        }

        return buffer.ToArray();
    }

    public static string MessageId(long eventId) => "evt_" + eventId.ToString(CultureInfo.InvariantCulture);

    private async ValueTask DeliverAsync(Claimed claimed, CancellationToken cancellationToken)
    {
        var o = options.Value;
        var (delivery, endpoint, evt, _) = claimed;
        var body = Body(evt);
        var started = time.GetUtcNow();
        var id = MessageId(evt.Id);
        var timestamp = started.ToUnixTimeSeconds();
        using var request = new HttpRequestMessage(HttpMethod.Post, endpoint.Url) { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new("application/json") { CharSet = "utf-8" };
        request.Headers.Add(WebhookSignature.IdHeader, id);
        request.Headers.Add(WebhookSignature.TimestampHeader, timestamp.ToString(CultureInfo.InvariantCulture));
        request.Headers.Add(WebhookSignature.SignatureHeader, WebhookSignature.Sign(endpoint.Secret, id, timestamp, body));
        request.Headers.UserAgent.ParseAdd("Parley-Webhooks/1");

        var attempt = new WebhookAttempt
        {
            DeliveryId = delivery.Id,
            Number = delivery.Attempts + 1,
            StartedAt = started.UtcDateTime,
            RequestHeaders = $"POST {endpoint.Url}\n{WebhookSignature.IdHeader}: {id}\n{WebhookSignature.TimestampHeader}: {timestamp}\ncontent-type: application/json",
            RequestBody = Truncate(Encoding.UTF8.GetString(body), o.LoggedBodyLimit),
        };

        var stopwatch = Stopwatch.StartNew();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(o.RequestTimeout);
        try
        {
            // Private targets are a server setting only (Parley:Webhooks:AllowPrivateTargets), never an API field.
            var client = o.AllowPrivateTargets ? _permissive : _guarded;
            using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
            attempt.ResponseStatus = (int)response.StatusCode;
            attempt.ResponseBody = request.Options.TryGetValue(SsrfGuard.ConnectedToPrivate, out var internalTarget) && internalTarget
                ? null
                : await ReadLimitedAsync(response.Content, o.LoggedBodyLimit, timeout.Token);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Shutting down: give the claim back so the next worker (or this node after restart) retries at once.
            await ReleaseAsync(claimed);
            return;
        }
        catch (OperationCanceledException)
        {
            attempt.Error = $"Timed out after {o.RequestTimeout.TotalSeconds:0.#} s";
        }
        catch (Exception ex) when (ex is HttpRequestException or TargetForbiddenException or IOException)
        {
            attempt.Error = Truncate(Describe(ex), 1000);
        }

        attempt.DurationMs = (int)stopwatch.ElapsedMilliseconds;
        await RecordAsync(claimed, attempt);
    }

    private static string Describe(Exception ex) => ex switch
    {
        TargetForbiddenException => "target_forbidden: " + ex.Message,
        HttpRequestException { InnerException: TargetForbiddenException inner } => "target_forbidden: " + inner.Message,
        _ => ex.Message,
    };

    private async Task RecordAsync(Claimed claimed, WebhookAttempt attempt)
    {
        var o = options.Value;
        var (delivery, endpoint, _, token) = claimed;
        var now = time.GetUtcNow().UtcDateTime;
        var status = attempt.ResponseStatus;
        var succeeded = status is >= 200 and < 300;
        var gone = status == (int)HttpStatusCode.Gone;
        var number = attempt.Number;
        var exhausted = number > o.Schedule.Length;
        var next = succeeded || gone || exhausted ? now : now + Jittered(o.Schedule[number - 1], o.Jitter);
        var outcome = succeeded ? WebhookDeliveryStatus.Succeeded : gone || exhausted ? WebhookDeliveryStatus.Failed : WebhookDeliveryStatus.Pending;
        var error = attempt.Error ?? (succeeded ? null : $"HTTP {status}");
        metrics.WebhookAttempted(outcome switch
        {
            WebhookDeliveryStatus.Succeeded => "succeeded",
            WebhookDeliveryStatus.Pending => "retry",
            _ => "failed",
        });

        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ParleyDbContext>();
        var updated = await db.WebhookDeliveries
            .Where(d => d.Id == delivery.Id && d.LeaseToken == token)
            .ExecuteUpdateAsync(s => s
                .SetProperty(d => d.Attempts, number)
                .SetProperty(d => d.Status, outcome)
                .SetProperty(d => d.NextAttemptAt, next)
                .SetProperty(d => d.LastStatusCode, status)
                .SetProperty(d => d.LastError, error)
                .SetProperty(d => d.CompletedAt, outcome == WebhookDeliveryStatus.Pending ? null : now)
                .SetProperty(d => d.LeaseToken, (Guid?)null)
                .SetProperty(d => d.LeaseUntil, (DateTime?)null));
        if (updated == 0)
        {
            // The lease expired and another worker took the row; its attempt is the one that counts.
            LogLeaseLost(logger, delivery.Id);
        }

        db.WebhookAttempts.Add(attempt);
        await db.SaveChangesAsync();

        if (succeeded)
        {
            await db.WebhookEndpoints.Where(e => e.Id == endpoint.Id && e.ConsecutiveFailures > 0)
                .ExecuteUpdateAsync(s => s.SetProperty(e => e.ConsecutiveFailures, 0).SetProperty(e => e.FailingSince, (DateTime?)null));
            return;
        }

        LogAttemptFailed(logger, delivery.Id, endpoint.Url, number, error);
        await db.WebhookEndpoints.Where(e => e.Id == endpoint.Id)
            .ExecuteUpdateAsync(s => s
                .SetProperty(e => e.ConsecutiveFailures, e => e.ConsecutiveFailures + 1)
                .SetProperty(e => e.FailingSince, e => e.FailingSince ?? now));
        var current = await db.WebhookEndpoints.AsNoTracking().FirstOrDefaultAsync(e => e.Id == endpoint.Id);
        if (current is { Enabled: true })
        {
            string? reason = gone
                ? "The receiver answered 410 Gone."
                : current.FailingSince is { } since && now - since >= o.DisableAfterFailingFor
                    ? $"Every delivery failed since {since:u} ({current.ConsecutiveFailures} attempts)."
                    : null;
            if (reason is not null)
            {
                if (await WebhookService.DisableAsync(db, current.Id, reason, now, CancellationToken.None))
                {
                    subscriptions.Changed(current.Id);
                    LogDisabled(logger, current.Id, current.Url, reason);
                    metrics.WebhookEndpointDisabled();
                    await scope.ServiceProvider.GetRequiredService<WebhookAdminNotice>().EndpointDisabledAsync(current, reason, now, CancellationToken.None);
                }
            }
        }
    }

    private async Task ReleaseAsync(Claimed claimed)
    {
        try
        {
            await using var scope = scopes.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<ParleyDbContext>();
            await db.WebhookDeliveries.Where(d => d.Id == claimed.Delivery.Id && d.LeaseToken == claimed.Token)
                .ExecuteUpdateAsync(s => s.SetProperty(d => d.LeaseToken, (Guid?)null).SetProperty(d => d.LeaseUntil, (DateTime?)null));
        }
        catch (Exception ex)
        {
            // The lease then simply expires.
            LogWorkerFailed(logger, ex);
        }
    }

    private static TimeSpan Jittered(TimeSpan delay, double jitter) =>
        jitter <= 0 ? delay : delay * (1 + ((Random.Shared.NextDouble() * 2) - 1) * jitter);

    private static async Task<string> ReadLimitedAsync(HttpContent content, int limit, CancellationToken cancellationToken)
    {
        await using var stream = await content.ReadAsStreamAsync(cancellationToken);
        var buffer = new char[limit + 1];
        using var reader = new StreamReader(stream, Encoding.UTF8);
        var read = await reader.ReadBlockAsync(buffer.AsMemory(), cancellationToken);
        return Truncate(new string(buffer, 0, read), limit);
    }

    internal static string Truncate(string value, int limit) => value.Length <= limit ? value : string.Concat(value.AsSpan(0, limit), "…");

    [LoggerMessage(Level = LogLevel.Error, Message = "Webhook worker loop failed; retrying")]
    private static partial void LogWorkerFailed(ILogger logger, Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Webhook delivery {DeliveryId}: lease lost before the outcome was recorded")]
    private static partial void LogLeaseLost(ILogger logger, long deliveryId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Webhook delivery {DeliveryId} to {Url} failed (attempt {Attempt}): {Error}")]
    private static partial void LogAttemptFailed(ILogger logger, long deliveryId, string url, int attempt, string? error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Webhook endpoint {EndpointId} ({Url}) disabled: {Reason}")]
    private static partial void LogDisabled(ILogger logger, Guid endpointId, string url, string reason);
}
