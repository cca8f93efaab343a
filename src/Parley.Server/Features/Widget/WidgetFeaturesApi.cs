using System.ComponentModel.DataAnnotations;
using System.Security.Claims;
using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Protocol;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Parley.Data;
using Parley.Server.Events;
using Parley.Server.Features.Attachments;
using Parley.Server.Features.Conversations;
using Parley.Server.Features.Transcripts;
using Parley.Server.Infrastructure;
using Parley.Server.Messaging;
using Parley.Server.Realtime;

namespace Parley.Server.Features.Widget;

public sealed record OfflineMessageRequest(
    [property: MaxLength(200)] string? Name,
    [property: MaxLength(256)] string? Email,
    [property: MaxLength(64)] string? Phone,
    Dictionary<string, string>? Fields,
    string? Message,
    string? ClientId);

public sealed record OfflineMessageResponse(ConversationInfo Conversation, SendAck Ack);

public sealed record TranscriptRequest([property: MaxLength(256)] string? Email);

/// <summary>Admin view of a site's widget settings (with the allowed origins kept on the site itself).</summary>
public sealed record WidgetSettingsDto(WidgetSettings Settings, IReadOnlyList<string> AllowedOrigins);

/// <summary>What agents see about the visitor of a conversation: profile, attributes, the page they are on and where they are.</summary>
[MessagePack.MessagePackObject]
public sealed record VisitorContextDto
{
    [MessagePack.Key("conversationId")] public Guid ConversationId { get; init; }

    [MessagePack.Key("contactId")] public Guid ContactId { get; init; }

    [MessagePack.Key("name")] public string? Name { get; init; }

    [MessagePack.Key("email")] public string? Email { get; init; }

    [MessagePack.Key("phone")] public string? Phone { get; init; }

    /// <summary>The site's own user id, present only when it was verified (identity verification).</summary>
    [MessagePack.Key("externalId")] public string? ExternalId { get; init; }

    [MessagePack.Key("attributes")] public Dictionary<string, string>? Attributes { get; init; }

    [MessagePack.Key("page")] public VisitorPage? Page { get; init; }

    /// <summary>The pages the visitor opened, newest first (at most 20; the current page is the first).</summary>
    [MessagePack.Key("trail")] public IReadOnlyList<PageViewDto> Trail { get; init; } = [];

    [MessagePack.Key("lastSeenAt")] public DateTime LastSeenAt { get; init; }
}

/// <summary>Live facts that go with a widget session, and the page-change signal to agents.</summary>
public sealed class WidgetSessionFacts(IAgentAvailability availability, TranscriptMailer transcripts, IOptions<AttachmentOptions> attachments, DomainEvents events, ParleyDbContext db)
{
    public async Task<WidgetPublicSettings> PublicSettingsAsync(Site site, WidgetSettings settings, CancellationToken cancellationToken) => new(
        settings.Color,
        settings.Greeting,
        settings.Position,
        settings.PreChatFields,
        settings.OfflineForm,
        await DepartmentsAsync(settings, cancellationToken),
        settings.IdentityRequired,
        await availability.IsAvailableAsync(site.Id, cancellationToken),
        transcripts.Enabled,
        attachments.Value.MaxBytes,
        settings.BotFirst);

    /// <summary>The site's departments that still exist, in the order the admin chose them.</summary>
    private async Task<IReadOnlyList<DepartmentOption>> DepartmentsAsync(WidgetSettings settings, CancellationToken cancellationToken)
    {
        if (settings.Departments.Count == 0)
        {
            return [];
        }

        var ids = settings.Departments.ToList();
        var names = await db.Teams.AsNoTracking().Where(t => ids.Contains(t.Id)).ToDictionaryAsync(t => t.Id, t => t.Name, cancellationToken);
        return [.. ids.Where(names.ContainsKey).Select(id => new DepartmentOption(id, names[id]))];
    }

    public void PageChanged(Guid conversationId, VisitorPage page) => events.Publish(new VisitorPageChanged(conversationId, page));
}

