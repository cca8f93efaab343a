using System.Diagnostics.CodeAnalysis;
using Parley.Server.Infrastructure;

namespace Parley.Server.Core;

/// <summary>
/// Ids arrive as strings from hub arguments, claims and route values. One rule for all of them: a UUID in any of
/// .NET's accepted formats, never the empty UUID.
/// </summary>
public static class Ids
{
    /// <summary>The id, or <see langword="false"/> for anything that is not a non-empty UUID.</summary>
    public static bool TryParse([NotNullWhen(true)] string? value, out Guid id) =>
        Guid.TryParse(value, out id) && id != Guid.Empty;

    /// <summary>The id, or <see langword="null"/> for anything that is not a non-empty UUID.</summary>
    public static Guid? ParseOrNull(string? value) => TryParse(value, out var id) ? id : null;

    /// <summary>The id, or an <c>invalid_request</c> problem naming <paramref name="field"/>.</summary>
    public static Guid Parse(string? value, string field) =>
        TryParse(value, out var id)
            ? id
            : throw new ParleyException(ErrorCatalogue.InvalidRequest, $"'{field}' must be a UUID.");
}
