using System.Security.Claims;
using System.Text.RegularExpressions;
using Microsoft.EntityFrameworkCore;
using Parley.Data;
using Parley.Server.Features.Conversations;
using Parley.Server.Infrastructure;

namespace Parley.Server.Features.Console;

/// <summary>A canned reply; <c>teamIds</c>: the departments a shared one is limited to (empty with <c>teamsOnly</c> false: everyone).</summary>
public sealed record CannedReplyDto(Guid Id, string Shortcut, string Body, bool Shared, bool Mine, string? Rendered, bool TeamsOnly, IReadOnlyList<Guid> TeamIds);

/// <summary>Create or change a reply; <c>teamIds</c> limits a shared one to those departments (omitted or empty: everyone).</summary>
public sealed record CannedReplyRequest(string? Shortcut, string? Body, bool Shared = false, IReadOnlyList<Guid>? TeamIds = null);

/// <summary>A body to expand: with a conversation, its visitor's values; without one, a sample visitor's.</summary>
public sealed record CannedPreviewRequest(string? Body, Guid? ConversationId = null);

/// <summary>The expanded text, the values used, and whether the visitor's were samples.</summary>
public sealed record CannedPreviewDto(string Rendered, IReadOnlyDictionary<string, string?> Variables, bool Sample);

/// <summary>Personal and shared canned replies, and the one place their variables are expanded.</summary>
public sealed partial class CannedReplyService(ParleyDbContext db, ConversationScope scope, Access.AccessPolicy access, Access.AuditLog audit, TimeProvider time)
{
    public const int MaxBodyLength = 4000;
    public const int MaxTeams = 50;

    public async Task<List<CannedReplyDto>> ListAsync(ClaimsPrincipal user, string? q, Guid? conversationId, CancellationToken cancellationToken)
    {
        var me = Me(user);
        var query = access.CannedReplies(await access.ScopeAsync(Actor.Agent(user), cancellationToken)).AsNoTracking();
        if (!string.IsNullOrWhiteSpace(q))
        {
            var term = q.Trim().TrimStart('/').ToLowerInvariant();
            var pattern = "%" + EscapeLike(term) + "%";
            query = query.Where(r => r.Shortcut.StartsWith(term) || EF.Functions.Like(r.Body, pattern, "\\"));
        }

        var rows = await query.OrderBy(r => r.Shortcut).ThenBy(r => r.OwnerId == null).Take(200).ToListAsync(cancellationToken);
        Dictionary<string, string?>? variables = null;
        if (conversationId is { } id)
        {
            variables = await VariablesAsync(user, id, cancellationToken);
        }

        var ids = rows.Where(r => r.TeamsOnly).Select(r => r.Id).ToList();
        var teams = (await db.CannedReplyTeams.AsNoTracking().Where(t => ids.Contains(t.CannedReplyId)).ToListAsync(cancellationToken))
            .ToLookup(t => t.CannedReplyId, t => t.TeamId);
        return rows.ConvertAll(r => ToDto(r, me, teams[r.Id].ToList(), variables is null ? null : Render(r.Body, variables)));
    }

    public async Task<CannedReplyDto> CreateAsync(ClaimsPrincipal user, CannedReplyRequest request, CancellationToken cancellationToken)
    {
        var (shortcut, body) = Validate(request);
        var me = await access.ScopeAsync(Actor.Agent(user), cancellationToken);
        var teams = await ValidTeamsAsync(request, cancellationToken);
        var owner = OwnerFor(me, request.Shared, teams);
        await EnsureUniqueAsync(owner, shortcut, null, cancellationToken);
        var now = time.GetUtcNow().UtcDateTime;
        var reply = new CannedReply { Id = Guid.CreateVersion7(), OwnerId = owner, Shortcut = shortcut, Body = body, TeamsOnly = teams.Count > 0, CreatedAt = now, UpdatedAt = now };
        db.CannedReplies.Add(reply);
        db.CannedReplyTeams.AddRange(teams.Select(t => new CannedReplyTeam { CannedReplyId = reply.Id, TeamId = t }));
        audit.Stage(user, "canned_reply.created", "canned_reply", reply.Id.ToString(), Access.AuditLog.Change(null, Snapshot(reply, teams)));
        await db.SaveChangesAsync(cancellationToken);
        return ToDto(reply, me.UserId, teams, null);
    }