/// <summary>Pushes <c>visitorPage</c> to the agents watching the conversation.</summary>
internal sealed class VisitorPageFanout(ConnectionRegistry registry) : IDomainEventListener<VisitorPageChanged>
{
    public void Handle(VisitorPageChanged domainEvent)
    {
        SerializedHubMessage? message = null;
        foreach (var connection in registry.SubscribersOf(domainEvent.ConversationId))
        {
            if (connection.Audience == Audience.Agent)
            {
                message ??= new SerializedHubMessage(new InvocationMessage("visitorPage", [new { conversationId = domainEvent.ConversationId, page = domainEvent.Page }]));
                connection.Enqueue(message);
            }
        }
    }
}

public static class WidgetFeaturesApi
{
    public static IEndpointRouteBuilder MapWidgetFeaturesApi(this IEndpointRouteBuilder app)
    {
        var visitor = app.MapGroup("/api/v1/widget").WithTags("Widget").RequireAuthorization(ParleyClaims.VisitorPolicy).WithParleyErrors();
        visitor.MapPost("/profile", UpdateProfileAsync).WithName("UpdateVisitorProfile")
            .WithSummary("Pre-chat form answers (visitor token as Bearer)")
            .WithDescription("Required fields of the site's pre-chat form must be present (field_required); email and phone are checked (invalid_email, invalid_phone).");
        visitor.MapPost("/page", TrackPageAsync).WithName("TrackVisitorPage")
            .WithSummary("The visitor moved to another page without a reload (single-page apps)")
            .WithDescription("Stores the page for agents and pushes visitorPage to the agents watching the visitor's open conversation.");
        visitor.MapPost("/offline", LeaveOfflineMessageAsync).WithName("LeaveOfflineMessage")
            .WithSummary("Offline form: leave a message and an email address")
            .WithDescription("Stores the message in the visitor's conversation through the normal message path (idempotent by clientId), so agents find it in the inbox. offline_pending (409) while the visitor's previous message is unanswered (Parley:Widget:OfflinePendingHours); rate_limited (429) per visitor and per client IP.")
            .RequireRateLimiting(WidgetApi.OfflineRateLimit);
        visitor.MapGet("/conversations/{id:guid}/messages", VisitorMessagesAsync).WithName("ListVisitorMessages")
            .WithSummary("The visitor's history of one of their conversations (visitor token as Bearer)")
            .WithDescription("In the visitor's numbering (seq skips internal notes, which are never included), as after a truncated replay. "
                + "Without parameters: the newest page. beforeSeq pages backwards, afterSeq forwards. limit is at most 200.");
        visitor.MapPost("/conversations/{id:guid}/transcript", SendTranscriptAsync).WithName("SendTranscript")
            .WithSummary("Email the conversation to the visitor, after they confirm the address")
            .WithDescription("Only the visitor's own closed conversation (conversation_open, 409). Mails a confirmation link to the given address or the contact's; the transcript follows when the link is opened. rate_limited (429) per visitor and client IP; transcript_unavailable (404) when no SMTP server is configured.")
            .RequireRateLimiting(WidgetApi.TranscriptRateLimit);
        app.MapGroup("/api/v1/widget/transcripts").WithTags("Widget").WithParleyErrors()
            .MapGet("/confirm", ConfirmTranscriptAsync).WithName("ConfirmTranscript").AllowAnonymous()
            .WithSummary("The link in the transcript confirmation mail: sends the transcript")
            .WithDescription("confirmation_invalid (400) when the link is forged or expired.")
            .RequireRateLimiting(WidgetApi.TranscriptRateLimit);

        var agents = app.MapGroup("/api/v1").RequireAuthorization(ParleyClaims.AgentPolicy).WithParleyErrors();
        agents.MapGet("/conversations/{id:guid}/visitor", VisitorContextAsync).WithTags("Conversations").WithName("GetVisitorContext")
            .WithSummary("The visitor of a conversation: profile, attributes, current page, browser, language and time zone")
            .WithDescription("page.location (country, region, city, time zone from the client IP) is present when the server has a GeoIP database (Parley:GeoIp:DatabasePath) and the address is in it.");
        agents.MapGet("/sites/{id:guid}/widget-settings", GetSettingsAsync).WithTags("Sites").WithName("GetWidgetSettings")
            .WithSummary("A site's widget settings");
        agents.MapPut("/sites/{id:guid}/widget-settings", PutSettingsAsync).WithTags("Sites").WithName("PutWidgetSettings")
            .WithSummary("Replace a site's widget settings (admins)")
            .WithDescription("invalid_settings names the first bad value; allowedOrigins are origins like https://shop.example (empty allows any).")
            .RequireAuthorization(p => p.RequireRole("admin"));
        return app;
    }

