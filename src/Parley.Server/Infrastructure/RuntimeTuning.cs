namespace Parley.Server.Infrastructure;

/// <summary>
/// Process-wide runtime settings that can only be given through the environment and must be in place before the
/// runtime first uses them: <see cref="Apply"/> is the first statement of <c>Program</c>. A value set by the operator
/// wins.
/// </summary>
public static class RuntimeTuning
{
    /// <summary>
    /// How many arrays of each size <c>ArrayPool&lt;byte&gt;.Shared</c> keeps per core (the runtime's default is 32,
    /// read once, from this variable only). Every connection's transport pipe rents 4 KB blocks from that pool while
    /// a write is on its way, so with thousands of connections on one or two cores most rents missed and allocated a
    /// new array: measured at 1,000 msgs/s on one core, 72 KB allocated per stored message, 37 KB with this setting
    /// (docs/benchmarks.md, "2026-12-06, morning"). 256 still missed under overload, when 1,260 connections each had a
    /// write on its way at once: the pipe's rents were 11 % of all allocation, 4.5 % with 1,024 (findings
    /// "2026-12-07"). 1,024 still missed in fan-out: one message to 2,000 receivers puts a write on its way to each of
    /// them before any transport has read its own, and the rents were 99 % of what the server allocated there (0.7–2.4 MB
    /// per message); with 4,096, 11–12 KB per message and 3–5 collections in a run instead of 86–152 (findings
    /// "2026-12-07, midday"). At most 16 MB per array size is kept (only when that many were out at once), and unused
    /// arrays are trimmed by the pool after a gen-2 GC.
    /// </summary>
    public const string ArrayPoolVariable = "DOTNET_SYSTEM_BUFFERS_SHAREDARRAYPOOL_MAXARRAYSPERPARTITION";

    public const int ArraysPerCore = 4096;

    public static void Apply()
    {
        if (string.IsNullOrEmpty(Environment.GetEnvironmentVariable(ArrayPoolVariable)))
        {
            Environment.SetEnvironmentVariable(ArrayPoolVariable, ArraysPerCore.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
    }
}
