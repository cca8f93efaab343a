using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Parley.Data;
using Parley.Server.Features.Integration;
using Parley.Server.Infrastructure;
using Parley.Webhooks;

namespace Parley.Server.Features.Webhooks;

public sealed record WebhookEndpointDto(
    Guid Id, string Url, string? Description, IReadOnlyList<string> EventTypes, bool Enabled, string Secret,
    int ConsecutiveFailures, DateTime? FailingSince, DateTime? DisabledAt, string? DisabledReason, DateTime CreatedAt, DateTime UpdatedAt)
{
    public static WebhookEndpointDto From(WebhookEndpoint e) => new(
        e.Id, e.Url, e.Description, e.EventTypes.Split(' ', StringSplitOptions.RemoveEmptyEntries), e.Enabled, e.Secret,
        e.ConsecutiveFailures, e.FailingSince, e.DisabledAt, e.DisabledReason, e.CreatedAt, e.UpdatedAt);
}

public sealed record CreateWebhookRequest(string? Url, IReadOnlyList<string>? EventTypes, string? Description = null, bool Enabled = true);

public sealed record UpdateWebhookRequest(string? Url = null, IReadOnlyList<string>? EventTypes = null, string? Description = null, bool? Enabled = null);

public sealed record WebhookDeliveryDto(
    long Id, Guid EndpointId, long EventId, string EventType, string Status, int Attempts, DateTime NextAttemptAt, int? LastStatusCode,
    string? LastError, DateTime CreatedAt, DateTime? CompletedAt, IReadOnlyList<WebhookAttemptDto>? Log = null);

public sealed record WebhookAttemptDto(
    int Number, DateTime StartedAt, int DurationMs, string RequestHeaders, string RequestBody, int? ResponseStatus, string? ResponseBody, string? Error);

/// <summary>Admin operations on webhook endpoints and their delivery log.</summary>
public sealed class WebhookService(ParleyDbContext db, IOptions<WebhookOptions> options, IntegrationEventSignal signal, WebhookSubscriptions subscriptions, Access.AuditLog audit, TimeProvider time)
{
    public async Task<List<WebhookEndpointDto>> ListAsync(CancellationToken cancellationToken) =>
        (await db.WebhookEndpoints.AsNoTracking().OrderBy(e => e.CreatedAt).ToListAsync(cancellationToken)).ConvertAll(WebhookEndpointDto.From);

    public async Task<WebhookEndpointDto> GetAsync(Guid id, CancellationToken cancellationToken) =>
        WebhookEndpointDto.From(await FindAsync(id, cancellationToken));

    public async Task<WebhookEndpointDto> CreateAsync(CreateWebhookRequest request, CancellationToken cancellationToken)
    {
        var url = await ValidateUrlAsync(request.Url, cancellationToken);
        var now = time.GetUtcNow().UtcDateTime;
        var endpoint = new WebhookEndpoint
        {
            Id = Guid.CreateVersion7(),
            Url = url,
            Description = request.Description?.Trim(),
            Secret = WebhookSignature.NewSecret(),
            EventTypes = EventTypes(request.EventTypes),
            Enabled = request.Enabled,
            CreatedAt = now,
            UpdatedAt = now,
        };
        db.WebhookEndpoints.Add(endpoint);
        audit.StageByCaller("webhook.created", "webhook", endpoint.Id.ToString(), Access.AuditLog.Change(null, Snapshot(endpoint)));
        await db.SaveChangesAsync(cancellationToken);
        subscriptions.Changed(endpoint.Id);
        return WebhookEndpointDto.From(endpoint);
    }

    public async Task<WebhookEndpointDto> UpdateAsync(Guid id, UpdateWebhookRequest request, CancellationToken cancellationToken)
    {
        var endpoint = await db.WebhookEndpoints.FirstOrDefaultAsync(e => e.Id == id, cancellationToken) ?? throw new ParleyException(ErrorCatalogue.WebhookNotFound);
        var before = Snapshot(endpoint);
        if (request.Url is not null)
        {
            endpoint.Url = await ValidateUrlAsync(request.Url, cancellationToken);
        }

        if (request.EventTypes is not null)
        {
            endpoint.EventTypes = EventTypes(request.EventTypes);
        }

        if (request.Description is not null)
        {
            endpoint.Description = request.Description.Trim();
        }

        var now = time.GetUtcNow().UtcDateTime;
        if (request.Enabled is { } enabled && enabled != endpoint.Enabled)
        {
            endpoint.Enabled = enabled;
            endpoint.DisabledAt = enabled ? null : now;
            endpoint.DisabledReason = null;
            endpoint.ConsecutiveFailures = 0;
            endpoint.FailingSince = null;
        }

        endpoint.UpdatedAt = now;
        audit.StageByCaller("webhook.updated", "webhook", endpoint.Id.ToString(), Access.AuditLog.Change(before, Snapshot(endpoint)));
        await db.SaveChangesAsync(cancellationToken);
        subscriptions.Changed(endpoint.Id);
        if (!endpoint.Enabled)
        {
            await CancelPendingAsync(db, endpoint.Id, now, cancellationToken);
        }

        return WebhookEndpointDto.From(endpoint);
    }

