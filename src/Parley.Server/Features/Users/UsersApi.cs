using System.Security.Claims;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using Parley.Data;
using Parley.Server.Features.Access;
using Parley.Server.Features.Auth;
using Parley.Server.Infrastructure;

namespace Parley.Server.Features.Users;

public sealed record UserAdminDto(
    Guid Id, string Email, string DisplayName, string Role, bool IsActive, bool AllDepartments, int Capacity,
    IReadOnlyList<Guid> TeamIds, bool TotpEnabled, DateTime CreatedAt, DateTime? LastSignInAt);

/// <summary>Create (invite) a user. Without a password a temporary one is generated and returned once.</summary>
public sealed record CreateUserRequest(string Email, string? DisplayName, string? Role, string? Password, bool AllDepartments = false, IReadOnlyList<Guid>? TeamIds = null);

public sealed record CreatedUser(UserAdminDto User, string? TemporaryPassword);

/// <summary>Partial update: omitted members stay as they are.</summary>
public sealed record UpdateUserRequest(string? DisplayName, string? Role, bool? IsActive, bool? AllDepartments, int? Capacity);

public sealed record SetTeamsRequest(IReadOnlyList<Guid> TeamIds);

public sealed record ResetPasswordRequest(string NewPassword);

public static class UsersApi
{
    public static IEndpointRouteBuilder MapUsersApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/v1/users").WithTags("Users").WithParleyErrors();
        api.MapGet("/", ListAsync).WithName("ListUsers").WithSummary("Console users with role, departments and status")
            .RequireAuthorization(ParleyClaims.AgentPolicy);
        api.MapPost("/", CreateAsync).WithName("CreateUser").WithSummary("Create (invite) a user (admin)")
            .RequireAuthorization(ParleyClaims.AdminPolicy);
        api.MapPatch("/{id:guid}", UpdateAsync).WithName("UpdateUser").WithSummary("Change name, role, activity, capacity or the all-departments grant (admin)")
            .RequireAuthorization(ParleyClaims.AdminPolicy);
        api.MapPut("/{id:guid}/teams", SetTeamsAsync).WithName("SetUserTeams").WithSummary("Replace the user's departments (team memberships) (admin)")
            .RequireAuthorization(ParleyClaims.AdminPolicy);
        api.MapPost("/{id:guid}/password", ResetPasswordAsync).WithName("ResetUserPassword")
            .WithSummary("Set a user's password; all their sessions end (admin)")
            .RequireAuthorization(ParleyClaims.AdminPolicy);
        api.MapGet("/{id:guid}/sessions", ListSessionsAsync).WithName("ListUserSessions").WithSummary("A user's active sessions (admin)")
            .RequireAuthorization(ParleyClaims.AdminPolicy);
        api.MapDelete("/{id:guid}/sessions", RevokeSessionsAsync).WithName("RevokeUserSessions").WithSummary("End all of a user's sessions (admin)")
            .RequireAuthorization(ParleyClaims.AdminPolicy);
        return app;
    }

    internal static async Task<NoContent> ResetPasswordAsync(
        Guid id, ResetPasswordRequest request, ParleyDbContext db, SignInService signIn, AuditLog audit, ClaimsPrincipal principal, CancellationToken cancellationToken)
    {
        var user = await db.Users.FirstOrDefaultAsync(u => u.Id == id, cancellationToken) ?? throw new ParleyException(ErrorCatalogue.UserNotFound);
        var revoked = await signIn.SetPasswordAsync(user, request.NewPassword ?? "", cancellationToken);
        await audit.RecordAsync(principal, "user.password_reset", "user", id.ToString(), new { revokedApiTokens = revoked }, cancellationToken);
        return TypedResults.NoContent();
    }

    internal static async Task<Ok<List<SessionDto>>> ListSessionsAsync(Guid id, ParleyDbContext db, TimeProvider time, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow().UtcDateTime;
        var rows = await db.UserSessions.AsNoTracking()
            .Where(s => s.UserId == id && s.RevokedAt == null && s.ExpiresAt > now)
            .OrderByDescending(s => s.LastSeenAt).ToListAsync(cancellationToken);
        return TypedResults.Ok(rows.ConvertAll(s => new SessionDto(s.Id, s.CreatedAt, s.LastSeenAt, s.ExpiresAt, s.IpAddress, s.UserAgent, false)));
    }

    internal static async Task<NoContent> RevokeSessionsAsync(Guid id, SignInService signIn, AuditLog audit, ClaimsPrincipal principal, CancellationToken cancellationToken)
    {
        var n = await signIn.RevokeSessionsAsync(id, null, cancellationToken);
        await audit.RecordAsync(principal, "user.sessions_revoked", "user", id.ToString(), new { count = n }, cancellationToken);
        return TypedResults.NoContent();
    }

    internal static async Task<Ok<List<UserAdminDto>>> ListAsync(ParleyDbContext db, CancellationToken cancellationToken)
    {
        var users = await db.Users.AsNoTracking().OrderBy(u => u.DisplayName).ToListAsync(cancellationToken);
        var memberships = await db.TeamMembers.AsNoTracking().ToListAsync(cancellationToken);
        var byUser = memberships.ToLookup(m => m.UserId, m => m.TeamId);
        return TypedResults.Ok(users.ConvertAll(u => ToDto(u, [.. byUser[u.Id]])));
    }

    internal static async Task<Results<Created<CreatedUser>, ProblemHttpResult>> CreateAsync(
        CreateUserRequest request, UserAccounts accounts, ParleyDbContext db, AuditLog audit, AccessDirectory directory, ClaimsPrincipal principal, CancellationToken cancellationToken)
    {
        var role = ParseRole(request.Role ?? "agent");
        var normalized = UserAccounts.Normalize(request.Email ?? "");
        if (await db.Users.AnyAsync(u => u.NormalizedEmail == normalized, cancellationToken))
        {
            return Problems.Create(ErrorCatalogue.EmailTaken, "A user with this email already exists.");
        }

        var temporary = string.IsNullOrEmpty(request.Password) ? Bootstrapper.RandomKey(12) : null;
        var teamIds = (request.TeamIds ?? []).Distinct().ToList();
        await RequireTeamsExistAsync(db, teamIds, cancellationToken);
        var user = await accounts.CreateAsync(request.Email ?? "", request.Password ?? temporary!, request.DisplayName ?? "", role, cancellationToken);
        user.AllDepartments = request.AllDepartments;
        db.TeamMembers.AddRange(teamIds.Select(t => new TeamMember { TeamId = t, UserId = user.Id, CreatedAt = user.CreatedAt }));
        await db.SaveChangesAsync(cancellationToken);
        directory.Invalidate(user.Id);
        await audit.RecordAsync(principal, "user.created", "user", user.Id.ToString(), new { user.Email, role = RoleName(role), request.AllDepartments, teamIds }, cancellationToken);
        return TypedResults.Created($"/api/v1/users/{user.Id}", new CreatedUser(ToDto(user, teamIds), temporary));
    }

    internal static async Task<Results<Ok<UserAdminDto>, ProblemHttpResult>> UpdateAsync(
        Guid id, UpdateUserRequest request, ParleyDbContext db, AuditLog audit, AccessDirectory directory, SignInService signIn, ClaimsPrincipal principal, CancellationToken cancellationToken)
    {
        var user = await db.Users.FirstOrDefaultAsync(u => u.Id == id, cancellationToken) ?? throw new ParleyException(ErrorCatalogue.UserNotFound);
        var before = new { displayName = user.DisplayName, role = RoleName(user.Role), isActive = user.IsActive, allDepartments = user.AllDepartments, capacity = user.Capacity };
        var changes = new Dictionary<string, object?>();
        if (request.DisplayName is { } name)
        {
            name = name.Trim();
            if (name.Length is 0 or > 200)
            {
                throw new ParleyException(ErrorCatalogue.InvalidName, "The display name must be 1 to 200 characters.");
            }

            user.DisplayName = name;
            changes["displayName"] = name;
        }

        var demotesOrDeactivatesAdmin = user.Role == UserRole.Admin
            && ((request.Role is { } r && ParseRole(r) != UserRole.Admin) || request.IsActive == false);
        if (demotesOrDeactivatesAdmin && !await db.Users.AnyAsync(u => u.Id != id && u.Role == UserRole.Admin && u.IsActive, cancellationToken))
        {
            return Problems.Create(ErrorCatalogue.LastAdmin, "This is the last active admin; make someone else admin first.");
        }

        if (request.Role is { } role)
        {
            user.Role = ParseRole(role);
            changes["role"] = RoleName(user.Role);
        }

        if (request.IsActive is { } active)
        {
            user.IsActive = active;
            changes["isActive"] = active;
        }

        if (request.AllDepartments is { } all)
        {
            user.AllDepartments = all;
            changes["allDepartments"] = all;
        }

        if (request.Capacity is { } capacity)
        {
            user.Capacity = capacity is >= 0 and <= 1000 ? capacity : throw new ParleyException(ErrorCatalogue.InvalidCapacity, "Capacity must be between 0 and 1000.");
            changes["capacity"] = capacity;
        }

        if (changes.ContainsKey("role") || request.IsActive == false)
        {
            // A changed role or a deactivation ends every existing session at its next request.
            user.SecurityStamp = UserAccounts.NewSecurityStamp();
        }

        await db.SaveChangesAsync(cancellationToken);
        if (request.IsActive == false)
        {
            // Deactivation revokes the tokens for good: reactivating the account must not bring them back.
            changes["revokedApiTokens"] = await signIn.RevokeApiTokensAsync(user.Id, cancellationToken);
        }

        directory.Invalidate(user.Id);
        await audit.RecordAsync(principal, "user.updated", "user", user.Id.ToString(), AuditLog.Change(before, changes), cancellationToken);
        var teams = await db.TeamMembers.AsNoTracking().Where(m => m.UserId == id).Select(m => m.TeamId).ToListAsync(cancellationToken);
        return TypedResults.Ok(ToDto(user, teams));
    }

    internal static async Task<Ok<UserAdminDto>> SetTeamsAsync(
        Guid id, SetTeamsRequest request, ParleyDbContext db, AuditLog audit, AccessDirectory directory, TimeProvider time, ClaimsPrincipal principal, CancellationToken cancellationToken)
    {
        var user = await db.Users.FirstOrDefaultAsync(u => u.Id == id, cancellationToken) ?? throw new ParleyException(ErrorCatalogue.UserNotFound);
        var wanted = (request.TeamIds ?? []).Distinct().ToList();
        await RequireTeamsExistAsync(db, wanted, cancellationToken);
        var current = await db.TeamMembers.Where(m => m.UserId == id).ToListAsync(cancellationToken);
        var before = current.ConvertAll(m => m.TeamId);
        db.TeamMembers.RemoveRange(current.Where(m => !wanted.Contains(m.TeamId)));
        var now = time.GetUtcNow().UtcDateTime;
        db.TeamMembers.AddRange(wanted.Where(t => current.All(m => m.TeamId != t)).Select(t => new TeamMember { TeamId = t, UserId = id, CreatedAt = now }));
        await db.SaveChangesAsync(cancellationToken);
        directory.Invalidate(id);
        await audit.RecordAsync(principal, "user.teams_changed", "user", id.ToString(), AuditLog.Change(new { teamIds = before }, new { teamIds = wanted }), cancellationToken);
        return TypedResults.Ok(ToDto(user, wanted));
    }

    private static async Task RequireTeamsExistAsync(ParleyDbContext db, List<Guid> teamIds, CancellationToken cancellationToken)
    {
        if (teamIds.Count > 0 && await db.Teams.CountAsync(t => teamIds.Contains(t.Id), cancellationToken) != teamIds.Count)
        {
            throw new ParleyException(ErrorCatalogue.TeamNotFound);
        }
    }

    private static UserRole ParseRole(string role) => role.Trim().ToLowerInvariant() switch
    {
        "agent" => UserRole.Agent,
        "supervisor" => UserRole.Supervisor,
        "admin" => UserRole.Admin,
        _ => throw new ParleyException(ErrorCatalogue.InvalidRole, "Role must be admin, supervisor or agent."),
    };

    private static string RoleName(UserRole role) => role.ToString().ToLowerInvariant();

    private static UserAdminDto ToDto(User u, IReadOnlyList<Guid> teamIds) =>
        new(u.Id, u.Email, u.DisplayName, RoleName(u.Role), u.IsActive, u.AllDepartments, u.Capacity, teamIds, u.TotpEnabled, u.CreatedAt, u.LastSignInAt);
}
