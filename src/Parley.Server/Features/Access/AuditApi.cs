using System.Globalization;
using System.Security.Claims;
using System.Text;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using Parley.Data;
using Parley.Server.Infrastructure;

namespace Parley.Server.Features.Access;

public sealed record AuditEntryDto(long Id, DateTime At, Guid? ActorId, string? ActorName, string Action, string? TargetType, string? TargetId, string? IpAddress, string? DetailsJson);

public sealed record AuditPage(IReadOnlyList<AuditEntryDto> Items, long? NextBefore);

/// <summary>
/// What to list or export: <c>action</c> exact (<c>auth.sign_in_failed</c>) or a prefix ending in <c>*</c>
/// (<c>auth.*</c>); <c>actorId</c>; <c>targetType</c> and <c>targetId</c> exact; <c>from</c> (inclusive) and <c>to</c>
/// (exclusive) as ISO 8601 times.
/// </summary>
public sealed record AuditFilter(string? Action = null, Guid? ActorId = null, string? TargetType = null, string? TargetId = null, DateTimeOffset? From = null, DateTimeOffset? To = null)
{
    public IQueryable<AuditEntry> Apply(IQueryable<AuditEntry> query)
    {
        if (!string.IsNullOrWhiteSpace(Action))
        {
            var action = Action.Trim();
            if (action.EndsWith('*'))
            {
                var prefix = action.TrimEnd('*');
                query = query.Where(e => e.Action.StartsWith(prefix));
            }
            else
            {
                query = query.Where(e => e.Action == action);
            }
        }

        if (ActorId is { } actor)
        {
            query = query.Where(e => e.ActorId == actor);
        }

        if (!string.IsNullOrWhiteSpace(TargetType))
        {
            var type = TargetType.Trim();
            query = query.Where(e => e.TargetType == type);
        }

        if (!string.IsNullOrWhiteSpace(TargetId))
        {
            var id = TargetId.Trim();
            query = query.Where(e => e.TargetId == id);
        }

        if (From is { } from)
        {
            var at = from.UtcDateTime;
            query = query.Where(e => e.At >= at);
        }

        if (To is { } to)
        {
            var at = to.UtcDateTime;
            query = query.Where(e => e.At < at);
        }

        return query;
    }
}

public static class AuditApi
{
    /// <summary>Most rows one export writes (newest first); narrow the filter for older ones.</summary>
    public const int MaxExportRows = 100_000;

    private static readonly string[] CsvColumns = ["id", "at", "actor_id", "actor_name", "action", "target_type", "target_id", "ip_address", "details"];

    public static IEndpointRouteBuilder MapAuditApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/v1/audit").WithTags("Audit").WithParleyErrors().RequireAuthorization(ParleyClaims.AdminPolicy);
        api.MapGet("/", ListAsync).WithName("ListAuditEntries").WithSummary("Audit log: sign-ins and admin actions, newest first (admin)")
            .WithDescription("Filter by action (exact, e.g. auth.sign_in_failed, or a prefix such as auth.*), actorId, targetType, targetId, from (inclusive) and to (exclusive); page with before=nextBefore. limit is at most 500.");
        api.MapGet("/export", ExportAsync).WithName("ExportAuditEntries").WithSummary("The filtered audit log as CSV (admin)")
            .WithDescription("Same filters as the list; newest first, at most 100,000 rows. UTF-8 with a byte-order mark, CRLF rows; a cell that a spreadsheet would read as a formula starts with an apostrophe. The export itself is audited (audit.exported).");
        return app;
    }

    internal static async Task<Ok<AuditPage>> ListAsync(ParleyDbContext db, [AsParameters] AuditFilter filter, CancellationToken cancellationToken, int limit = 100, long? before = null)
    {
        limit = Math.Clamp(limit, 1, 500);
        var query = filter.Apply(db.AuditEntries.AsNoTracking());
        if (before is { } b)
        {
            query = query.Where(e => e.Id < b);
        }

        var rows = await query.OrderByDescending(e => e.Id).Take(limit + 1).ToListAsync(cancellationToken);
        var items = rows.Take(limit).Select(ToDto).ToList();
        return TypedResults.Ok(new AuditPage(items, rows.Count > limit ? items[^1].Id : null));
    }

    internal static async Task<FileContentHttpResult> ExportAsync(
        ParleyDbContext db, AuditLog audit, ClaimsPrincipal user, TimeProvider time, [AsParameters] AuditFilter filter, CancellationToken cancellationToken)
    {
        var rows = await filter.Apply(db.AuditEntries.AsNoTracking()).OrderByDescending(e => e.Id).Take(MaxExportRows).ToListAsync(cancellationToken);
        var text = new StringBuilder();
        text.Append(string.Join(',', CsvColumns)).Append("\r\n");
        foreach (var e in rows)
        {
            string?[] cells =
            [
                e.Id.ToString(CultureInfo.InvariantCulture), e.At.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture), e.ActorId?.ToString(),
                e.ActorName, e.Action, e.TargetType, e.TargetId, e.IpAddress, e.DetailsJson,
            ];
            text.Append(string.Join(',', cells.Select(CsvCells.Safe))).Append("\r\n");
        }

        await audit.RecordAsync(user, "audit.exported", details: new { filter.Action, filter.ActorId, filter.TargetType, filter.TargetId, filter.From, filter.To, rows = rows.Count }, cancellationToken: cancellationToken);
        var name = $"parley-audit-{time.GetUtcNow():yyyyMMdd-HHmmss}.csv";
        return TypedResults.File([.. Encoding.UTF8.GetPreamble(), .. Encoding.UTF8.GetBytes(text.ToString())], "text/csv; charset=utf-8", name);
    }

    private static AuditEntryDto ToDto(AuditEntry e) => new(e.Id, e.At, e.ActorId, e.ActorName, e.Action, e.TargetType, e.TargetId, e.IpAddress, e.DetailsJson);
}