    internal static async Task<Ok<VisitorProfile>> UpdateProfileAsync(ProfileRequest request, ClaimsPrincipal user, ParleyDbContext db, VisitorProfiles profiles, CancellationToken cancellationToken)
    {
        var (contact, settings) = await LoadVisitorAsync(user, db, cancellationToken);
        profiles.ApplyProfile(contact, request, settings);
        await db.SaveChangesAsync(cancellationToken);
        return TypedResults.Ok(VisitorProfiles.ProfileOf(contact, settings));
    }

    internal static async Task<NoContent> TrackPageAsync(
        VisitorPage page, ClaimsPrincipal user, HttpContext http, ParleyDbContext db, VisitorProfiles profiles, WidgetSessionFacts facts, Metrics.LoadGovernor governor, CancellationToken cancellationToken)
    {
        if (governor.ShouldShed(Metrics.Sheddable.PageTracking))
        {
            return TypedResults.NoContent(); // optional under load
        }

        var (contact, _) = await LoadVisitorAsync(user, db, cancellationToken);
        var step = profiles.ApplyPage(contact, page, http.Request.Headers.UserAgent.ToString(), http.Connection.RemoteIpAddress);
        await db.SaveChangesAsync(cancellationToken);
        if (step)
        {
            await profiles.PruneTrailAsync(contact.Id, cancellationToken);
        }

        var open = await db.Conversations.AsNoTracking().Where(c => c.ContactId == contact.Id && c.Status != ConversationStatus.Closed)
            .Select(c => (Guid?)c.Id).FirstOrDefaultAsync(cancellationToken);
        if (open is { } id && VisitorProfiles.PageOf(contact) is { } tracked)
        {
            facts.PageChanged(id, tracked);
        }

        return TypedResults.NoContent();
    }

    internal static async Task<Ok<OfflineMessageResponse>> LeaveOfflineMessageAsync(
        OfflineMessageRequest request, ClaimsPrincipal user, ParleyDbContext db, VisitorProfiles profiles, ConversationService conversations, MessageService messages,
        VisitorActionLimits limits, IOptions<WidgetOptions> options, TimeProvider time, CancellationToken cancellationToken)
    {
        var (contact, settings) = await LoadVisitorAsync(user, db, cancellationToken);
        if (string.IsNullOrWhiteSpace(request.Message))
        {
            throw new ParleyException(ErrorCatalogue.BodyEmpty, "The message body is empty.");
        }

        var clientId = Ids.Parse(request.ClientId, "clientId");

        // The offline form reaches agents, webhooks and search like a chat message, so it is held to visitor limits:
        // a retry of a stored message (same client id) returns the original; otherwise one unanswered message at a
        // time, and a per-visitor budget (the per-IP one is the endpoint's rate-limit policy).
        var retry = await (from m in db.Messages.AsNoTracking()
                           join c in db.Conversations.AsNoTracking() on m.ConversationId equals c.Id
                           where m.ClientId == clientId && c.ContactId == contact.Id
                           select m.Id).AnyAsync(cancellationToken);
        if (!retry)
        {
            await RequireNothingPendingAsync(db, contact.Id, time.GetUtcNow().UtcDateTime.AddHours(-options.Value.OfflinePendingHours), cancellationToken);
            await limits.AcquireOfflineAsync(contact.Id, cancellationToken);
        }

        profiles.ApplyProfile(contact, new ProfileRequest(request.Name, request.Email, request.Phone, request.Fields), settings, requireEmail: true);
        await db.SaveChangesAsync(cancellationToken);

        var actor = Actor.Visitor(contact.Id, contact.SiteId);
        var conversation = await conversations.StartForVisitorAsync(contact.SiteId, contact.Id, cancellationToken);
        var ack = await messages.SendAsync(actor, new SendRequest { ConversationId = conversation.Id.ToString(), ClientId = request.ClientId, Body = request.Message }, cancellationToken);
        return TypedResults.Ok(new OfflineMessageResponse(conversation, ack));
    }

