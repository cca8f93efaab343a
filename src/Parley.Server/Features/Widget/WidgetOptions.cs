using System.ComponentModel.DataAnnotations;

namespace Parley.Server.Features.Widget;

public sealed class WidgetOptions
{
    public const string Section = "Parley:Widget";

    /// <summary>How long a visitor token stays valid; the widget renews it on every visit.</summary>
    [Range(1, 3650)]
    public int VisitorTokenDays { get; set; } = 365;

    /// <summary>Sustained messages per second one visitor connection may send.</summary>
    [Range(0.01, 100_000)]
    public double SendPerSecond { get; set; } = 2;

    /// <summary>Burst of messages a visitor connection may send at once.</summary>
    [Range(1, 100_000)]
    public int SendBurst { get; set; } = 20;

    /// <summary>
    /// Messages one visitor (contact) may send per <see cref="SendPerVisitorWindowSeconds"/> across all their
    /// connections (cluster-wide with Redis): the per-connection limit alone multiplies with every tab a client opens.
    /// </summary>
    [Range(1, 1_000_000)]
    public int SendPerVisitorPerWindow { get; set; } = 20;

    [Range(1, 3600)]
    public int SendPerVisitorWindowSeconds { get; set; } = 10;

    /// <summary>Anonymous session requests (POST /api/v1/widget/session) per client IP per minute.</summary>
    [Range(1, 1_000_000)]
    public int SessionsPerMinutePerIp { get; set; } = 60;

    /// <summary>Visitor hub requests (negotiate + connect) per client IP per minute.</summary>
    [Range(1, 10_000_000)]
    public int ConnectsPerMinutePerIp { get; set; } = 240;

    /// <summary>Visitor file uploads (POST /api/v1/widget/conversations/{id}/attachments) per client IP per minute.</summary>
    [Range(1, 1_000_000)]
    public int UploadsPerMinutePerIp { get; set; } = 60;

    /// <summary>Offline form messages (POST /api/v1/widget/offline) per client IP per hour.</summary>
    [Range(1, 1_000_000)]
    public int OfflineMessagesPerHourPerIp { get; set; } = 10;

    /// <summary>Offline form messages per visitor per hour.</summary>
    [Range(1, 1_000_000)]
    public int OfflineMessagesPerHourPerVisitor { get; set; } = 3;

    /// <summary>
    /// While a visitor's message is unanswered (the last message others can see is theirs) and younger than this,
    /// another offline message is refused with <c>offline_pending</c>: one visitor cannot queue up messages nobody read.
    /// </summary>
    [Range(0, 24 * 365)]
    public int OfflinePendingHours { get; set; } = 24;

    /// <summary>Transcript requests (POST .../transcript and the confirmation link) per client IP per hour.</summary>
    [Range(1, 1_000_000)]
    public int TranscriptsPerHourPerIp { get; set; } = 10;

    /// <summary>Transcript requests per visitor per hour.</summary>
    [Range(1, 1_000_000)]
    public int TranscriptsPerHourPerVisitor { get; set; } = 3;

    /// <summary>Serve /demo, a page with the widget snippet for trying Parley out; null: on outside Production.</summary>
    public bool? DemoPage { get; set; }
}
