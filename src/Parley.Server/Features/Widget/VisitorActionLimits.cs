using System.Threading.RateLimiting;
using Microsoft.Extensions.Options;
using Parley.Server.Infrastructure;

namespace Parley.Server.Features.Widget;

/// <summary>
/// Per-visitor limits: the widget's REST actions that reach people outside the conversation (agents' inboxes,
/// webhooks, mail: the offline form and transcripts) and hub sends across all of a visitor's connections. The per-IP
/// limits are endpoint rate-limit policies; these count per visitor contact, in <see cref="IAnonymousRateLimits"/>
/// (cluster-wide with Redis). They are acquired asynchronously: the Redis-backed limiter answers only on that path.
/// </summary>
internal sealed class VisitorActionLimits : IDisposable
{
    private readonly PartitionedRateLimiter<string> _offline;
    private readonly PartitionedRateLimiter<string> _transcripts;
    private readonly PartitionedRateLimiter<string> _sends;

    private readonly Metrics.ParleyMetrics _metrics;

    public VisitorActionLimits(IAnonymousRateLimits limits, IOptions<WidgetOptions> options, Metrics.ParleyMetrics metrics)
    {
        _metrics = metrics;
        _offline = PartitionedRateLimiter.Create<string, string>(key =>
            limits.Partition("visitor-offline-contact", key, options.Value.OfflineMessagesPerHourPerVisitor, TimeSpan.FromHours(1)));
        _transcripts = PartitionedRateLimiter.Create<string, string>(key =>
            limits.Partition("visitor-transcript-contact", key, options.Value.TranscriptsPerHourPerVisitor, TimeSpan.FromHours(1)));
        _sends = PartitionedRateLimiter.Create<string, string>(key =>
            limits.Partition("visitor-send-contact", key, options.Value.SendPerVisitorPerWindow, TimeSpan.FromSeconds(options.Value.SendPerVisitorWindowSeconds)));
    }

    public Task AcquireOfflineAsync(Guid contactId, CancellationToken cancellationToken) => AcquireAsync(_offline, "visitor-offline-contact", contactId, "Too many requests from this visitor; retry later.", cancellationToken);

    public Task AcquireTranscriptAsync(Guid contactId, CancellationToken cancellationToken) => AcquireAsync(_transcripts, "visitor-transcript-contact", contactId, "Too many requests from this visitor; retry later.", cancellationToken);

    /// <summary>One hub send of the visitor, whichever connection it came on.</summary>
    public Task AcquireSendAsync(Guid contactId, CancellationToken cancellationToken) => AcquireAsync(_sends, "visitor-send-contact", contactId, "Too many messages; slow down.", cancellationToken);

    public void Dispose()
    {
        _offline.Dispose();
        _transcripts.Dispose();
        _sends.Dispose();
    }

    private async Task AcquireAsync(PartitionedRateLimiter<string> limiter, string name, Guid contactId, string message, CancellationToken cancellationToken)
    {
        using var lease = await limiter.AcquireAsync(contactId.ToString(), 1, cancellationToken);
        if (!lease.IsAcquired)
        {
            _metrics.RateLimited(name);
            throw new ParleyException(ErrorCatalogue.RateLimited, message);
        }
    }
}
