using System.ComponentModel.DataAnnotations;

namespace Parley.Server.Features.Privacy;

/// <summary>The retention job (docs/privacy.md). Each site sets its own period; this only says how often and how much at a time.</summary>
public sealed class RetentionOptions
{
    public const string Section = "Parley:Retention";

    /// <summary>Whether this node runs the job. Every node may: batches are claimed row by row, so two nodes never remove the same content twice.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Time between runs (default one hour).</summary>
    [Range(typeof(TimeSpan), "00:00:01", "7.00:00:00")]
    public TimeSpan Interval { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Conversations removed per transaction (and per audit entry).</summary>
    [Range(1, 1000)]
    public int BatchSize { get; set; } = 50;
}