    public async Task<CannedReplyDto> UpdateAsync(ClaimsPrincipal user, Guid id, CannedReplyRequest request, CancellationToken cancellationToken)
    {
        var (shortcut, body) = Validate(request);
        var (reply, me, oldTeams) = await FindEditableAsync(user, id, cancellationToken);
        var teams = await ValidTeamsAsync(request, cancellationToken);
        var owner = OwnerFor(me, request.Shared, teams);
        await EnsureUniqueAsync(owner, shortcut, id, cancellationToken);
        var before = Snapshot(reply, oldTeams);
        reply.Shortcut = shortcut;
        reply.Body = body;
        reply.OwnerId = owner;
        reply.TeamsOnly = teams.Count > 0;
        reply.UpdatedAt = time.GetUtcNow().UtcDateTime;
        db.CannedReplyTeams.RemoveRange(await db.CannedReplyTeams.Where(t => t.CannedReplyId == id && !teams.Contains(t.TeamId)).ToListAsync(cancellationToken));
        db.CannedReplyTeams.AddRange(teams.Except(oldTeams).Select(t => new CannedReplyTeam { CannedReplyId = id, TeamId = t }));
        audit.Stage(user, "canned_reply.updated", "canned_reply", reply.Id.ToString(), Access.AuditLog.Change(before, Snapshot(reply, teams)));
        await db.SaveChangesAsync(cancellationToken);
        return ToDto(reply, me.UserId, teams, null);
    }

    public async Task DeleteAsync(ClaimsPrincipal user, Guid id, CancellationToken cancellationToken)
    {
        var (reply, _, teams) = await FindEditableAsync(user, id, cancellationToken);
        db.CannedReplies.Remove(reply);
        audit.Stage(user, "canned_reply.deleted", "canned_reply", reply.Id.ToString(), Access.AuditLog.Change(Snapshot(reply, teams), null));
        await db.SaveChangesAsync(cancellationToken);
    }

    /// <summary>What a body becomes when inserted: the management page's preview uses the one <see cref="Render"/>.</summary>
    public async Task<CannedPreviewDto> PreviewAsync(ClaimsPrincipal user, CannedPreviewRequest request, CancellationToken cancellationToken)
    {
        var body = ValidBody(request.Body);
        Dictionary<string, string?> variables;
        if (request.ConversationId is { } id)
        {
            variables = await VariablesAsync(user, id, cancellationToken);
        }
        else
        {
            var me = Me(user);
            var agent = await db.Users.AsNoTracking().Where(u => u.Id == me).Select(u => new { u.DisplayName, u.Email }).FirstOrDefaultAsync(cancellationToken);
            variables = new Dictionary<string, string?>
            {
                ["visitor.name"] = "Alex Chen",
                ["visitor.email"] = "alex@example.com",
                ["visitor.phone"] = "",
                ["agent.name"] = agent?.DisplayName,
                ["agent.email"] = agent?.Email,
            };
        }

        return new CannedPreviewDto(Render(body, variables), variables, request.ConversationId is null);
    }

    /// <summary>
    /// Expands <c>{{visitor.name}}</c>, <c>{{visitor.email}}</c>, <c>{{visitor.phone}}</c>, <c>{{agent.name}}</c>,
    /// <c>{{agent.email}}</c>; <c>{{visitor.name|there}}</c> gives a fallback for an empty value. Unknown variables stay as typed.
    /// </summary>
    public static string Render(string body, IReadOnlyDictionary<string, string?> variables) =>
        VariablePattern().Replace(body, m =>
        {
            var name = m.Groups[1].Value.ToLowerInvariant();
            if (!variables.TryGetValue(name, out var value))
            {
                return m.Value;
            }

            return string.IsNullOrWhiteSpace(value) ? (m.Groups[2].Success ? m.Groups[2].Value.Trim() : "") : value;
        });

    private async Task<Dictionary<string, string?>> VariablesAsync(ClaimsPrincipal user, Guid conversationId, CancellationToken cancellationToken)
    {
        var me = Me(user);
        var visible = await scope.VisibleConversationsAsync(user, cancellationToken);
        var contact = await (from c in visible
                             where c.Id == conversationId
                             join ct in db.Contacts on c.ContactId equals ct.Id
                             select new { ct.Name, ct.Email, ct.Phone }).FirstOrDefaultAsync(cancellationToken)
            ?? throw ParleyException.NotFound();
        var agent = await db.Users.AsNoTracking().Where(u => u.Id == me).Select(u => new { u.DisplayName, u.Email }).FirstOrDefaultAsync(cancellationToken);
        return new Dictionary<string, string?>
        {
            ["visitor.name"] = contact.Name,
            ["visitor.email"] = contact.Email,
            ["visitor.phone"] = contact.Phone,
            ["agent.name"] = agent?.DisplayName,
            ["agent.email"] = agent?.Email,
        };
    }