    internal static async Task<Ok<MessagePage>> VisitorMessagesAsync(Guid id, ConversationService service, ClaimsPrincipal user, CancellationToken cancellationToken, long? beforeSeq = null, long? afterSeq = null, int limit = 50)
    {
        var actor = Actor.Visitor(user.VisitorContactId() ?? Guid.Empty, user.VisitorSiteId() ?? Guid.Empty);
        return TypedResults.Ok(new MessagePage(await service.MessagesAsync(actor, id, beforeSeq, afterSeq, limit, cancellationToken)));
    }

    internal static async Task<NoContent> SendTranscriptAsync(
        Guid id, TranscriptRequest? request, ClaimsPrincipal user, HttpContext http, TranscriptMailer mailer, VisitorActionLimits limits, CancellationToken cancellationToken)
    {
        var contactId = user.VisitorContactId() ?? Guid.Empty;
        await limits.AcquireTranscriptAsync(contactId, cancellationToken);
        await mailer.RequestAsync(id, contactId, request?.Email, $"{http.Request.Scheme}://{http.Request.Host.Value}", cancellationToken);
        return TypedResults.NoContent();
    }

    internal static async Task<ContentHttpResult> ConfirmTranscriptAsync(string? token, TranscriptMailer mailer, CancellationToken cancellationToken)
    {
        await mailer.ConfirmAsync(token, cancellationToken);
        return TypedResults.Text("The transcript is on its way to your inbox.", "text/plain; charset=utf-8");
    }

    internal static async Task<Ok<VisitorContextDto>> VisitorContextAsync(Guid id, ParleyDbContext db, Access.AccessPolicy access, ClaimsPrincipal user, CancellationToken cancellationToken)
    {
        await access.RequireConversationAsync(Actor.Agent(user), id, Access.ConversationAction.Read, cancellationToken);
        var row = await (from c in db.Conversations.AsNoTracking()
                         join ct in db.Contacts.AsNoTracking() on c.ContactId equals ct.Id
                         where c.Id == id
                         select ct).FirstOrDefaultAsync(cancellationToken) ?? throw ParleyException.NotFound();
        Dictionary<string, string>? attributes = null;
        if (row.AttributesJson is not null)
        {
            try
            {
                attributes = JsonSerializer.Deserialize<Dictionary<string, JsonElement>>(row.AttributesJson)?
                    .ToDictionary(a => a.Key, a => a.Value.ValueKind == JsonValueKind.String ? a.Value.GetString() ?? "" : a.Value.GetRawText());
            }
            catch (JsonException)
            {
                attributes = null;
            }
        }

        return TypedResults.Ok(new VisitorContextDto
        {
            ConversationId = id,
            ContactId = row.Id,
            Name = row.Name,
            Email = row.Email,
            Phone = row.Phone,
            ExternalId = row.ExternalId,
            Attributes = attributes,
            Page = VisitorProfiles.PageOf(row),
            Trail = await VisitorProfiles.TrailAsync(db, row.Id, 20, cancellationToken),
            LastSeenAt = row.LastSeenAt,
        });
    }

    internal static async Task<Ok<WidgetSettingsDto>> GetSettingsAsync(Guid id, ParleyDbContext db, CancellationToken cancellationToken)
    {
        var site = await db.Sites.AsNoTracking().FirstOrDefaultAsync(s => s.Id == id, cancellationToken) ?? throw new ParleyException(ErrorCatalogue.SiteNotFound);
        return TypedResults.Ok(new WidgetSettingsDto(WidgetSettings.Of(site), Origins(site.AllowedOrigins)));
    }

