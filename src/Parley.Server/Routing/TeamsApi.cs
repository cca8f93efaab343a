using System.Security.Claims;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using Parley.Data;
using Parley.Server.Features.Access;
using Parley.Server.Infrastructure;

namespace Parley.Server.Routing;

public sealed record TeamMemberDto(Guid UserId, string DisplayName, string Email, int Capacity);

public sealed record TeamDto
{
    public Guid Id { get; init; }

    public required string Name { get; init; }

    public string? Description { get; init; }

    /// <summary><c>roundRobin</c>, <c>leastBusy</c> or <c>manual</c>.</summary>
    public required string Strategy { get; init; }

    public bool Sticky { get; init; }

    public required string TimeZone { get; init; }

    public required HoursDto Hours { get; init; }

    public int? OverflowAfterMinutes { get; init; }

    public Guid? OverflowTeamId { get; init; }

    public int OfferTimeoutSeconds { get; init; }

    public string? Skills { get; init; }

    /// <summary>First-response target in seconds (live view SLA); null: the server's default.</summary>
    public int? FirstResponseTargetSeconds { get; init; }

    public required IReadOnlyList<TeamMemberDto> Members { get; init; }
}

/// <summary>Create or replace a team's settings. Omitted optional fields take their defaults.</summary>
public sealed record TeamRequest
{
    public string? Name { get; init; }

    public string? Description { get; init; }

    /// <summary><c>roundRobin</c>, <c>leastBusy</c> (default) or <c>manual</c>.</summary>
    public string? Strategy { get; init; }

    public bool? Sticky { get; init; }

    /// <summary>IANA time zone of the hours (default UTC).</summary>
    public string? TimeZone { get; init; }

    public HoursDto? Hours { get; init; }

    /// <summary>Minutes waiting before overflow; null disables it.</summary>
    public int? OverflowAfterMinutes { get; init; }

    /// <summary>Team that takes the overflow; null offers the visitor the offline form.</summary>
    public Guid? OverflowTeamId { get; init; }

    /// <summary>Seconds an agent has to accept an offer; 0 (default) assigns without asking.</summary>
    public int? OfferTimeoutSeconds { get; init; }

    public string? Skills { get; init; }

    /// <summary>First-response target in seconds, 1 … 86400 (live view SLA); null uses the server's default.</summary>
    public int? FirstResponseTargetSeconds { get; init; }
}

public sealed record HoursRequest(string? TimeZone, HoursDto? Hours);

public sealed record MembersRequest(IReadOnlyList<Guid>? UserIds);

/// <summary>Teams (departments): settings, members and business hours. Reading needs an agent; changing needs an admin.</summary>
public static class TeamsApi
{
    public static IEndpointRouteBuilder MapTeamsApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/v1/teams")
            .WithTags("Teams")
            .RequireAuthorization(ParleyClaims.AgentPolicy)
            .WithParleyErrors();

