using System.Security.Claims;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using Parley.Data;
using Parley.Server.Features.Access;
using Parley.Server.Features.Integration;
using Parley.Server.Infrastructure;
using Parley.Server.Messaging;

namespace Parley.Server.Features.Privacy;

/// <summary>A site's retention period: <c>days</c> null keeps closed conversations for ever; mode is <c>delete</c> or <c>anonymise</c>.</summary>
public sealed record RetentionSettingsDto(int? Days, string? Mode);

/// <summary>Retention per site and a contact's export, erasure and merge (docs/privacy.md).</summary>
public static class PrivacyApi
{
    public const int MaxRetentionDays = 3650;

    public static IEndpointRouteBuilder MapPrivacyApi(this IEndpointRouteBuilder app)
    {
        var sites = app.MapGroup("/api/v1/sites").WithTags("Sites").RequireAuthorization(ParleyClaims.AdminPolicy).WithParleyErrors();
        sites.MapGet("/{id:guid}/retention", GetRetentionAsync).WithName("GetSiteRetention").WithSummary("The site's retention period (admin)");
        sites.MapPut("/{id:guid}/retention", PutRetentionAsync).WithName("PutSiteRetention")
            .WithSummary("Set the site's retention period (admin)")
            .WithDescription($"days: 1 to {MaxRetentionDays}, or null to keep closed conversations for ever. mode: delete (conversation, messages and attachments go) or anonymise (the conversation stays for reports; message text, attachments and rating comments go). Applied by a background job, audited as retention.applied.");

        var contacts = app.MapGroup("/api/v1/contacts").WithTags("Contacts").WithParleyErrors();
        contacts.MapGet("/{id:guid}/export", ExportAsync).WithName("ExportContact").RequireAuthorization(ParleyClaims.SupervisorPolicy)
            .WithSummary("Everything held about a contact, as a zip (supervisors and admins)")
            .WithDescription("contact.json (profile, notes, page trail, business events, conversations with messages and ratings) and attachments/{id}/{name}. Streamed; audited as contact.exported. Conversations outside the caller's departments are left out.")
            .Produces(StatusCodes.Status200OK, contentType: "application/zip");
        contacts.MapPost("/{id:guid}/erase", EraseAsync).WithName("EraseContact").RequireAuthorization(ParleyClaims.AdminPolicy)
            .WithSummary("Erase a contact (admin): right to erasure")
            .WithDescription("Open conversations are closed first; then message text, attachments (files too), rating comments, notes, page trail and business events are removed, integration event payloads redacted and the profile cleared. The conversations stay, anonymised, for reports. Audited as contact.erased.");
        contacts.MapPost("/{id:guid}/merge", MergeAsync).WithName("MergeContact").RequireAuthorization(ParleyClaims.SupervisorPolicy)
            .WithSummary("Merge another contact into this one (supervisors and admins)")
            .WithDescription("Both histories are kept under this contact; empty profile fields are filled from the other, which is removed. 400 contacts_different_sites when they belong to different sites. Audited as contact.merged.");
        return app;
    }

    internal static async Task<Ok<RetentionSettingsDto>> GetRetentionAsync(Guid id, ParleyDbContext db, CancellationToken cancellationToken) =>
        TypedResults.Ok(ToDto(await db.Sites.AsNoTracking().FirstOrDefaultAsync(s => s.Id == id, cancellationToken) ?? throw new ParleyException(ErrorCatalogue.SiteNotFound)));

    internal static async Task<Ok<RetentionSettingsDto>> PutRetentionAsync(
        Guid id, RetentionSettingsDto request, ParleyDbContext db, AuditLog audit, ClaimsPrincipal user, CancellationToken cancellationToken)
    {
        if (request.Days is < 1 or > MaxRetentionDays)
        {
            throw new ParleyException(ErrorCatalogue.InvalidRetention, $"days must be between 1 and {MaxRetentionDays}, or null to keep conversations.");
        }

        var mode = request.Mode switch
        {
            null or "" or "delete" => RetentionMode.Delete,
            "anonymise" => RetentionMode.Anonymise,
            _ => throw new ParleyException(ErrorCatalogue.InvalidRetention, "mode must be delete or anonymise."),
        };
        var site = await db.Sites.FirstOrDefaultAsync(s => s.Id == id, cancellationToken) ?? throw new ParleyException(ErrorCatalogue.SiteNotFound);
        var before = ToDto(site);
        site.RetentionDays = request.Days;
        site.RetentionMode = mode;
        audit.Stage(user, "site.retention_changed", "site", id.ToString(), AuditLog.Change(before, ToDto(site)));
        await db.SaveChangesAsync(cancellationToken);
        return TypedResults.Ok(ToDto(site));
    }

    internal static async Task<PushStreamHttpResult> ExportAsync(Guid id, ContactPrivacy privacy, AuditLog audit, ClaimsPrincipal user, HttpContext http, CancellationToken cancellationToken)
    {
        // ZipArchive flushes a finished entry with a synchronous write even on its async path (.NET 10); this one
        // response may block a thread on it rather than be buffered whole.
        http.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpBodyControlFeature>()!.AllowSynchronousIO = true;
        var actor = Actor.Agent(user);
        var contact = await privacy.RequireAsync(actor, id, cancellationToken);
        await audit.RecordAsync(user, "contact.exported", "contact", id.ToString(), new { siteId = contact.SiteId }, cancellationToken);
        return TypedResults.Stream(stream => privacy.WriteExportAsync(actor, contact, stream, cancellationToken), "application/zip", $"contact-{id:N}.zip");
    }

    internal static async Task<Ok<ErasureResult>> EraseAsync(Guid id, ContactPrivacy privacy, ClaimsPrincipal user, CancellationToken cancellationToken) =>
        TypedResults.Ok(await privacy.EraseAsync(Actor.Agent(user), id, cancellationToken));

    internal static async Task<Ok<ContactDto>> MergeAsync(Guid id, MergeContactRequest request, ContactPrivacy privacy, ClaimsPrincipal user, CancellationToken cancellationToken) =>
        TypedResults.Ok(await privacy.MergeAsync(Actor.Agent(user), id, request.ContactId, cancellationToken));

    private static RetentionSettingsDto ToDto(Site site) =>
        new(site.RetentionDays, site.RetentionMode == RetentionMode.Anonymise ? "anonymise" : "delete");
}
