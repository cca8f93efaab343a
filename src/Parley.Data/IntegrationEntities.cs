using Microsoft.EntityFrameworkCore;

namespace Parley.Data;

/// <summary>
/// One entry of the durable integration event log: what webhooks deliver and what gRPC subscribers stream.
/// The id is the resume point (<c>from_event_id</c>) and grows monotonically per node.
/// </summary>
public sealed class IntegrationEvent
{
    public long Id { get; set; }

    /// <summary>Dotted event type, e.g. <c>message.created</c>, <c>conversation.closed</c>, <c>business.order</c>.</summary>
    public required string Type { get; set; }

    public Guid? ConversationId { get; set; }

    public Guid? ContactId { get; set; }

    /// <summary>The event's <c>data</c> object as JSON.</summary>
    public required string DataJson { get; set; }

    public DateTime CreatedAt { get; set; }
}

/// <summary>An outgoing webhook subscription configured by an admin.</summary>
public sealed class WebhookEndpoint
{
    public Guid Id { get; set; }

    public required string Url { get; set; }

    public string? Description { get; set; }

    /// <summary>Standard Webhooks secret: <c>whsec_</c> followed by the base64 key.</summary>
    public required string Secret { get; set; }

    /// <summary>Space-separated event types; <c>*</c> subscribes to every type.</summary>
    public required string EventTypes { get; set; }

    public bool Enabled { get; set; } = true;

    /// <summary>
    /// No longer read (#15): private targets are a server setting only (Parley:Webhooks:AllowPrivateTargets). The column
    /// stays so that older rows load; dropping it is left to a later migration.
    /// </summary>
    public bool AllowPrivateTarget { get; set; }

    /// <summary>Start of the current run of failed attempts; null after a success.</summary>
    public DateTime? FailingSince { get; set; }

    public int ConsecutiveFailures { get; set; }

    public DateTime? DisabledAt { get; set; }

    /// <summary>Why the server disabled the endpoint (the admin notice); null when enabled or disabled by hand.</summary>
    public string? DisabledReason { get; set; }

    public DateTime CreatedAt { get; set; }

    public DateTime UpdatedAt { get; set; }
}

public enum WebhookDeliveryStatus
{
    Pending = 0,
    Succeeded = 1,

    /// <summary>Every scheduled attempt failed, or the receiver answered 410 Gone.</summary>
    Failed = 2,

    /// <summary>The endpoint was disabled or deleted before the delivery succeeded.</summary>
    Cancelled = 3,
}

/// <summary>One event to deliver to one endpoint: the outbox row that the delivery workers claim with a lease.</summary>
public sealed class WebhookDelivery
{
    public long Id { get; set; }

    public Guid EndpointId { get; set; }

    public long EventId { get; set; }

    public IntegrationEvent? Event { get; set; }

    public WebhookDeliveryStatus Status { get; set; }

    public int Attempts { get; set; }

    public DateTime NextAttemptAt { get; set; }

    /// <summary>Set by the worker that claimed the row; only that worker may record the attempt's outcome.</summary>
    public Guid? LeaseToken { get; set; }

    public DateTime? LeaseUntil { get; set; }

    public int? LastStatusCode { get; set; }

    public string? LastError { get; set; }

    public DateTime CreatedAt { get; set; }

    public DateTime? CompletedAt { get; set; }
}

/// <summary>The delivery log: one HTTP attempt with its request and (truncated) response.</summary>
public sealed class WebhookAttempt
{
    public long Id { get; set; }

    public long DeliveryId { get; set; }

    public int Number { get; set; }

    public DateTime StartedAt { get; set; }

    public int DurationMs { get; set; }

    public required string RequestHeaders { get; set; }

    public required string RequestBody { get; set; }

    public int? ResponseStatus { get; set; }

    public string? ResponseBody { get; set; }

    public string? Error { get; set; }
}

