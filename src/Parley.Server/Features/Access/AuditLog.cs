using System.Security.Claims;
using System.Text.Json;
using Parley.Data;
using Parley.Server.Infrastructure;

namespace Parley.Server.Features.Access;

/// <summary>Records sign-ins and admin actions. Entries are written in their own save, so a failed action that is audited stays audited.</summary>
public sealed class AuditLog(ParleyDbContext db, IHttpContextAccessor http, TimeProvider time)
{
    public async Task RecordAsync(string action, Guid? actorId, string? actorName, string? targetType = null, string? targetId = null, object? details = null, CancellationToken cancellationToken = default)
    {
        Stage(action, actorId, actorName, targetType, targetId, details);
        await db.SaveChangesAsync(cancellationToken);
    }

    /// <summary>
    /// Adds an entry to the caller's unit of work without saving: it commits with the change it describes, or not at
    /// all (bulk changes such as a knowledge-base import, where a change without its audit row must not exist).
    /// </summary>
    public void Stage(ClaimsPrincipal user, string action, string? targetType = null, string? targetId = null, object? details = null) =>
        Stage(action, user.UserId(), user.FindFirstValue(ClaimTypes.Name), targetType, targetId, details);

    /// <summary>An entry by a given actor (a background job names itself), staged in the caller's unit of work.</summary>
    public void Stage(string action, Guid? actorId, string? actorName, string? targetType, string? targetId, object? details) =>
        db.AuditEntries.Add(new AuditEntry
        {
            At = time.GetUtcNow().UtcDateTime,
            ActorId = actorId,
            ActorName = Truncate(actorName, 200),
            Action = action,
            TargetType = targetType,
            TargetId = Truncate(targetId, 100),
            IpAddress = http.HttpContext?.Connection.RemoteIpAddress?.ToString(),
            DetailsJson = details is null ? null : Truncate(JsonSerializer.Serialize(details, JsonSerializerOptions.Web), 4000),
        });

    /// <summary>An action by the signed-in user.</summary>
    public Task RecordAsync(ClaimsPrincipal user, string action, string? targetType = null, string? targetId = null, object? details = null, CancellationToken cancellationToken = default) =>
        RecordAsync(action, user.UserId(), user.FindFirstValue(ClaimTypes.Name), targetType, targetId, details, cancellationToken);

    /// <summary>
    /// An action by the user of the current request, for services that are not handed the principal (a webhook or
    /// label service called from a REST handler). Outside a request the actor is recorded as the system.
    /// </summary>
    public Task RecordByCallerAsync(string action, string? targetType, string? targetId, object? details, CancellationToken cancellationToken)
    {
        var user = http.HttpContext?.User;
        return RecordAsync(action, user?.UserId(), user?.FindFirstValue(ClaimTypes.Name) ?? (user?.UserId() is null ? "Parley" : null), targetType, targetId, details, cancellationToken);
    }

    /// <summary><see cref="RecordByCallerAsync"/> without saving: commits with the caller's change.</summary>
    public void StageByCaller(string action, string? targetType, string? targetId, object? details)
    {
        var user = http.HttpContext?.User;
        Stage(action, user?.UserId(), user?.FindFirstValue(ClaimTypes.Name) ?? (user?.UserId() is null ? "Parley" : null), targetType, targetId, details);
    }

    /// <summary>Before/after of a changed setting, the shape every settings entry uses.</summary>
    public static object Change(object? before, object? after) => new { before, after };

    private static string? Truncate(string? value, int max) => value is null || value.Length <= max ? value : value[..max];
}
