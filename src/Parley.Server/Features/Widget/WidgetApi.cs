using System.ComponentModel.DataAnnotations;
using System.Net;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using Parley.Data;
using Parley.Server.Infrastructure;
using Parley.Server.Messaging;

namespace Parley.Server.Features.Widget;

public sealed record WidgetSessionRequest(
    [property: Required, MaxLength(64)] string SiteKey,
    [property: MaxLength(512)] string? VisitorToken,
    WidgetUser? User = null,
    VisitorPage? Page = null,
    bool Offline = false);

public sealed record WidgetSite(string Key, string Name);

public sealed record WidgetSessionResponse(
    string VisitorToken,
    Guid ContactId,
    WidgetSite Site,
    ConversationInfo? Conversation,
    WidgetPublicSettings Settings,
    VisitorProfile Profile);

public static class WidgetApi
{
    public const string SessionRateLimit = "widget-session";
    public const string ConnectRateLimit = "visitor-connect";
    public const string UploadRateLimit = "visitor-upload";
    public const string OfflineRateLimit = "visitor-offline";
    public const string TranscriptRateLimit = "visitor-transcript";

    public static IEndpointRouteBuilder MapWidgetApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/v1/widget").WithTags("Widget").WithParleyErrors();
        api.MapPost("/session", CreateSessionAsync)
            .WithName("CreateWidgetSession")
            .WithSummary("Start or resume a visitor session")
            .WithDescription("Returns a visitor token for the site (a new visitor when the given token is missing, invalid or for another site) and the visitor's open conversation, if any.")
            .AllowAnonymous()
            .RequireRateLimiting(SessionRateLimit);