/// <summary>A business event (order, customer, ticket, custom) on a contact's timeline.</summary>
public sealed class ContactEvent
{
    public long Id { get; set; }

    public Guid ContactId { get; set; }

    /// <summary>ORDER, CUSTOMER, TICKET or a custom name.</summary>
    public required string EventType { get; set; }

    public required string DataJson { get; set; }

    public DateTime OccurredAt { get; set; }

    public DateTime ReceivedAt { get; set; }

    /// <summary>Who posted it (user or integration key name).</summary>
    public string? Source { get; set; }
}

/// <summary>A stored response to a POST carrying an Idempotency-Key, replayed when the same key comes again.</summary>
public sealed class IdempotencyRecord
{
    /// <summary>The caller (user id or integration key name) the key belongs to.</summary>
    public required string Scope { get; set; }

    public required string Key { get; set; }

    /// <summary>SHA-256 of method, path and body: the same key with a different request is refused.</summary>
    public required string RequestHash { get; set; }

    public int StatusCode { get; set; }

    public string? ContentType { get; set; }

    public required string ResponseBody { get; set; }

    public DateTime CreatedAt { get; set; }
}

/// <summary>Model configuration of the integration tables (called from <see cref="ParleyDbContext"/>).</summary>
internal static class IntegrationModel
{
    public static void Configure(ModelBuilder modelBuilder)
    {
        modelBuilder.Entity<IntegrationEvent>(e =>
        {
            e.Property(x => x.Type).HasMaxLength(100);
            e.HasIndex(x => x.ContactId);
        });

        modelBuilder.Entity<WebhookEndpoint>(e =>
        {
            e.Property(x => x.Url).HasMaxLength(2000);
            e.Property(x => x.Description).HasMaxLength(500);
            e.Property(x => x.Secret).HasMaxLength(128);
            e.Property(x => x.EventTypes).HasMaxLength(2000);
            e.Property(x => x.DisabledReason).HasMaxLength(500);
        });

        modelBuilder.Entity<WebhookDelivery>(e =>
        {
            e.Property(x => x.LastError).HasMaxLength(1000);
            e.HasOne<WebhookEndpoint>().WithMany().HasForeignKey(x => x.EndpointId).OnDelete(DeleteBehavior.Cascade);
            e.HasOne(x => x.Event).WithMany().HasForeignKey(x => x.EventId).OnDelete(DeleteBehavior.Cascade);
            // The workers' scan: due pending rows.
            e.HasIndex(x => new { x.Status, x.NextAttemptAt });
            e.HasIndex(x => new { x.EndpointId, x.Id });
            e.HasIndex(x => x.LeaseToken);
        });

        modelBuilder.Entity<WebhookAttempt>(e =>
        {
            e.Property(x => x.Error).HasMaxLength(1000);
            e.HasOne<WebhookDelivery>().WithMany().HasForeignKey(x => x.DeliveryId).OnDelete(DeleteBehavior.Cascade);
            e.HasIndex(x => new { x.DeliveryId, x.Number });
        });

        modelBuilder.Entity<ContactEvent>(e =>
        {
            e.Property(x => x.EventType).HasMaxLength(64);
            e.Property(x => x.Source).HasMaxLength(200);
            e.HasOne<Contact>().WithMany().HasForeignKey(x => x.ContactId).OnDelete(DeleteBehavior.Cascade);
            e.HasIndex(x => new { x.ContactId, x.OccurredAt });
        });

        modelBuilder.Entity<IdempotencyRecord>(e =>
        {
            e.HasKey(x => new { x.Scope, x.Key });
            e.Property(x => x.Scope).HasMaxLength(200);
            e.Property(x => x.Key).HasMaxLength(200);
            e.Property(x => x.RequestHash).HasMaxLength(64);
            e.Property(x => x.ContentType).HasMaxLength(200);
            e.HasIndex(x => x.CreatedAt);
        });
    }
}
