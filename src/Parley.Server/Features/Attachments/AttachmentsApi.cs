using System.Security.Claims;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Net.Http.Headers;
using Parley.Server.Infrastructure;
using Parley.Server.Messaging;

namespace Parley.Server.Features.Attachments;

public static class AttachmentsApi
{
    public static IEndpointRouteBuilder MapAttachmentsApi(this IEndpointRouteBuilder app)
    {
        app.MapGroup("/api/v1/conversations").WithTags("Attachments").RequireAuthorization(ParleyClaims.AgentPolicy).WithParleyErrors()
            .MapPost("/{id:guid}/attachments", UploadAsAgentAsync)
            .WithName("UploadAttachment")
            .WithSummary("Send a file as the signed-in agent")
            .WithDescription("The request body is the file's bytes; query: name (display name) and clientId (UUID, makes retries idempotent). The type is decided from the file's first bytes: PNG, JPEG, GIF, WebP, PDF, ZIP or plain text; anything else is refused with attachment_type_not_allowed.")
            .Accepts<Stream>("application/octet-stream");

        app.MapGroup("/api/v1/widget/conversations").WithTags("Widget").RequireAuthorization(ParleyClaims.VisitorPolicy).WithParleyErrors()
            .MapPost("/{id:guid}/attachments", UploadAsVisitorAsync)
            .WithName("UploadVisitorAttachment")
            .WithSummary("Send a file as the visitor (visitor token as Bearer)")
            .RequireRateLimiting(Widget.WidgetApi.UploadRateLimit)
            .WithDescription("Same rules as UploadAttachment.")
            .Accepts<Stream>("application/octet-stream");

        app.MapGroup("/api/v1/attachments").WithTags("Attachments").WithParleyErrors()
            .MapGet("/{id:guid}", DownloadAsync)
            .WithName("DownloadAttachment")
            .WithSummary("Download an attachment")
            .WithDescription("k is the access key from the attachment message. Raster images whose bytes still check out are served inline; everything else as a download. Always with X-Content-Type-Options: nosniff and a sandboxing CSP.")
            .AllowAnonymous();
        return app;
    }

    internal static async Task<Ok<SendAck>> UploadAsAgentAsync(Guid id, string? name, string? clientId, HttpRequest request, ClaimsPrincipal user, AttachmentService attachments, CancellationToken cancellationToken) =>
        TypedResults.Ok(await attachments.UploadAsync(Actor.Agent(user), id, clientId, name, request.Body, request.ContentLength, cancellationToken));

    internal static async Task<Ok<SendAck>> UploadAsVisitorAsync(Guid id, string? name, string? clientId, HttpRequest request, ClaimsPrincipal user, AttachmentService attachments, CancellationToken cancellationToken)
    {
        var actor = Actor.Visitor(user.VisitorContactId() ?? Guid.Empty, user.VisitorSiteId() ?? Guid.Empty);
        return TypedResults.Ok(await attachments.UploadAsync(actor, id, clientId, name, request.Body, request.ContentLength, cancellationToken));
    }

    internal static async Task<Results<FileStreamHttpResult, ProblemHttpResult>> DownloadAsync(Guid id, string? k, AttachmentService attachments, HttpContext http, CancellationToken cancellationToken)
    {
        // Console users (session cookie or API token) are held to the department sandbox as well as the key.
        var console = await http.AuthenticateAsync(ParleyClaims.ConsoleScheme);
        var consoleUser = console.Succeeded && console.Principal.UserId() is not null ? Actor.Agent(console.Principal) : (Actor?)null;
        if (await attachments.OpenAsync(id, k, consoleUser, cancellationToken) is not { } found)
        {
            return Problems.Create(ErrorCatalogue.AttachmentNotFound, "No such attachment.");
        }

        var (attachment, content) = found;

        // Re-check the stored bytes before serving anything inline: only a raster image that still is one.
        var head = new byte[64];
        var read = await content.ReadAtLeastAsync(head, head.Length, throwOnEndOfStream: false, cancellationToken);
        if (content.CanSeek)
        {
            content.Seek(0, SeekOrigin.Begin); // a file: ranges work
        }
        else
        {
            content = new PrefixedStream(head.AsMemory(0, read), content, ownsRest: true); // a bucket's body: served whole
        }

        var detected = FileTypes.Detect(head.AsSpan(0, read));
        var inline = detected is { IsRasterImage: true } && detected.ContentType == attachment.ContentType;

        var headers = http.Response.Headers;
        headers.XContentTypeOptions = "nosniff";
        headers.ContentSecurityPolicy = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox";
        headers.CacheControl = "private, max-age=86400";
        var disposition = new ContentDispositionHeaderValue(inline ? "inline" : "attachment");
        disposition.SetHttpFileName(attachment.FileName);
        headers.ContentDisposition = disposition.ToString();
        return TypedResults.Stream(content, inline ? attachment.ContentType : attachment.ContentType == "text/plain" ? "text/plain; charset=utf-8" : attachment.ContentType, enableRangeProcessing: true);
    }
}
