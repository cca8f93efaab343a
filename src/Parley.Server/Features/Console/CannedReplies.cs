using System.Security.Claims;
using System.Text.RegularExpressions;
using Microsoft.EntityFrameworkCore;
using Parley.Data;
using Parley.Server.Features.Conversations;
using Parley.Server.Infrastructure;

namespace Parley.Server.Features.Console;

public sealed record CannedReplyDto(Guid Id, string Shortcut, string Body, bool Shared, bool Mine, string? Rendered);

public sealed record CannedReplyRequest(string? Shortcut, string? Body, bool Shared = false);

/// <summary>A body to expand: with a conversation, its visitor's values; without one, a sample visitor's.</summary>
public sealed record CannedPreviewRequest(string? Body, Guid? ConversationId = null);

/// <summary>The expanded text, the values used, and whether the visitor's were samples.</summary>
public sealed record CannedPreviewDto(string Rendered, IReadOnlyDictionary<string, string?> Variables, bool Sample);

/// <summary>Personal and shared canned replies, and the one place their variables are expanded.</summary>
public sealed partial class CannedReplyService(ParleyDbContext db, ConversationScope scope, Access.AuditLog audit, TimeProvider time)
{
    public const int MaxBodyLength = 4000;

    public async Task<List<CannedReplyDto>> ListAsync(ClaimsPrincipal user, string? q, Guid? conversationId, CancellationToken cancellationToken)
    {
        var me = Me(user);
        var query = db.CannedReplies.AsNoTracking().Where(r => r.OwnerId == null || r.OwnerId == me);
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

        return rows.ConvertAll(r => new CannedReplyDto(r.Id, r.Shortcut, r.Body, r.OwnerId == null, r.OwnerId == me, variables is null ? null : Render(r.Body, variables)));
    }

    public async Task<CannedReplyDto> CreateAsync(ClaimsPrincipal user, CannedReplyRequest request, CancellationToken cancellationToken)
    {
        var (shortcut, body) = Validate(request);
        var owner = OwnerFor(user, request.Shared);
        await EnsureUniqueAsync(owner, shortcut, null, cancellationToken);
        var now = time.GetUtcNow().UtcDateTime;
        var reply = new CannedReply { Id = Guid.CreateVersion7(), OwnerId = owner, Shortcut = shortcut, Body = body, CreatedAt = now, UpdatedAt = now };
        db.CannedReplies.Add(reply);
        audit.Stage(user, "canned_reply.created", "canned_reply", reply.Id.ToString(), Access.AuditLog.Change(null, Snapshot(reply)));
        await db.SaveChangesAsync(cancellationToken);
        return new CannedReplyDto(reply.Id, reply.Shortcut, reply.Body, owner is null, owner is not null, null);
    }

    public async Task<CannedReplyDto> UpdateAsync(ClaimsPrincipal user, Guid id, CannedReplyRequest request, CancellationToken cancellationToken)
    {
        var (shortcut, body) = Validate(request);
        var reply = await FindEditableAsync(user, id, cancellationToken);
        var owner = OwnerFor(user, request.Shared);
        await EnsureUniqueAsync(owner, shortcut, id, cancellationToken);
        var before = Snapshot(reply);
        reply.Shortcut = shortcut;
        reply.Body = body;
        reply.OwnerId = owner;
        reply.UpdatedAt = time.GetUtcNow().UtcDateTime;
        audit.Stage(user, "canned_reply.updated", "canned_reply", reply.Id.ToString(), Access.AuditLog.Change(before, Snapshot(reply)));
        await db.SaveChangesAsync(cancellationToken);
        return new CannedReplyDto(reply.Id, reply.Shortcut, reply.Body, owner is null, owner is not null, null);
    }

    public async Task DeleteAsync(ClaimsPrincipal user, Guid id, CancellationToken cancellationToken)
    {
        var reply = await FindEditableAsync(user, id, cancellationToken);
        db.CannedReplies.Remove(reply);
        audit.Stage(user, "canned_reply.deleted", "canned_reply", reply.Id.ToString(), Access.AuditLog.Change(Snapshot(reply), null));
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

    private static object Snapshot(CannedReply r) => new { r.Shortcut, r.Body, shared = r.OwnerId is null };

    private async Task<CannedReply> FindEditableAsync(ClaimsPrincipal user, Guid id, CancellationToken cancellationToken)
    {
        var me = Me(user);
        var reply = await db.CannedReplies.FirstOrDefaultAsync(r => r.Id == id && (r.OwnerId == null || r.OwnerId == me), cancellationToken)
            ?? throw new ParleyException(ErrorCatalogue.CannedReplyNotFound);
        if (reply.OwnerId is null && !CanManageShared(user))
        {
            throw new ParleyException(ErrorCatalogue.Forbidden, "Only supervisors and admins change shared canned replies.");
        }

        return reply;
    }

    private async Task EnsureUniqueAsync(Guid? owner, string shortcut, Guid? except, CancellationToken cancellationToken)
    {
        if (await db.CannedReplies.AnyAsync(r => r.OwnerId == owner && r.Shortcut == shortcut && r.Id != except, cancellationToken))
        {
            throw new ParleyException(ErrorCatalogue.CannedReplyExists, $"A canned reply '/{shortcut}' already exists.");
        }
    }

    private static Guid? OwnerFor(ClaimsPrincipal user, bool shared)
    {
        if (!shared)
        {
            return Me(user);
        }

        return CanManageShared(user)
            ? null
            : throw new ParleyException(ErrorCatalogue.Forbidden, "Only supervisors and admins create shared canned replies.");
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

    private static bool CanManageShared(ClaimsPrincipal user) => user.IsInRole("admin") || user.IsInRole("supervisor");

    private static Guid Me(ClaimsPrincipal user) => Actor.Agent(user).PrincipalId;

    internal static string EscapeLike(string value) =>
        value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("%", "\\%", StringComparison.Ordinal).Replace("_", "\\_", StringComparison.Ordinal);

    [GeneratedRegex(@"^[\p{L}\p{N}][\p{L}\p{N}_-]{0,63}$")]
    private static partial Regex ShortcutPattern();

    [GeneratedRegex(@"\{\{\s*([A-Za-z]+(?:\.[A-Za-z_]+)*)\s*(?:\|([^}]*))?\}\}")]
    private static partial Regex VariablePattern();
}
