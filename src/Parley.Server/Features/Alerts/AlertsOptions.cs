using System.ComponentModel.DataAnnotations;

namespace Parley.Server.Features.Alerts;

/// <summary>Alerts to people (<c>Parley:Alerts</c>); channels and rules themselves are settings in the console.</summary>
public sealed class AlertsOptions : IValidatableObject
{
    public const string Section = "Parley:Alerts";

    /// <summary>Evaluate the rules on this node (every node takes part; one of them, the lease holder, sends).</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>How often the rules are evaluated.</summary>
    [Range(0.05, 3600)]
    public double EvaluateSeconds { get; set; } = 15;

    /// <summary>How long the sending node's lease lasts without renewal (another node takes over after it).</summary>
    [Range(1, 3600)]
    public double LeaseSeconds { get; set; } = 45;

    /// <summary>Error rate and commit latency are measured over this window.</summary>
    [Range(10, 86_400)]
    public double WindowSeconds { get; set; } = 300;

    /// <summary>The error-rate rule stays quiet below this many requests in the window (one failure of two is not an outage).</summary>
    [Range(1, 1_000_000)]
    public int MinRequests { get; set; } = 20;

    /// <summary>Let channels target loopback and private addresses (a server setting only, as for webhooks).</summary>
    public bool AllowPrivateTargets { get; set; }

    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Delays before the 2nd, 3rd, ... attempt of a notice that failed; after the last it is dropped (and logged).</summary>
    public TimeSpan[]? RetrySchedule { get; set; }

    /// <summary>Notices waiting to be sent or retried; beyond it new ones are dropped and counted, never waited for.</summary>
    [Range(1, 100_000)]
    public int QueueCapacity { get; set; } = 1000;

    /// <summary>Notices sent at the same time (a slow channel holds one slot, not the others).</summary>
    [Range(1, 64)]
    public int MaxConcurrency { get; set; } = 4;

    public static readonly TimeSpan[] DefaultSchedule =
    [
        TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(30), TimeSpan.FromMinutes(2), TimeSpan.FromMinutes(10),
    ];

    public TimeSpan[] Schedule => RetrySchedule is { Length: > 0 } ? RetrySchedule : DefaultSchedule;

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (Schedule.Any(d => d < TimeSpan.Zero))
        {
            yield return new ValidationResult("Retry delays must not be negative.", [nameof(RetrySchedule)]);
        }

        if (RequestTimeout <= TimeSpan.Zero)
        {
            yield return new ValidationResult("RequestTimeout must be positive.", [nameof(RequestTimeout)]);
        }

        if (LeaseSeconds <= EvaluateSeconds)
        {
            yield return new ValidationResult("LeaseSeconds must be longer than EvaluateSeconds (the holder renews it on every evaluation).", [nameof(LeaseSeconds)]);
        }
    }
}
