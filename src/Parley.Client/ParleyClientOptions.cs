namespace Parley.Client;

/// <summary>Where and how <see cref="ParleyClient"/> connects.</summary>
public sealed class ParleyClientOptions
{
    /// <summary>The server's base address, e.g. <c>https://chat.example.com/</c>.</summary>
    public required Uri BaseAddress { get; init; }

    /// <summary>
    /// Address for gRPC calls. Defaults to <see cref="BaseAddress"/>, which works over TLS; a cleartext server
    /// serves gRPC on a separate HTTP/2-only endpoint (docs/integration.md).
    /// </summary>
    public Uri? GrpcAddress { get; init; }

    /// <summary>
    /// A personal API token (<c>pat_...</c>, created under Account → API tokens or <c>POST /api/v1/auth/tokens</c>),
    /// sent as <c>Authorization: Bearer</c>. The client acts as the token's user, with that user's role, departments
    /// and the token's scopes; give an integration its own user.
    /// </summary>
    public required string ApiToken { get; init; }

    /// <summary>How many times a failed safe call is retried (connection errors, 408, 429, 5xx).</summary>
    public int MaxRetries { get; init; } = 3;

    /// <summary>First retry delay; doubles per attempt, with jitter.</summary>
    public TimeSpan InitialBackoff { get; init; } = TimeSpan.FromMilliseconds(200);

    /// <summary>Upper bound of one retry delay (also used between stream reconnects).</summary>
    public TimeSpan MaxBackoff { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Per-request timeout of REST calls.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(30);
}