        api.MapGet("/", ListAsync).WithName("ListTeams").WithSummary("All teams with their members and routing settings");
        api.MapGet("/{id:guid}", GetAsync).WithName("GetTeam").WithSummary("One team");
        api.MapPost("/", CreateAsync).WithName("CreateTeam").WithSummary("Create a team (admin)").RequireAuthorization(ParleyClaims.AdminPolicy);
        api.MapPut("/{id:guid}", UpdateAsync).WithName("UpdateTeam")
            .WithSummary("Replace a team's settings (admin)")
            .WithDescription("Strategy, sticky, hours, overflow and offer timeout. Members are changed through /members.")
            .RequireAuthorization(ParleyClaims.AdminPolicy);
        api.MapDelete("/{id:guid}", DeleteAsync).WithName("DeleteTeam")
            .WithSummary("Delete a team (admin)")
            .WithDescription("Its conversations move to the general queue.")
            .RequireAuthorization(ParleyClaims.AdminPolicy);
        api.MapPut("/{id:guid}/hours", SetHoursAsync).WithName("SetTeamHours")
            .WithSummary("Set business hours: time zone, weekly spans, holidays (admin)")
            .WithDescription("Spans are local wall-clock times (HH:mm); close <= open runs overnight; open == close is all day. Holidays are local dates (yyyy-MM-dd).")
            .RequireAuthorization(ParleyClaims.AdminPolicy);
        api.MapPut("/{id:guid}/members", SetMembersAsync).WithName("SetTeamMembers").WithSummary("Replace the team's members (admin)").RequireAuthorization(ParleyClaims.AdminPolicy);
        api.MapPut("/{id:guid}/members/{userId:guid}", AddMemberAsync).WithName("AddTeamMember").WithSummary("Add a member (admin)").RequireAuthorization(ParleyClaims.AdminPolicy);
        api.MapDelete("/{id:guid}/members/{userId:guid}", RemoveMemberAsync).WithName("RemoveTeamMember").WithSummary("Remove a member (admin)").RequireAuthorization(ParleyClaims.AdminPolicy);
        return app;
    }

    internal static async Task<Ok<List<TeamDto>>> ListAsync(ParleyDbContext db, CancellationToken cancellationToken)
    {
        var teams = await db.Teams.AsNoTracking().OrderBy(t => t.Name).ToListAsync(cancellationToken);
        var members = await MembersAsync(db, null, cancellationToken);
        return TypedResults.Ok(teams.ConvertAll(t => ToDto(t, members)));
    }

    internal static async Task<Ok<TeamDto>> GetAsync(Guid id, ParleyDbContext db, CancellationToken cancellationToken) =>
        TypedResults.Ok(await LoadAsync(db, id, cancellationToken));

    internal static async Task<Created<TeamDto>> CreateAsync(TeamRequest request, ParleyDbContext db, TimeProvider time, AccessDirectory directory, AuditLog audit, ClaimsPrincipal user, CancellationToken cancellationToken)
    {
        var team = new Team { Id = Guid.CreateVersion7(), Name = "", CreatedAt = time.GetUtcNow().UtcDateTime };
        await ApplyAsync(db, team, request, cancellationToken);
        db.Teams.Add(team);
        await SaveAsync(db, cancellationToken);
        directory.TeamsChanged();
        var created = await LoadAsync(db, team.Id, cancellationToken);
        await audit.RecordAsync(user, "team.created", "team", team.Id.ToString(), AuditLog.Change(null, created), cancellationToken);
        return TypedResults.Created($"/api/v1/teams/{team.Id}", created);
    }

    internal static async Task<Ok<TeamDto>> UpdateAsync(Guid id, TeamRequest request, ParleyDbContext db, RoutingEngine engine, AccessDirectory directory, AuditLog audit, ClaimsPrincipal user, CancellationToken cancellationToken)
    {
        var team = await db.Teams.FirstOrDefaultAsync(t => t.Id == id, cancellationToken) ?? throw new ParleyException(ErrorCatalogue.TeamNotFound);
        var before = await LoadAsync(db, id, cancellationToken);
        await ApplyAsync(db, team, request, cancellationToken);
        await SaveAsync(db, cancellationToken);
        directory.TeamsChanged();
        engine.Wake();
        return await AuditedAsync(db, audit, user, "team.updated", before, cancellationToken);
    }

    internal static async Task<NoContent> DeleteAsync(Guid id, ParleyDbContext db, RoutingEngine engine, AccessDirectory directory, Events.DomainEvents events, AuditLog audit, ClaimsPrincipal user, CancellationToken cancellationToken)
    {
        var team = await db.Teams.FirstOrDefaultAsync(t => t.Id == id, cancellationToken) ?? throw new ParleyException(ErrorCatalogue.TeamNotFound);
        var before = await LoadAsync(db, id, cancellationToken);
        db.Teams.Remove(team);
        audit.Stage(user, "team.deleted", "team", id.ToString(), AuditLog.Change(before, null));
        await db.SaveChangesAsync(cancellationToken);
        directory.InvalidateAll(); // department scopes of its members changed
        engine.Wake();

        // The team's knowledge entries went with it (cascade): every node's index reloads.
        events.Publish(new Features.Knowledge.KnowledgeChanged(null, Features.Knowledge.KnowledgeChangeKind.Imported));
        return TypedResults.NoContent();
    }

    internal static async Task<Ok<TeamDto>> SetHoursAsync(Guid id, HoursRequest request, ParleyDbContext db, RoutingEngine engine, AuditLog audit, ClaimsPrincipal user, CancellationToken cancellationToken)
    {
        var team = await db.Teams.FirstOrDefaultAsync(t => t.Id == id, cancellationToken) ?? throw new ParleyException(ErrorCatalogue.TeamNotFound);
        var before = await LoadAsync(db, id, cancellationToken);
        var hours = BusinessHours.Create(request.TimeZone, request.Hours);
        team.TimeZone = hours.TimeZone.Id;
        team.HoursJson = hours.ToJson();
        await db.SaveChangesAsync(cancellationToken);
        engine.Wake();
        return await AuditedAsync(db, audit, user, "team.hours_changed", before, cancellationToken);
    }

    internal static async Task<Ok<TeamDto>> SetMembersAsync(Guid id, MembersRequest request, ParleyDbContext db, TimeProvider time, RoutingEngine engine, AccessDirectory directory, AuditLog audit, ClaimsPrincipal user, CancellationToken cancellationToken)
    {
        if (!await db.Teams.AnyAsync(t => t.Id == id, cancellationToken))
        {
            throw new ParleyException(ErrorCatalogue.TeamNotFound);
        }

        var wanted = (request.UserIds ?? []).Distinct().ToList();
        var known = await db.Users.Where(u => wanted.Contains(u.Id)).Select(u => u.Id).ToListAsync(cancellationToken);
        if (known.Count != wanted.Count)
        {
            throw new ParleyException(ErrorCatalogue.UserNotFound);
        }

        var before = await LoadAsync(db, id, cancellationToken);
        var current = await db.TeamMembers.Where(m => m.TeamId == id).ToListAsync(cancellationToken);
        db.TeamMembers.RemoveRange(current.Where(m => !wanted.Contains(m.UserId)));
        var now = time.GetUtcNow().UtcDateTime;
        foreach (var userId in wanted.Where(u => current.All(m => m.UserId != u)))
        {
            db.TeamMembers.Add(new TeamMember { TeamId = id, UserId = userId, CreatedAt = now });
        }

        await SaveAsync(db, cancellationToken);
        foreach (var userId in wanted.Union(current.Select(m => m.UserId)))
        {
            directory.Invalidate(userId);
        }

        engine.Wake();
        return await AuditedAsync(db, audit, user, "team.members_changed", before, cancellationToken);
    }

    internal static async Task<Ok<TeamDto>> AddMemberAsync(Guid id, Guid userId, ParleyDbContext db, TimeProvider time, RoutingEngine engine, AccessDirectory directory, AuditLog audit, ClaimsPrincipal user, CancellationToken cancellationToken)
    {
        if (!await db.Teams.AnyAsync(t => t.Id == id, cancellationToken))
        {
            throw new ParleyException(ErrorCatalogue.TeamNotFound);
        }

        if (!await db.Users.AnyAsync(u => u.Id == userId, cancellationToken))
        {
            throw new ParleyException(ErrorCatalogue.UserNotFound);
        }

        if (!await db.TeamMembers.AnyAsync(m => m.TeamId == id && m.UserId == userId, cancellationToken))
        {
            db.TeamMembers.Add(new TeamMember { TeamId = id, UserId = userId, CreatedAt = time.GetUtcNow().UtcDateTime });
            audit.Stage(user, "team.member_added", "team", id.ToString(), new { userId });
            await SaveAsync(db, cancellationToken);
            directory.Invalidate(userId);
        }

        engine.Wake();
        return TypedResults.Ok(await LoadAsync(db, id, cancellationToken));
    }

    internal static async Task<Ok<TeamDto>> RemoveMemberAsync(Guid id, Guid userId, ParleyDbContext db, AccessDirectory directory, AuditLog audit, ClaimsPrincipal user, CancellationToken cancellationToken)
    {
        var member = await db.TeamMembers.FirstOrDefaultAsync(m => m.TeamId == id && m.UserId == userId, cancellationToken) ?? throw new ParleyException(ErrorCatalogue.MemberNotFound);
        db.TeamMembers.Remove(member);
        audit.Stage(user, "team.member_removed", "team", id.ToString(), new { userId });
        await db.SaveChangesAsync(cancellationToken);
        directory.Invalidate(userId);
        return TypedResults.Ok(await LoadAsync(db, id, cancellationToken));
    }

    public static string WireName(RoutingStrategy strategy) => strategy switch
    {
        RoutingStrategy.RoundRobin => "roundRobin",
        RoutingStrategy.Manual => "manual",
        _ => "leastBusy",
    };

    private static async Task ApplyAsync(ParleyDbContext db, Team team, TeamRequest request, CancellationToken cancellationToken)
    {
        var name = request.Name?.Trim();
        if (string.IsNullOrEmpty(name) || name.Length > 200)
        {
            throw new ParleyException(ErrorCatalogue.InvalidName, "A team needs a name of 1 to 200 characters.");
        }

        if (request.Description is { Length: > 2000 } || request.Skills is { Length: > 1000 })
        {
            throw new ParleyException(ErrorCatalogue.InvalidRequest, "description is at most 2000 and skills at most 1000 characters.");
        }

        var strategy = request.Strategy switch
        {
            null or "" or "leastBusy" => RoutingStrategy.LeastBusy,
            "roundRobin" => RoutingStrategy.RoundRobin,
            "manual" => RoutingStrategy.Manual,
            _ => throw new ParleyException(ErrorCatalogue.InvalidStrategy, "strategy must be roundRobin, leastBusy or manual."),
        };

        if (request.OverflowAfterMinutes is < 1 or > 10_080)
        {
            throw new ParleyException(ErrorCatalogue.InvalidOverflow, "overflowAfterMinutes must be between 1 and 10080 (or null to disable).");
        }

        if (request.OverflowTeamId is { } overflow && (overflow == team.Id || !await db.Teams.AnyAsync(t => t.Id == overflow, cancellationToken)))
        {
            throw new ParleyException(ErrorCatalogue.InvalidOverflow, "overflowTeamId must name another existing team.");
        }

        if (request.OfferTimeoutSeconds is < 0 or > 3600)
        {
            throw new ParleyException(ErrorCatalogue.InvalidOfferTimeout, "offerTimeoutSeconds must be between 0 (assign directly) and 3600.");
        }

        if (request.FirstResponseTargetSeconds is < 1 or > 86_400)
        {
            throw new ParleyException(ErrorCatalogue.InvalidRequest, "firstResponseTargetSeconds must be between 1 and 86400 (or null for the default).");
        }

        var hours = BusinessHours.Create(request.TimeZone, request.Hours);
        team.Name = name;
        team.Description = request.Description;
        team.Strategy = strategy;
        team.Sticky = request.Sticky ?? true;
        team.TimeZone = hours.TimeZone.Id;
        team.HoursJson = hours.ToJson();
        team.OverflowAfterMinutes = request.OverflowAfterMinutes;
        team.OverflowTeamId = request.OverflowTeamId;
        team.OfferTimeoutSeconds = request.OfferTimeoutSeconds ?? 0;
        team.Skills = string.IsNullOrWhiteSpace(request.Skills) ? null : request.Skills.Trim();
        team.FirstResponseTargetSeconds = request.FirstResponseTargetSeconds;
    }

    private static async Task SaveAsync(ParleyDbContext db, CancellationToken cancellationToken)
    {
        try
        {
            await db.SaveChangesAsync(cancellationToken);
        }
        catch (DbUpdateException)
        {
            throw new ParleyException(ErrorCatalogue.TeamConflict, "A team with that name already exists (or a member changed meanwhile).");
        }
    }

    /// <summary>Records a settings change with the team as it was and as it is now, and answers with the latter.</summary>
    private static async Task<Ok<TeamDto>> AuditedAsync(ParleyDbContext db, AuditLog audit, ClaimsPrincipal user, string action, TeamDto before, CancellationToken cancellationToken)
    {
        var after = await LoadAsync(db, before.Id, cancellationToken);
        await audit.RecordAsync(user, action, "team", before.Id.ToString(), AuditLog.Change(before, after), cancellationToken);
        return TypedResults.Ok(after);
    }

    private static async Task<TeamDto> LoadAsync(ParleyDbContext db, Guid id, CancellationToken cancellationToken)
    {
        var team = await db.Teams.AsNoTracking().FirstOrDefaultAsync(t => t.Id == id, cancellationToken) ?? throw new ParleyException(ErrorCatalogue.TeamNotFound);
        return ToDto(team, await MembersAsync(db, id, cancellationToken));
    }

    private static async Task<ILookup<Guid, TeamMemberDto>> MembersAsync(ParleyDbContext db, Guid? teamId, CancellationToken cancellationToken)
    {
        var query = from m in db.TeamMembers.AsNoTracking()
                    join u in db.Users.AsNoTracking() on m.UserId equals u.Id
                    select new { m.TeamId, u.Id, u.DisplayName, u.Email, u.Capacity };
        if (teamId is { } t)
        {
            query = query.Where(x => x.TeamId == t);
        }

        var rows = await query.ToListAsync(cancellationToken);
        return rows.OrderBy(r => r.DisplayName, StringComparer.OrdinalIgnoreCase).ToLookup(r => r.TeamId, r => new TeamMemberDto(r.Id, r.DisplayName, r.Email, r.Capacity));
    }

    private static TeamDto ToDto(Team t, ILookup<Guid, TeamMemberDto> members) => new()
    {
        Id = t.Id,
        Name = t.Name,
        Description = t.Description,
        Strategy = WireName(t.Strategy),
        Sticky = t.Sticky,
        TimeZone = t.TimeZone,
        Hours = BusinessHours.FromStored(t.TimeZone, t.HoursJson).Dto,
        OverflowAfterMinutes = t.OverflowAfterMinutes,
        OverflowTeamId = t.OverflowTeamId,
        OfferTimeoutSeconds = t.OfferTimeoutSeconds,
        Skills = t.Skills,
        FirstResponseTargetSeconds = t.FirstResponseTargetSeconds,
        Members = [.. members[t.Id]],
    };
}
