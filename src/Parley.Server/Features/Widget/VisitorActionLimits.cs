using System.Threading.RateLimiting;
using Microsoft.Extensions.Options;
using Parley.Server.Infrastructure;

namespace Parley.Server.Features.Widget;

/// <summary>
/// Per-visitor limits on the widget's REST actions that reach people outside the conversation (agents' inboxes,
/// webhooks, mail): the offline form and transcripts. The per-IP limits are endpoint rate-limit policies; these
/// count per visitor contact, in <see cref="IAnonymousRateLimits"/> (cluster-wide with Redis).
/// </summary>
internal sealed class VisitorActionLimits : IDisposable
{
    private readonly PartitionedRateLimiter<string> _offline;
    private readonly PartitionedRateLimiter<string> _transcripts;

    public VisitorActionLimits(IAnonymousRateLimits limits, IOptions<WidgetOptions> options)
    {
        _offline = PartitionedRateLimiter.Create<string, string>(key =>
            limits.Partition("visitor-offline-contact", key, options.Value.OfflineMessagesPerHourPerVisitor, TimeSpan.FromHours(1)));
        _transcripts = PartitionedRateLimiter.Create<string, string>(key =>
            limits.Partition("visitor-transcript-contact", key, options.Value.TranscriptsPerHourPerVisitor, TimeSpan.FromHours(1)));
    }

    public void AcquireOffline(Guid contactId) => Acquire(_offline, contactId);

    public void AcquireTranscript(Guid contactId) => Acquire(_transcripts, contactId);

    public void Dispose()
    {
        _offline.Dispose();
        _transcripts.Dispose();
    }

    private static void Acquire(PartitionedRateLimiter<string> limiter, Guid contactId)
    {
        using var lease = limiter.AttemptAcquire(contactId.ToString());
        if (!lease.IsAcquired)
        {
            throw new ParleyException(ErrorCatalogue.RateLimited, "Too many requests from this visitor; retry later.");
        }
    }
}
