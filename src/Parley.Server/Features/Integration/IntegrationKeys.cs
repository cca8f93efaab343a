using System.ComponentModel.DataAnnotations;
using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;

namespace Parley.Server.Features.Integration;

/// <summary>
/// Server-to-server keys an operator configures (<c>Parley:Integration:ApiKeys</c>) for business systems calling
/// the REST and gRPC APIs with <c>Authorization: Bearer KEY</c>. They act with the admin role under their name.
/// Personal API tokens of users (the security feature) sit beside them on the same header.
/// </summary>
public sealed class IntegrationOptions : IValidatableObject
{
    public const string Section = "Parley:Integration";

    public List<IntegrationKey> ApiKeys { get; set; } = [];

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        foreach (var key in ApiKeys)
        {
            if (string.IsNullOrWhiteSpace(key.Name) || key.Key is not { Length: >= 32 })
            {
                yield return new ValidationResult("Every integration key needs a Name and a Key of at least 32 characters.", [nameof(ApiKeys)]);
            }
        }
    }
}

public sealed class IntegrationKey
{
    public string Name { get; set; } = "";

    public string Key { get; set; } = "";
}

internal sealed class IntegrationKeyHandler(IOptionsMonitor<AuthenticationSchemeOptions> schemeOptions, ILoggerFactory loggerFactory, UrlEncoder encoder, IOptionsMonitor<IntegrationOptions> integration)
    : AuthenticationHandler<AuthenticationSchemeOptions>(schemeOptions, loggerFactory, encoder)
{
    public const string SchemeName = "IntegrationKey";

    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var header = Request.Headers.Authorization.ToString();
        if (!header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            return Task.FromResult(AuthenticateResult.NoResult());
        }

        var presented = SHA256.HashData(Encoding.UTF8.GetBytes(header["Bearer ".Length..].Trim()));
        foreach (var key in integration.CurrentValue.ApiKeys)
        {
            // Hashing both sides gives equal lengths, so the comparison is constant-time over the whole key.
            if (CryptographicOperations.FixedTimeEquals(presented, SHA256.HashData(Encoding.UTF8.GetBytes(key.Key))))
            {
                return Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(Principal(key.Name), SchemeName)));
            }
        }

        return Task.FromResult(AuthenticateResult.NoResult());
    }

    /// <summary>A stable id per key name, so messages sent with a key show one sender.</summary>
    public static ClaimsPrincipal Principal(string name)
    {
        var id = new Guid(SHA256.HashData(Encoding.UTF8.GetBytes("parley-integration:" + name)).AsSpan(0, 16));
        return new ClaimsPrincipal(new ClaimsIdentity(
            [new Claim(ClaimTypes.NameIdentifier, id.ToString()), new Claim(ClaimTypes.Name, name), new Claim(ClaimTypes.Role, "admin"), new Claim("parley:integration", name)],
            SchemeName));
    }
}
