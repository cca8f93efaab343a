using System.Buffers.Binary;
using System.Security.Claims;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Options;
using Parley.Server.Infrastructure;

namespace Parley.Server.Features.Widget;

/// <summary>
/// Visitor tokens: authenticated-encrypted (ASP.NET Core Data Protection) blobs naming one site and one contact,
/// so checking one needs no database read and a visitor cannot forge or widen it.
/// </summary>
public sealed class VisitorTokens(IDataProtectionProvider protection, IOptions<WidgetOptions> options, TimeProvider time)
{
    private const byte Version = 1;
    private readonly IDataProtector _protector = protection.CreateProtector("Parley.VisitorToken.v1");

    public string Issue(Guid siteId, Guid contactId)
    {
        var payload = new byte[1 + 16 + 16 + 8];
        payload[0] = Version;
        siteId.TryWriteBytes(payload.AsSpan(1, 16));
        contactId.TryWriteBytes(payload.AsSpan(17, 16));
        BinaryPrimitives.WriteInt64LittleEndian(payload.AsSpan(33), time.GetUtcNow().ToUnixTimeSeconds());
        return WebEncoders.Base64UrlEncode(_protector.Protect(payload));
    }

    public (Guid SiteId, Guid ContactId)? Validate(string? token)
    {
        if (string.IsNullOrEmpty(token) || token.Length > 512)
        {
            return null;
        }

        try
        {
            var payload = _protector.Unprotect(WebEncoders.Base64UrlDecode(token));
            if (payload.Length != 41 || payload[0] != Version)
            {
                return null;
            }

            var issued = DateTimeOffset.FromUnixTimeSeconds(BinaryPrimitives.ReadInt64LittleEndian(payload.AsSpan(33)));
            if (time.GetUtcNow() - issued > TimeSpan.FromDays(options.Value.VisitorTokenDays))
            {
                return null;
            }

            return (new Guid(payload.AsSpan(1, 16)), new Guid(payload.AsSpan(17, 16)));
        }
        catch (Exception ex) when (ex is FormatException or System.Security.Cryptography.CryptographicException)
        {
            return null;
        }
    }
}

/// <summary>Authenticates visitors on the hub by their token (query <c>access_token</c> for WebSockets, or a Bearer header).</summary>
internal sealed class VisitorAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options,
    ILoggerFactory logger,
    UrlEncoder encoder,
    VisitorTokens tokens) : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        string? token = Request.Query["access_token"];
        if (string.IsNullOrEmpty(token))
        {
            var header = Request.Headers.Authorization.ToString();
            if (header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
            {
                token = header["Bearer ".Length..].Trim();
            }
        }

        if (string.IsNullOrEmpty(token))
        {
            return Task.FromResult(AuthenticateResult.NoResult());
        }

        if (tokens.Validate(token) is not { } visitor)
        {
            return Task.FromResult(AuthenticateResult.Fail("Invalid visitor token."));
        }

        var identity = new ClaimsIdentity(
            [new Claim(ParleyClaims.ContactId, visitor.ContactId.ToString()), new Claim(ParleyClaims.SiteId, visitor.SiteId.ToString())],
            ParleyClaims.VisitorScheme);
        return Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), ParleyClaims.VisitorScheme)));
    }
}
