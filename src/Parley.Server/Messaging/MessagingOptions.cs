using System.ComponentModel.DataAnnotations;

namespace Parley.Server.Messaging;

public sealed class MessagingOptions
{
    public const string Section = "Parley:Messaging";

    /// <summary>Longest accepted message body, in characters, after trimming.</summary>
    [Range(1, 100_000)]
    public int MaxBodyLength { get; set; } = 4096;

    /// <summary>Most messages committed in one group-commit transaction.</summary>
    [Range(1, 2000)]
    public int MaxBatchSize { get; set; } = 256;

    /// <summary>Sends waiting for the writer; when full, senders wait (back-pressure) rather than the queue growing.</summary>
    [Range(1, 1_000_000)]
    public int QueueCapacity { get; set; } = 16_384;

    /// <summary>Most messages a reconnecting client is replayed; a larger gap answers "truncated" (reload).</summary>
    [Range(1, 10_000)]
    public int ReplayLimit { get; set; } = 500;
}