    internal static async Task<Ok<WidgetSettingsDto>> PutSettingsAsync(
        Guid id, WidgetSettingsDto request, ParleyDbContext db, Access.SiteOrigins siteOrigins, Access.AuditLog audit, ClaimsPrincipal user, CancellationToken cancellationToken)
    {
        var site = await db.Sites.FirstOrDefaultAsync(s => s.Id == id, cancellationToken) ?? throw new ParleyException(ErrorCatalogue.SiteNotFound);
        var before = new WidgetSettingsDto(WidgetSettings.Of(site), Origins(site.AllowedOrigins));
        var settings = (request.Settings ?? throw new ParleyException(ErrorCatalogue.InvalidSettings, "settings is required.")).Validated();
        var departments = settings.Departments.ToList();
        if (departments.Count > 0 && await db.Teams.CountAsync(t => departments.Contains(t.Id), cancellationToken) != departments.Count)
        {
            throw new ParleyException(ErrorCatalogue.InvalidSettings, "Every department must be an existing team.");
        }

        var origins = new List<string>();
        foreach (var value in request.AllowedOrigins ?? [])
        {
            if (!Uri.TryCreate(value, UriKind.Absolute, out var uri) || uri.Scheme is not ("https" or "http") || uri.GetLeftPart(UriPartial.Authority) != value.TrimEnd('/'))
            {
                throw new ParleyException(ErrorCatalogue.InvalidSettings, $"'{value}' is not an origin (scheme://host[:port]).");
            }

            origins.Add(uri.GetLeftPart(UriPartial.Authority));
        }

        site.WidgetSettingsJson = settings.ToJson();
        site.AllowedOrigins = string.Join(' ', origins.Distinct(StringComparer.OrdinalIgnoreCase));
        if (site.AllowedOrigins.Length > 4000)
        {
            throw new ParleyException(ErrorCatalogue.InvalidSettings, "Too many allowed origins.");
        }

        await db.SaveChangesAsync(cancellationToken);
        siteOrigins.Invalidate();
        await audit.RecordAsync(user, "site.widget_settings_updated", "site", site.Id.ToString(),
            Access.AuditLog.Change(before, new WidgetSettingsDto(settings, Origins(site.AllowedOrigins))), cancellationToken);
        return TypedResults.Ok(new WidgetSettingsDto(settings, Origins(site.AllowedOrigins)));
    }

    private static async Task<(Contact Contact, WidgetSettings Settings)> LoadVisitorAsync(ClaimsPrincipal user, ParleyDbContext db, CancellationToken cancellationToken)
    {
        var contactId = user.VisitorContactId() ?? throw new ParleyException(ErrorCatalogue.Unauthorized, "No visitor identity.");
        var contact = await db.Contacts.FirstOrDefaultAsync(c => c.Id == contactId, cancellationToken) ?? throw new ParleyException(ErrorCatalogue.ContactNotFound);
        var site = await db.Sites.AsNoTracking().FirstAsync(s => s.Id == contact.SiteId, cancellationToken);
        return (contact, WidgetSettings.Of(site));
    }

    /// <summary>Refuses another offline message while the visitor's last visible message is theirs and younger than <paramref name="since"/>.</summary>
    private static async Task RequireNothingPendingAsync(ParleyDbContext db, Guid contactId, DateTime since, CancellationToken cancellationToken)
    {
        var last = await (from m in db.Messages.AsNoTracking()
                          join c in db.Conversations.AsNoTracking() on m.ConversationId equals c.Id
                          where c.ContactId == contactId && c.Status != ConversationStatus.Closed && m.VisitorSeq != null && m.CreatedAt > since
                          orderby m.CreatedAt descending
                          select (SenderKind?)m.SenderKind).FirstOrDefaultAsync(cancellationToken);
        if (last == SenderKind.Visitor)
        {
            throw new ParleyException(ErrorCatalogue.OfflinePending, "Your previous message has not been answered yet; we will reply to it.");
        }
    }

    private static List<string> Origins(string value) => [.. value.Split(' ', StringSplitOptions.RemoveEmptyEntries)];
}
