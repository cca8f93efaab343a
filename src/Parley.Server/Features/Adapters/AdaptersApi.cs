using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using Parley.Data;
using Parley.Server.Features.Access;
using Parley.Server.Infrastructure;

namespace Parley.Server.Features.Adapters;

/// <summary>
/// One configured context adapter and how it has been answering. <c>state</c>: <c>unknown</c> (never queried),
/// <c>ok</c> (the last answer was a success), <c>failing</c> (the last answer was a failure) or <c>circuit_open</c>
/// (this node skips it after repeated failures). <c>target</c> is the scheme and host it calls (HTTP adapters only).
/// </summary>
public sealed record AdapterStatusDto(
    string Name, string Kind, string? Target, string State, double TimeoutSeconds,
    DateTime? LastSuccessAt, DateTime? LastFailureAt, string? LastFailureKind, string? LastError, int ConsecutiveFailures);

public static class AdaptersApi
{
    public static IEndpointRouteBuilder MapAdaptersApi(this IEndpointRouteBuilder app)
    {
        app.MapGroup("/api/v1/adapters").WithTags("Adapters").RequireAuthorization(ParleyClaims.AdminPolicy).WithParleyErrors()
            .MapGet("/", ListAsync).WithName("ListAdapters")
            .WithSummary("The configured context adapters with their last success and last failure")
            .WithDescription("Recorded by every node in the database; circuit_open is this node's breaker.");
        return app;
    }

    internal static async Task<Ok<List<AdapterStatusDto>>> ListAsync(ContextService context, ParleyDbContext db, CancellationToken cancellationToken)
    {
        var rows = await db.AdapterStatuses.AsNoTracking().ToDictionaryAsync(a => a.Name, StringComparer.Ordinal, cancellationToken);
        return TypedResults.Ok(context.Adapters.Select(adapter =>
        {
            rows.TryGetValue(adapter.Name, out var row);
            var http = adapter as HttpContextAdapter;
            return new AdapterStatusDto(
                adapter.Name,
                http is null ? "code" : "http",
                http is null ? null : TargetOf(http.Options.UrlTemplate),
                StateOf(row, context.IsCircuitOpen(adapter.Name)),
                context.PolicyOf(adapter).Timeout.TotalSeconds,
                row?.LastSuccessAt,
                row?.LastFailureAt,
                row?.LastFailureKind,
                row?.LastError,
                row?.ConsecutiveFailures ?? 0);
        }).ToList());
    }

    internal static string StateOf(AdapterStatus? row, bool circuitOpen) =>
        circuitOpen ? "circuit_open"
        : row is null || (row.LastSuccessAt is null && row.LastFailureAt is null) ? "unknown"
        : row.LastFailureAt is { } failed && (row.LastSuccessAt is not { } ok || failed > ok) ? "failing"
        : "ok";

    /// <summary>Scheme and host only: a template's path or query may hold a key.</summary>
    private static string? TargetOf(string urlTemplate) =>
        Uri.TryCreate(urlTemplate.Replace("{", "", StringComparison.Ordinal).Replace("}", "", StringComparison.Ordinal), UriKind.Absolute, out var uri)
            ? uri.GetLeftPart(UriPartial.Authority)
            : null;
}
