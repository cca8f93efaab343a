using System.ComponentModel.DataAnnotations;

namespace Parley.Server.Features.Webhooks;

/// <summary>Outgoing webhooks (<c>Parley:Webhooks</c>).</summary>
public sealed class WebhookOptions : IValidatableObject
{
    public const string Section = "Parley:Webhooks";

    /// <summary>
    /// Delays before the 2nd, 3rd, ... attempt. The default (Standard Webhooks' schedule) retries for about
    /// 27.5 hours: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
    /// </summary>
    public TimeSpan[]? RetrySchedule { get; set; }

    /// <summary>Each delay is scaled by a random factor in [1 - jitter, 1 + jitter] so retries of many deliveries spread out.</summary>
    [Range(0.0, 0.9)]
    public double Jitter { get; set; } = 0.2;

    /// <summary>
    /// Let endpoints target loopback and private addresses (a server setting only; no API field turns it on). Link-local
    /// and cloud metadata addresses stay refused, and what a private target answers is never kept in the delivery log.
    /// </summary>
    public bool AllowPrivateTargets { get; set; }

    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>How long a worker owns a claimed delivery; must exceed the request timeout by a margin.</summary>
    public TimeSpan LeaseDuration { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Idle workers look for due deliveries at least this often (other nodes' events, scheduled retries).</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// An idle worker woken by new outbox rows looks at the outbox at most this often: with an endpoint subscribed to
    /// <c>message.created</c> every group commit rings it, and a look costs two queries (measured at 7 % of a core under
    /// overload, docs/benchmarks.md). Events that no endpoint subscribes to do not wake the workers at all.
    /// </summary>
    public TimeSpan WakeCoalesce { get; set; } = TimeSpan.FromMilliseconds(200);

    /// <summary>An endpoint that has failed without a single success for this long is disabled.</summary>
    public TimeSpan DisableAfterFailingFor { get; set; } = TimeSpan.FromDays(5);

    [Range(1, 256)]
    public int MaxConcurrency { get; set; } = 8;

    [Range(1, 1000)]
    public int BatchSize { get; set; } = 32;

    /// <summary>Request and response bodies are kept in the delivery log up to this many characters.</summary>
    [Range(256, 1_000_000)]
    public int LoggedBodyLimit { get; set; } = 4096;

    /// <summary>Run the delivery workers on this node (a cluster may dedicate some nodes to it).</summary>
    public bool WorkerEnabled { get; set; } = true;

    public static readonly TimeSpan[] DefaultSchedule =
    [
        TimeSpan.FromSeconds(5), TimeSpan.FromMinutes(5), TimeSpan.FromMinutes(30), TimeSpan.FromHours(2),
        TimeSpan.FromHours(5), TimeSpan.FromHours(10), TimeSpan.FromHours(10),
    ];

    public TimeSpan[] Schedule => RetrySchedule is { Length: > 0 } ? RetrySchedule : DefaultSchedule;

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (Schedule.Any(d => d < TimeSpan.Zero))
        {
            yield return new ValidationResult("Retry delays must not be negative.", [nameof(RetrySchedule)]);
        }

        if (RequestTimeout <= TimeSpan.Zero || LeaseDuration < RequestTimeout + TimeSpan.FromSeconds(1))
        {
            yield return new ValidationResult("LeaseDuration must exceed RequestTimeout by at least a second.", [nameof(LeaseDuration)]);
        }

        if (WakeCoalesce < TimeSpan.Zero || WakeCoalesce > PollInterval)
        {
            yield return new ValidationResult("WakeCoalesce must be between zero and PollInterval.", [nameof(WakeCoalesce)]);
        }

        if (PollInterval <= TimeSpan.Zero)
        {
            yield return new ValidationResult("PollInterval must be positive.", [nameof(PollInterval)]);
        }
    }
}