    public async Task<WebhookEndpointDto> RotateSecretAsync(Guid id, CancellationToken cancellationToken)
    {
        var endpoint = await db.WebhookEndpoints.FirstOrDefaultAsync(e => e.Id == id, cancellationToken) ?? throw new ParleyException(ErrorCatalogue.WebhookNotFound);
        endpoint.Secret = WebhookSignature.NewSecret();
        endpoint.UpdatedAt = time.GetUtcNow().UtcDateTime;
        audit.StageByCaller("webhook.secret_rotated", "webhook", endpoint.Id.ToString(), null);
        await db.SaveChangesAsync(cancellationToken);
        return WebhookEndpointDto.From(endpoint);
    }

    public async Task DeleteAsync(Guid id, CancellationToken cancellationToken)
    {
        var endpoint = await FindAsync(id, cancellationToken);
        if (await db.WebhookEndpoints.Where(e => e.Id == id).ExecuteDeleteAsync(cancellationToken) == 0)
        {
            throw new ParleyException(ErrorCatalogue.WebhookNotFound);
        }

        subscriptions.Changed(id);
        await audit.RecordByCallerAsync("webhook.deleted", "webhook", id.ToString(), Access.AuditLog.Change(Snapshot(endpoint), null), cancellationToken);
    }

    public async Task<(List<WebhookDeliveryDto> Items, string? NextCursor)> DeliveriesAsync(Guid id, string? cursor, int limit, CancellationToken cancellationToken)
    {
        await FindAsync(id, cancellationToken);
        var page = CursorPage.Limit(limit);
        var query = from d in db.WebhookDeliveries.AsNoTracking()
                    join ev in db.IntegrationEvents on d.EventId equals ev.Id
                    where d.EndpointId == id
                    select new { d, ev.Type };
        if (CursorPage.Decode<long>(cursor) is { } before)
        {
            query = query.Where(x => x.d.Id < before);
        }

        var rows = await query.OrderByDescending(x => x.d.Id).Take(page + 1).ToListAsync(cancellationToken);
        var items = rows.Take(page).Select(x => ToDto(x.d, x.Type, null)).ToList();
        return (items, rows.Count > page ? CursorPage.Encode(items[^1].Id) : null);
    }

    public async Task<WebhookDeliveryDto> DeliveryAsync(Guid endpointId, long deliveryId, CancellationToken cancellationToken)
    {
        var row = await (from d in db.WebhookDeliveries.AsNoTracking()
                         join ev in db.IntegrationEvents on d.EventId equals ev.Id
                         where d.EndpointId == endpointId && d.Id == deliveryId
                         select new { d, ev.Type }).FirstOrDefaultAsync(cancellationToken) ?? throw new ParleyException(ErrorCatalogue.DeliveryNotFound);
        var log = await db.WebhookAttempts.AsNoTracking().Where(a => a.DeliveryId == deliveryId).OrderBy(a => a.Number).ToListAsync(cancellationToken);
        return ToDto(row.d, row.Type, log.ConvertAll(a => new WebhookAttemptDto(a.Number, a.StartedAt, a.DurationMs, a.RequestHeaders, a.RequestBody, a.ResponseStatus, a.ResponseBody, a.Error)));
    }

    /// <summary>Queues the delivery's event again for the endpoint, as a new delivery that starts at once.</summary>
    public async Task<WebhookDeliveryDto> RedeliverAsync(Guid endpointId, long deliveryId, CancellationToken cancellationToken)
    {
        var original = await db.WebhookDeliveries.AsNoTracking().FirstOrDefaultAsync(d => d.EndpointId == endpointId && d.Id == deliveryId, cancellationToken)
            ?? throw new ParleyException(ErrorCatalogue.DeliveryNotFound);
        var endpoint = await FindAsync(endpointId, cancellationToken);
        if (!endpoint.Enabled)
        {
            throw new ParleyException(ErrorCatalogue.WebhookDisabled, "Enable the endpoint before redelivering.");
        }

        var now = time.GetUtcNow().UtcDateTime;
        var delivery = new WebhookDelivery { EndpointId = endpointId, EventId = original.EventId, Status = WebhookDeliveryStatus.Pending, NextAttemptAt = now, CreatedAt = now };
        db.WebhookDeliveries.Add(delivery);
        audit.StageByCaller("webhook.redelivered", "webhook", endpointId.ToString(), new { deliveryId, eventId = original.EventId });
        await db.SaveChangesAsync(cancellationToken);
        signal.NotifyOutbox(); // a new outbox row, no new event: gRPC streams have nothing to read
        var type = await db.IntegrationEvents.Where(e => e.Id == original.EventId).Select(e => e.Type).FirstAsync(cancellationToken);
        return ToDto(delivery, type, null);
    }

