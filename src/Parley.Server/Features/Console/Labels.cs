using System.Security.Claims;
using System.Text.RegularExpressions;
using Microsoft.EntityFrameworkCore;
using Parley.Data;
using Parley.Server.Events;
using Parley.Server.Features.Conversations;
using Parley.Server.Infrastructure;

namespace Parley.Server.Features.Console;

public sealed record LabelDto(Guid Id, string Name, string Color);

public sealed record LabelRequest(string? Name, string? Color);

public sealed record ConversationLabelsRequest(IReadOnlyList<Guid>? LabelIds);

public sealed record ConversationLabelsDto(Guid ConversationId, IReadOnlyList<Guid> LabelIds);

public sealed partial class LabelService(ParleyDbContext db, ConversationScope scope, DomainEvents events, Access.AuditLog audit, TimeProvider time)
{
    public Task<List<LabelDto>> ListAsync(CancellationToken cancellationToken) =>
        db.Labels.AsNoTracking().OrderBy(l => l.Name).Select(l => new LabelDto(l.Id, l.Name, l.Color)).ToListAsync(cancellationToken);

    public async Task<LabelDto> CreateAsync(LabelRequest request, CancellationToken cancellationToken)
    {
        var name = (request.Name ?? "").Trim();
        if (name.Length is 0 or > 64)
        {
            throw new ParleyException(ErrorCatalogue.InvalidName, "The label name must be 1-64 characters.");
        }

        var color = string.IsNullOrWhiteSpace(request.Color) ? "#2563eb" : request.Color.Trim().ToLowerInvariant();
        if (!ColorPattern().IsMatch(color))
        {
            throw new ParleyException(ErrorCatalogue.InvalidColor, "The colour must be a hex colour like #2563eb.");
        }

        if (await db.Labels.AnyAsync(l => l.Name == name, cancellationToken))
        {
            throw new ParleyException(ErrorCatalogue.LabelExists, $"A label '{name}' already exists.");
        }

        var label = new Label { Id = Guid.CreateVersion7(), Name = name, Color = color, CreatedAt = time.GetUtcNow().UtcDateTime };
        db.Labels.Add(label);
        audit.StageByCaller("label.created", "label", label.Id.ToString(), Access.AuditLog.Change(null, new { label.Name, label.Color }));
        await db.SaveChangesAsync(cancellationToken);
        return new LabelDto(label.Id, label.Name, label.Color);
    }

    public async Task DeleteAsync(ClaimsPrincipal user, Guid id, CancellationToken cancellationToken)
    {
        if (!user.IsInRole("admin") && !user.IsInRole("supervisor"))
        {
            throw new ParleyException(ErrorCatalogue.Forbidden, "Only supervisors and admins delete labels.");
        }

        var label = await db.Labels.AsNoTracking().FirstOrDefaultAsync(l => l.Id == id, cancellationToken);
        if (label is null || await db.Labels.Where(l => l.Id == id).ExecuteDeleteAsync(cancellationToken) == 0)
        {
            throw new ParleyException(ErrorCatalogue.LabelNotFound);
        }

        await audit.RecordAsync(user, "label.deleted", "label", id.ToString(), Access.AuditLog.Change(new { label.Name, label.Color }, null), cancellationToken);
    }

    /// <summary>Replaces the conversation's labels with the given set.</summary>
    public async Task<ConversationLabelsDto> SetAsync(ClaimsPrincipal user, Guid conversationId, IReadOnlyList<Guid> labelIds, CancellationToken cancellationToken)
    {
        await scope.RequireAsync(user, conversationId, Access.ConversationAction.ChangeStatus, cancellationToken);

        var wanted = labelIds.Distinct().ToList();
        if (wanted.Count > 50)
        {
            throw new ParleyException(ErrorCatalogue.TooManyLabels, "At most 50 labels per conversation.");
        }

        var known = await db.Labels.Where(l => wanted.Contains(l.Id)).Select(l => l.Id).ToListAsync(cancellationToken);
        if (known.Count != wanted.Count)
        {
            throw new ParleyException(ErrorCatalogue.LabelNotFound);
        }

        var current = await db.ConversationLabels.Where(l => l.ConversationId == conversationId).ToListAsync(cancellationToken);
        db.ConversationLabels.RemoveRange(current.Where(c => !wanted.Contains(c.LabelId)));
        db.ConversationLabels.AddRange(wanted.Where(w => current.All(c => c.LabelId != w)).Select(w => new ConversationLabel { ConversationId = conversationId, LabelId = w }));
        try
        {
            await db.SaveChangesAsync(cancellationToken);
        }
        catch (DbUpdateException)
        {
            throw new ParleyException(ErrorCatalogue.Conflict, "The labels changed meanwhile; try again.");
        }

        events.Publish(new ConversationLabelsChanged(conversationId, wanted));
        return new ConversationLabelsDto(conversationId, wanted);
    }

    [GeneratedRegex("^#[0-9a-f]{6}$")]
    private static partial Regex ColorPattern();
}