        app.MapGet("/chat/{siteKey}", ServeChatPage).ExcludeFromDescription();
        app.MapGet("/demo", ServeDemoPageAsync).ExcludeFromDescription();
        return app;
    }

    internal static async Task<Results<Ok<WidgetSessionResponse>, ProblemHttpResult>> CreateSessionAsync(
        WidgetSessionRequest request,
        ParleyDbContext db,
        VisitorTokens tokens,
        VisitorProfiles profiles,
        WidgetSessionFacts facts,
        Access.SiteOrigins origins,
        HttpContext http,
        TimeProvider time,
        Metrics.LoadGovernor governor,
        CancellationToken cancellationToken)
    {
        var site = await db.Sites.AsNoTracking().FirstOrDefaultAsync(s => s.Key == request.SiteKey, cancellationToken);
        if (site is null)
        {
            return Problems.Create(ErrorCatalogue.SiteNotFound, "Unknown site key.");
        }

        try
        {
            // The one visitor endpoint that names its site in the body, so the transport middleware cannot check it.
            Access.SiteOrigins.Require(http, await origins.ForSiteAsync(site.Id, cancellationToken) ?? Access.SiteOriginList.Parse(site.AllowedOrigins));
        }
        catch (ParleyException ex)
        {
            return Problems.From(ex);
        }

        var now = time.GetUtcNow().UtcDateTime;
        var settings = WidgetSettings.Of(site);
        Contact? contact = null;
        if (tokens.Validate(request.VisitorToken) is { } known && known.SiteId == site.Id)
        {
            contact = await db.Contacts.FirstOrDefaultAsync(c => c.Id == known.ContactId && c.SiteId == site.Id, cancellationToken);
        }

        if (contact is null)
        {
            // Under overload new anonymous visitors are asked to come back (the widget offers the offline form);
            // returning visitors keep their session, and so does a visitor submitting that form (offline: true).
            if (!request.Offline && governor.ShouldShed(Metrics.Sheddable.NewWidgetSessions))
            {
                http.Response.Headers.RetryAfter = governor.RetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
                return Problems.Create(ErrorCatalogue.Overloaded, "The service is busy; leave a message or retry later.");
            }

            contact = new Contact { Id = Guid.CreateVersion7(), SiteId = site.Id, CreatedAt = now, LastSeenAt = now };
            contact.Name = VisitorProfiles.GeneratedName(contact.Id);
            db.Contacts.Add(contact);
        }
        else
        {
            contact.LastSeenAt = now;
        }

        var step = false;
        try
        {
            if (request.User is { } user)
            {
                contact = await profiles.ApplyUserAsync(site, contact, user, settings, cancellationToken);
            }

            if (request.Page is { } page)
            {
                step = profiles.ApplyPage(contact, page, http.Request.Headers.UserAgent.ToString(), http.Connection.RemoteIpAddress);
            }
        }
        catch (ParleyException ex)
        {
            return Problems.From(ex);
        }

        await db.SaveChangesAsync(cancellationToken);
        if (step)
        {
            await profiles.PruneTrailAsync(contact.Id, cancellationToken);
        }

        var open = await db.Conversations.AsNoTracking()
            .FirstOrDefaultAsync(c => c.ContactId == contact.Id && c.Status != ConversationStatus.Closed, cancellationToken);
        if (open is not null && request.Page is not null && VisitorProfiles.PageOf(contact) is { } tracked)
        {
            facts.PageChanged(open.Id, tracked);
        }

        return TypedResults.Ok(new WidgetSessionResponse(
            tokens.Issue(site.Id, contact.Id),
            contact.Id,
            new WidgetSite(site.Key, site.Name),
            open is null ? null : ConversationInfo.From(open),
            await facts.PublicSettingsAsync(site, settings, cancellationToken),
            VisitorProfiles.ProfileOf(contact, settings)));
    }

    private static IResult ServeChatPage(string siteKey, IWebHostEnvironment env) =>
        env.WebRootFileProvider.GetFileInfo("widget/index.html") is { Exists: true } file
            ? Results.Stream(file.CreateReadStream(), "text/html; charset=utf-8")
            : Results.Problem(statusCode: StatusCodes.Status503ServiceUnavailable, title: "Web assets are not built.");

    private static async Task<IResult> ServeDemoPageAsync(string? site, ParleyDbContext db, Microsoft.Extensions.Options.IOptions<WidgetOptions> options, IHostEnvironment environment, CancellationToken cancellationToken)
    {
        if (!Web.WebOptions.Enabled(options.Value.DemoPage, environment))
        {
            return Results.NotFound();
        }

        var key = site ?? await db.Sites.AsNoTracking().OrderBy(s => s.CreatedAt).Select(s => s.Key).FirstOrDefaultAsync(cancellationToken);
        if (key is null || !await db.Sites.AnyAsync(s => s.Key == key, cancellationToken))
        {
            return Results.NotFound();
        }

        var encoded = WebUtility.HtmlEncode(key);
        var html = $$"""
            <!doctype html>
            <html lang="en">
            <head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
            <title>Parley demo page</title>
            <link rel="icon" type="image/svg+xml" href="data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 32 32'%3E%3Cpath fill='%232563eb' d='M7 4h18a5 5 0 0 1 5 5v11a5 5 0 0 1-5 5H15l-7 6v-6H7a5 5 0 0 1-5-5V9a5 5 0 0 1 5-5z'/%3E%3Ccircle fill='%23fff' cx='10' cy='14.5' r='2'/%3E%3Ccircle fill='%23fff' cx='16' cy='14.5' r='2'/%3E%3Ccircle fill='%23fff' cx='22' cy='14.5' r='2'/%3E%3C/svg%3E">
            <style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;line-height:1.5;color:#222}
            pre{white-space:pre-wrap;overflow-wrap:anywhere}</style></head>
            <body>
            <h1>Parley demo page</h1>
            <p>This page embeds the Parley widget exactly as a customer site would. Open the chat button in the corner,
            write a message, and answer it from the <a href="/console/">agent console</a>.</p>
            <pre>&lt;script src="/widget.js" data-site="{{encoded}}" async&gt;&lt;/script&gt;</pre>
            <script src="/widget.js" data-site="{{encoded}}" async></script>
            </body></html>
            """;
        return Results.Content(html, "text/html; charset=utf-8");
    }
}