    private static object Snapshot(CannedReply r, IReadOnlyList<Guid> teams) => new { r.Shortcut, r.Body, shared = r.OwnerId is null, teamIds = teams };

    private static CannedReplyDto ToDto(CannedReply r, Guid me, IReadOnlyList<Guid> teams, string? rendered) =>
        new(r.Id, r.Shortcut, r.Body, r.OwnerId == null, r.OwnerId == me, rendered, r.TeamsOnly, r.TeamsOnly ? teams : []);

    /// <summary>A reply the user may see (the department sandbox: <see cref="Access.AccessPolicy.CannedReplies"/>) and change.</summary>
    private async Task<(CannedReply Reply, Access.AccessScope Scope, List<Guid> Teams)> FindEditableAsync(ClaimsPrincipal user, Guid id, CancellationToken cancellationToken)
    {
        var me = await access.ScopeAsync(Actor.Agent(user), cancellationToken);
        var reply = await access.CannedReplies(me).FirstOrDefaultAsync(r => r.Id == id, cancellationToken)
            ?? throw new ParleyException(ErrorCatalogue.CannedReplyNotFound);
        var teams = await db.CannedReplyTeams.AsNoTracking().Where(t => t.CannedReplyId == id).Select(t => t.TeamId).ToListAsync(cancellationToken);
        if (reply.OwnerId is null && !Access.AccessPolicy.CanManageSharedReply(me, reply.TeamsOnly ? teams : []))
        {
            throw new ParleyException(ErrorCatalogue.Forbidden, "Only supervisors and admins change shared canned replies, a supervisor those of his departments.");
        }

        return (reply, me, teams);
    }

    /// <summary>The departments a request limits its reply to: only for a shared reply, each an existing team, at most <see cref="MaxTeams"/>.</summary>
    private async Task<List<Guid>> ValidTeamsAsync(CannedReplyRequest request, CancellationToken cancellationToken)
    {
        var teams = (request.TeamIds ?? []).Distinct().ToList();
        if (teams.Count == 0)
        {
            return teams;
        }

        if (!request.Shared || teams.Count > MaxTeams || await db.Teams.CountAsync(t => teams.Contains(t.Id), cancellationToken) != teams.Count)
        {
            throw new ParleyException(ErrorCatalogue.CannedReplyTeamInvalid, "Only a shared reply can be limited to departments, and each must exist.");
        }

        return teams;
    }

    private async Task EnsureUniqueAsync(Guid? owner, string shortcut, Guid? except, CancellationToken cancellationToken)
    {
        if (await db.CannedReplies.AnyAsync(r => r.OwnerId == owner && r.Shortcut == shortcut && r.Id != except, cancellationToken))
        {
            throw new ParleyException(ErrorCatalogue.CannedReplyExists, $"A canned reply '/{shortcut}' already exists.");
        }
    }

    private static Guid? OwnerFor(Access.AccessScope scope, bool shared, IReadOnlyList<Guid> teams)
    {
        if (!shared)
        {
            return scope.UserId;
        }

        return Access.AccessPolicy.CanManageSharedReply(scope, teams)
            ? null
            : throw new ParleyException(ErrorCatalogue.Forbidden, "Only supervisors and admins share canned replies, a supervisor with his own departments.");
    }

    private static (string Shortcut, string Body) Validate(CannedReplyRequest request)
    {
        var shortcut = (request.Shortcut ?? "").Trim().TrimStart('/').ToLowerInvariant();
        if (!ShortcutPattern().IsMatch(shortcut))
        {
            throw new ParleyException(ErrorCatalogue.InvalidShortcut, "The shortcut must be 1-64 letters, digits, '-' or '_'.");
        }

        return (shortcut, ValidBody(request.Body));
    }

    private static string ValidBody(string? value)
    {
        var body = (value ?? "").Trim();
        if (body.Length == 0 || body.Length > MaxBodyLength)
        {
            throw new ParleyException(ErrorCatalogue.InvalidBody, $"The body must be 1-{MaxBodyLength} characters.");
        }

        return body;
    }

    private static Guid Me(ClaimsPrincipal user) => Actor.Agent(user).PrincipalId;

    internal static string EscapeLike(string value) =>
        value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("%", "\\%", StringComparison.Ordinal).Replace("_", "\\_", StringComparison.Ordinal);

    [GeneratedRegex(@"^[\p{L}\p{N}][\p{L}\p{N}_-]{0,63}$")]
    private static partial Regex ShortcutPattern();

    [GeneratedRegex(@"\{\{\s*([A-Za-z]+(?:\.[A-Za-z_]+)*)\s*(?:\|([^}]*))?\}\}")]
    private static partial Regex VariablePattern();
}
