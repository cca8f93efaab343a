using System.ComponentModel.DataAnnotations;
using System.Net;
using System.Net.Mail;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.EntityFrameworkCore;
using Parley.Data;
using Parley.Server.Features.GeoIp;
using Parley.Server.Infrastructure;

namespace Parley.Server.Features.Widget;

/// <summary>What the host page passes to <c>Parley.setUser</c>.</summary>
public sealed record WidgetUser(
    [property: MaxLength(200)] string? Id,
    [property: MaxLength(200)] string? Name,
    [property: MaxLength(256)] string? Email,
    [property: MaxLength(64)] string? Phone,
    Dictionary<string, JsonElement>? Attributes,
    [property: MaxLength(128)] string? Hash);

/// <summary>One step of the visitor's page trail.</summary>
[MessagePack.MessagePackObject]
public sealed record PageViewDto(
    [property: MessagePack.Key("url")] string Url,
    [property: MessagePack.Key("title")] string? Title,
    [property: MessagePack.Key("at")] DateTime At);

/// <summary>Where the visitor is: sent by the widget with every session (one per page load) and on in-page navigation.</summary>
public sealed record VisitorPage(
    [property: MaxLength(2048)] string? Url,
    [property: MaxLength(500)] string? Title,
    [property: MaxLength(2048)] string? Referrer,
    [property: MaxLength(64)] string? Language,
    [property: MaxLength(64)] string? TimeZone)
{
    /// <summary>The browser's User-Agent, filled in by the server from the request.</summary>
    [MaxLength(512)]
    public string? Browser { get; init; }

    public DateTime? At { get; init; }

    /// <summary>
    /// Where the visitor is, from the client IP of this page load, filled in by the server when a GeoIP database
    /// is configured. The IP itself is not kept.
    /// </summary>
    public VisitorLocation? Location { get; init; }
}

/// <summary>Pre-chat / offline form answers.</summary>
public sealed record ProfileRequest(
    [property: MaxLength(200)] string? Name,
    [property: MaxLength(256)] string? Email,
    [property: MaxLength(64)] string? Phone,
    Dictionary<string, string>? Fields);

/// <summary>What the widget knows about its visitor.</summary>
public sealed record VisitorProfile(string? Name, string? Email, string? Phone, bool Verified, IReadOnlyList<string> MissingFields);

/// <summary>
/// Visitor identity and profile: setUser with identity verification, pre-chat answers, page tracking.
/// Identity verification: the host's backend signs the user id with the site secret
/// (lower-case hex HMAC-SHA256); only a verified id is bound to a contact, because binding an unverified one
/// would let anybody read that user's conversations by claiming their id.
/// </summary>
public sealed class VisitorProfiles(ParleyDbContext db, GeoIpLocator geoIp, TimeProvider time)
{
    private const int MaxAttributes = 50;

    public static string GeneratedName(Guid contactId) => "Visitor " + contactId.ToString("N")[^6..].ToUpperInvariant();

