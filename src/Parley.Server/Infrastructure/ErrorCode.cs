namespace Parley.Server.Infrastructure;

/// <summary>
/// One entry of <see cref="ErrorCatalogue"/>: the stable <paramref name="Code"/> clients switch on, the HTTP status a
/// REST call answers with, whether repeating the same request later can succeed, and what it means.
/// </summary>
public sealed record ErrorCode(string Code, int Status, bool Retryable, string Meaning)
{
    /// <summary>The text of a hub error for this code: <c>"code: text"</c> (docs/protocol.md, "Errors").</summary>
    public string HubText(string text) => $"{Code}: {text}";

    public override string ToString() => Code;
}