    /// <summary>
    /// Disables an endpoint with the reason admins see, and cancels what it still had pending. True when this call
    /// disabled it (of two nodes disabling the same endpoint, one does).
    /// </summary>
    internal static async Task<bool> DisableAsync(ParleyDbContext db, Guid id, string reason, DateTime now, CancellationToken cancellationToken)
    {
        var changed = await db.WebhookEndpoints.Where(e => e.Id == id && e.Enabled)
            .ExecuteUpdateAsync(s => s.SetProperty(e => e.Enabled, false).SetProperty(e => e.DisabledAt, now).SetProperty(e => e.DisabledReason, reason).SetProperty(e => e.UpdatedAt, now), cancellationToken);
        await CancelPendingAsync(db, id, now, cancellationToken);
        return changed == 1;
    }

    private static Task<int> CancelPendingAsync(ParleyDbContext db, Guid id, DateTime now, CancellationToken cancellationToken) =>
        db.WebhookDeliveries.Where(d => d.EndpointId == id && d.Status == WebhookDeliveryStatus.Pending)
            .ExecuteUpdateAsync(s => s.SetProperty(d => d.Status, WebhookDeliveryStatus.Cancelled).SetProperty(d => d.CompletedAt, now), cancellationToken);

    private async Task<WebhookEndpoint> FindAsync(Guid id, CancellationToken cancellationToken) =>
        await db.WebhookEndpoints.AsNoTracking().FirstOrDefaultAsync(e => e.Id == id, cancellationToken) ?? throw new ParleyException(ErrorCatalogue.WebhookNotFound);

    /// <summary>What the audit log keeps of an endpoint: never its signing secret.</summary>
    private static object Snapshot(WebhookEndpoint e) => new { e.Url, e.Description, e.EventTypes, e.Enabled };

    private static WebhookDeliveryDto ToDto(WebhookDelivery d, string type, IReadOnlyList<WebhookAttemptDto>? log) => new(
        d.Id, d.EndpointId, d.EventId, type, d.Status.ToString().ToLowerInvariant(), d.Attempts, d.NextAttemptAt, d.LastStatusCode, d.LastError, d.CreatedAt, d.CompletedAt, log);

    private static string EventTypes(IReadOnlyList<string>? types)
    {
        if (types is null || types.Count == 0)
        {
            throw new ParleyException(ErrorCatalogue.WebhookEventTypesRequired, "Name at least one event type (or \"*\" for all).");
        }

        foreach (var type in types)
        {
            if (string.IsNullOrWhiteSpace(type) || type.Length > 100 || type.Any(char.IsWhiteSpace))
            {
                throw new ParleyException(ErrorCatalogue.WebhookEventTypeInvalid, $"'{type}' is not an event type.");
            }
        }

        return string.Join(' ', types.Distinct(StringComparer.OrdinalIgnoreCase));
    }

    /// <summary>Absolute http(s) URL whose host does not resolve to a forbidden address (unless allowed).</summary>
    private async Task<string> ValidateUrlAsync(string? value, CancellationToken cancellationToken)
    {
        if (!Uri.TryCreate(value?.Trim(), UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttps && uri.Scheme != Uri.UriSchemeHttp) || !string.IsNullOrEmpty(uri.UserInfo))
        {
            throw new ParleyException(ErrorCatalogue.WebhookUrlInvalid, "The URL must be an absolute http or https URL without credentials.");
        }

        if (uri.AbsoluteUri.Length > 2000)
        {
            throw new ParleyException(ErrorCatalogue.WebhookUrlInvalid, "The URL is longer than 2000 characters.");
        }

        try
        {
            await SsrfGuard.ResolveAsync(uri.IdnHost, options.Value.AllowPrivateTargets, cancellationToken);
        }
        catch (TargetForbiddenException ex)
        {
            throw new ParleyException(ErrorCatalogue.WebhookTargetForbidden, ex.Message);
        }
        catch (System.Net.Sockets.SocketException)
        {
            // Not resolvable now (a host not yet in DNS): deliveries will retry and log the failure.
        }

        return uri.AbsoluteUri;
    }
}