    public static string Sign(string secret, string userId) =>
        Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), Encoding.UTF8.GetBytes(userId)));

    public static bool Verify(string secret, string userId, string? hash)
    {
        if (string.IsNullOrEmpty(hash) || hash.Length != 64)
        {
            return false;
        }

        byte[] given;
        try
        {
            given = Convert.FromHexString(hash);
        }
        catch (FormatException)
        {
            return false;
        }

        var expected = HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), Encoding.UTF8.GetBytes(userId));
        return CryptographicOperations.FixedTimeEquals(expected, given);
    }

    /// <summary>
    /// Applies setUser: with a valid hash, switches to (or binds) the contact with that external id; without one,
    /// rejected when the site requires verification, otherwise only the descriptive fields are kept.
    /// A hash that does not match is always rejected.
    /// </summary>
    public async Task<Contact> ApplyUserAsync(Site site, Contact contact, WidgetUser user, WidgetSettings settings, CancellationToken cancellationToken)
    {
        var externalId = string.IsNullOrWhiteSpace(user.Id) ? null : user.Id.Trim();
        if (externalId is not null)
        {
            if (!string.IsNullOrEmpty(user.Hash))
            {
                if (!Verify(site.Secret, externalId, user.Hash))
                {
                    throw new ParleyException(ErrorCatalogue.IdentityInvalid, "The user hash does not match the user id (HMAC-SHA256 hex of the id with the site secret).");
                }

                contact = await BindAsync(site, contact, externalId, cancellationToken);
            }
            else if (settings.IdentityRequired)
            {
                throw new ParleyException(ErrorCatalogue.IdentityRequired, "This site requires identity verification: setUser needs a hash of the user id.");
            }
        }

        Describe(contact, user.Name, user.Email, user.Phone);
        if (user.Attributes is { Count: > 0 })
        {
            MergeAttributes(contact, user.Attributes.Select(a => (a.Key, JsonNode.Parse(a.Value.GetRawText()))));
        }

        return contact;
    }

    /// <summary>Pre-chat or offline form answers; required fields of the site's form must be present.</summary>
    public void ApplyProfile(Contact contact, ProfileRequest request, WidgetSettings settings, bool requireEmail = false)
    {
        var fields = request.Fields ?? [];
        foreach (var field in settings.PreChatFields.Where(f => f.Required))
        {
            var value = field.Key switch
            {
                "name" => request.Name,
                "email" => request.Email,
                "phone" => request.Phone,
                _ => fields.GetValueOrDefault(field.Key),
            };
            if (string.IsNullOrWhiteSpace(value))
            {
                throw new ParleyException(ErrorCatalogue.FieldRequired, $"'{field.Key}' is required.");
            }
        }

        if (requireEmail && string.IsNullOrWhiteSpace(request.Email))
        {
            throw new ParleyException(ErrorCatalogue.FieldRequired, "'email' is required.");
        }

        var custom = fields.Where(f => settings.PreChatFields.Any(p => p.Key == f.Key) && f.Key is not ("name" or "email" or "phone")).ToList();
        if (settings.Departments.Count > 0 && fields.TryGetValue(WidgetSettings.DepartmentField, out var department) && !string.IsNullOrEmpty(department))
        {
            // Only a department this site offers: the answer decides routing, so a visitor cannot pick any team.
            if (!Guid.TryParse(department, out var teamId) || !settings.Departments.Contains(teamId))
            {
                throw new ParleyException(ErrorCatalogue.InvalidDepartment, "Choose one of the site's departments.");
            }

            custom.Add(new(WidgetSettings.DepartmentField, teamId.ToString()));
        }

        if (custom.Any(f => f.Value is { Length: > 500 }))
        {
            throw new ParleyException(ErrorCatalogue.InvalidField, "Field values are at most 500 characters.");
        }

        Describe(contact, request.Name, request.Email, request.Phone);
        MergeAttributes(contact, custom.Select(f => (f.Key, (JsonNode?)JsonValue.Create(f.Value))));
    }

    /// <summary>
    /// Stores the page with what the server knows about the request: browser, time, and the location of
    /// <paramref name="client"/> (whatever the visitor sent for those is replaced).
    /// </summary>
    /// <returns>True when the page is a new step of the trail (then <see cref="PruneTrailAsync"/> after saving).</returns>
    public bool ApplyPage(Contact contact, VisitorPage page, string? userAgent, IPAddress? client)
    {
        var stored = page with
        {
            Url = SafeUrl(page.Url),
            Referrer = SafeUrl(page.Referrer),
            Browser = userAgent is { Length: > 512 } ? userAgent[..512] : userAgent,
            At = time.GetUtcNow().UtcDateTime,
            Location = geoIp.Locate(client),
        };

        // The trail: every page opened, but a reload (or a new widget session) on the same page is not a new step.
        var step = stored.Url is { } url && url != PageOf(contact.LastPageJson)?.Url;
        if (step)
        {
            db.PageViews.Add(new PageView { ContactId = contact.Id, Url = stored.Url!, Title = stored.Title, At = stored.At.Value });
        }

        contact.LastPageJson = JsonSerializer.Serialize(stored, JsonSerializerOptions.Web);
        return step;
    }

    /// <summary>Drops the contact's page views beyond the newest <see cref="PageView.Retained"/> (after a save that added one).</summary>
    public async Task PruneTrailAsync(Guid contactId, CancellationToken cancellationToken)
    {
        var cutoff = await db.PageViews.Where(v => v.ContactId == contactId).OrderByDescending(v => v.Id)
            .Skip(PageView.Retained).Select(v => (long?)v.Id).FirstOrDefaultAsync(cancellationToken);
        if (cutoff is { } id)
        {
            await db.PageViews.Where(v => v.ContactId == contactId && v.Id <= id).ExecuteDeleteAsync(cancellationToken);
        }
    }

    /// <summary>The newest pages the contact opened, newest first.</summary>
    public static Task<List<PageViewDto>> TrailAsync(ParleyDbContext db, Guid contactId, int limit, CancellationToken cancellationToken) =>
        db.PageViews.AsNoTracking().Where(v => v.ContactId == contactId).OrderByDescending(v => v.Id).Take(limit)
            .Select(v => new PageViewDto(v.Url, v.Title, v.At)).ToListAsync(cancellationToken);

    public static VisitorPage? PageOf(Contact contact) => PageOf(contact.LastPageJson);

    /// <summary>The stored page (<see cref="Contact.LastPageJson"/>), or null when there is none or it does not parse.</summary>
    public static VisitorPage? PageOf(string? lastPageJson)
    {
        if (lastPageJson is null)
        {
            return null;
        }

        try
        {
            return JsonSerializer.Deserialize<VisitorPage>(lastPageJson, JsonSerializerOptions.Web);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    public static VisitorProfile ProfileOf(Contact contact, WidgetSettings settings)
    {
        var name = contact.Name == GeneratedName(contact.Id) ? null : contact.Name;
        var attributes = ParseAttributes(contact.AttributesJson);
        var missing = settings.PreChatFields.Where(f => f.Required).Select(f => f.Key).Where(key => key switch
        {
            "name" => string.IsNullOrEmpty(name),
            "email" => string.IsNullOrEmpty(contact.Email),
            "phone" => string.IsNullOrEmpty(contact.Phone),
            _ => !attributes.ContainsKey(key),
        }).ToList();
        return new VisitorProfile(name, contact.Email, contact.Phone, contact.ExternalId is not null, missing);
    }

    private async Task<Contact> BindAsync(Site site, Contact current, string externalId, CancellationToken cancellationToken)
    {
        if (current.ExternalId == externalId)
        {
            return current;
        }

        var known = await db.Contacts.FirstOrDefaultAsync(c => c.SiteId == site.Id && c.ExternalId == externalId, cancellationToken);
        if (known is not null)
        {
            known.LastSeenAt = time.GetUtcNow().UtcDateTime;
            return known;
        }

        if (current.ExternalId is null)
        {
            // An anonymous visitor signs in: keep their history, it is theirs.
            current.ExternalId = externalId;
            return current;
        }

        var now = time.GetUtcNow().UtcDateTime;
        var fresh = new Contact { Id = Guid.CreateVersion7(), SiteId = site.Id, ExternalId = externalId, CreatedAt = now, LastSeenAt = now };
        fresh.Name = GeneratedName(fresh.Id);
        db.Contacts.Add(fresh);
        return fresh;
    }

    private static void Describe(Contact contact, string? name, string? email, string? phone)
    {
        if (!string.IsNullOrWhiteSpace(email))
        {
            email = email.Trim();
            if (email.Length > 256 || !MailAddress.TryCreate(email, out var parsed) || parsed.Address != email)
            {
                throw new ParleyException(ErrorCatalogue.InvalidEmail, "The email address is not valid.");
            }

            contact.Email = email;
        }

        if (!string.IsNullOrWhiteSpace(name))
        {
            contact.Name = Trim(name, 200);
        }

        if (!string.IsNullOrWhiteSpace(phone))
        {
            phone = phone.Trim();
            if (phone.Length > 64 || phone.Any(ch => !(char.IsDigit(ch) || ch is '+' or ' ' or '-' or '(' or ')' or '.')))
            {
                throw new ParleyException(ErrorCatalogue.InvalidPhone, "The phone number may contain digits, spaces and + - ( ) . only.");
            }

            contact.Phone = phone;
        }
    }

    private static void MergeAttributes(Contact contact, IEnumerable<(string Key, JsonNode? Value)> values)
    {
        var attributes = ParseAttributes(contact.AttributesJson);
        foreach (var (key, value) in values)
        {
            if (key.Length is 0 or > 40)
            {
                throw new ParleyException(ErrorCatalogue.InvalidAttribute, "Attribute names are 1-40 characters.");
            }

            if (value is not null && value.GetValueKind() is not (JsonValueKind.String or JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False))
            {
                throw new ParleyException(ErrorCatalogue.InvalidAttribute, $"Attribute '{key}' must be a string, number or boolean.");
            }

            if (value is not null && value.ToJsonString().Length > 500)
            {
                throw new ParleyException(ErrorCatalogue.InvalidAttribute, $"Attribute '{key}' is longer than 500 characters.");
            }

            attributes[key] = value?.DeepClone();
        }

        if (attributes.Count > MaxAttributes)
        {
            throw new ParleyException(ErrorCatalogue.InvalidAttribute, $"At most {MaxAttributes} attributes per contact.");
        }

        contact.AttributesJson = attributes.ToJsonString();
    }

    private static JsonObject ParseAttributes(string? json)
    {
        try
        {
            return json is null ? [] : JsonNode.Parse(json) as JsonObject ?? [];
        }
        catch (JsonException)
        {
            return [];
        }
    }

    private static string? SafeUrl(string? url) =>
        Uri.TryCreate(url, UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttps || uri.Scheme == Uri.UriSchemeHttp)
            ? Trim(uri.ToString(), 2048)
            : null;

    private static string Trim(string value, int max)
    {
        value = value.Trim();
        return value.Length > max ? value[..max] : value;
    }
}
