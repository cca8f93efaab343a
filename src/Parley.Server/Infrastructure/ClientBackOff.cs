namespace Parley.Server.Infrastructure;

/// <summary>
/// How clients back off from a throttled send (<c>rate_limited</c>, <c>overloaded</c>): the n-th retry in a row (n from
/// 0) waits a ceiling of <see cref="FirstCeilingMilliseconds"/> doubling up to <see cref="MaxCeilingMilliseconds"/>, of
/// which the second half is random ("equal jitter"), so visitors refused together do not return together. The widget and
/// console do it (web/packages/shared/src/errors.ts, <c>throttleDelay</c>), the load generator copies it
/// (bench/Parley.LoadTest/MessageScenarios.cs), and the error catalogue, docs/protocol.md and docs/operations.md state
/// it as <see cref="Summary"/>; ClientContractTests fails when a copy drifts.
/// </summary>
public static class ClientBackOff
{
    public const int FirstCeilingMilliseconds = 2_000;

    public const int MaxCeilingMilliseconds = 60_000;

    /// <summary>The schedule in words, as the catalogue and the docs say it.</summary>
    public const string Summary = "1–2 s at random, doubling to 30–60 s";

    /// <summary>What a refused visitor is told to wait at most before the first retry (the first ceiling).</summary>
    public const int FirstRetrySeconds = FirstCeilingMilliseconds / 1000;
}
