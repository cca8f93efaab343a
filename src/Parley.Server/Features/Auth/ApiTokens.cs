using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Parley.Data;
using Parley.Server.Infrastructure;

namespace Parley.Server.Features.Auth;

/// <summary>
/// Personal API tokens: <c>pat_</c> + 256 random bits, shown once. Only the SHA-256 hash is stored (a database dump does
/// not yield usable tokens; a fast hash is fine for 256-bit random secrets). Scoped and expiring.
/// </summary>
public static partial class ApiTokens
{
    public const string Scheme = "ApiToken";
    public const string Prefix = "pat_";
    public const string TokenClaim = "parley:token";
    public const string ScopeClaim = "parley:scope";

    public static string NewToken() => Prefix + WebEncoders.Base64UrlEncode(RandomNumberGenerator.GetBytes(32));

    public static string Hash(string token) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(token)));

    /// <summary>Valid scopes: <c>read</c>, <c>write</c> (implies read), or per area <c>conversations:read</c>, <c>users:write</c>, ...</summary>
    public static bool IsValidScope(string scope) => ScopePattern().IsMatch(scope);

    /// <summary>Whether the token's scopes allow this request: reads need a read or write scope of the area, the rest a write scope.</summary>
    public static bool Allows(IEnumerable<string> scopes, string area, bool write)
    {
        foreach (var scope in scopes)
        {
            if (scope == "write" || scope == area + ":write" || (!write && (scope == "read" || scope == area + ":read")))
            {
                return true;
            }
        }

        return false;
    }

    [GeneratedRegex("^(read|write|[a-z][a-z-]{0,39}:(read|write))$", RegexOptions.CultureInvariant)]
    private static partial Regex ScopePattern();
}

/// <summary>Authenticates <c>Authorization: Bearer pat_...</c> against the stored hashes; the user must be active.</summary>
internal sealed class ApiTokenAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options,
    ILoggerFactory logger,
    UrlEncoder encoder,
    TimeProvider time) : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var header = Request.Headers.Authorization.ToString();
        if (!header.StartsWith("Bearer " + ApiTokens.Prefix, StringComparison.Ordinal) || header.Length > 200)
        {
            return AuthenticateResult.NoResult();
        }

        var hash = ApiTokens.Hash(header["Bearer ".Length..].Trim());
        var now = time.GetUtcNow().UtcDateTime;
        var db = Context.RequestServices.GetRequiredService<ParleyDbContext>();
        var found = await (from t in db.ApiTokens.AsNoTracking()
                           join u in db.Users.AsNoTracking() on t.UserId equals u.Id
                           where t.Hash == hash
                           select new { Token = t, u.DisplayName, u.Email, u.Role, u.IsActive, u.MustChangePassword }).FirstOrDefaultAsync(Context.RequestAborted);
        if (found is null || !found.IsActive || found.Token.RevokedAt is not null || found.Token.ExpiresAt <= now)
        {
            return AuthenticateResult.Fail("Invalid, expired or revoked API token.");
        }

        if (found.MustChangePassword)
        {
            Context.Items[PasswordChangeGate.Marker] = true;
        }

        if (found.Token.LastUsedAt is null || now - found.Token.LastUsedAt > TimeSpan.FromMinutes(1))
        {
            await db.ApiTokens.Where(t => t.Id == found.Token.Id).ExecuteUpdateAsync(s => s.SetProperty(t => t.LastUsedAt, now), Context.RequestAborted);
        }

        List<Claim> claims =
        [
            new(ClaimTypes.NameIdentifier, found.Token.UserId.ToString()),
            new(ClaimTypes.Name, found.DisplayName),
            new(ClaimTypes.Email, found.Email),
            new(ClaimTypes.Role, found.Role.ToString().ToLowerInvariant()),
            new(ApiTokens.TokenClaim, found.Token.Id.ToString()),
        ];
        claims.AddRange(found.Token.Scopes.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(s => new Claim(ApiTokens.ScopeClaim, s)));
        var principal = new ClaimsPrincipal(new ClaimsIdentity(claims, ApiTokens.Scheme));
        return AuthenticateResult.Success(new AuthenticationTicket(principal, ApiTokens.Scheme));
    }

    protected override Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        Response.StatusCode = StatusCodes.Status401Unauthorized;
        Response.Headers.WWWAuthenticate = "Bearer";
        return Task.CompletedTask;
    }
}

/// <summary>
/// The token scope an endpoint needs when its path does not say it: gRPC methods (<c>/parley.v1.ParleyService/...</c>,
/// always POST) name the REST area whose scope they share and whether they only read.
/// </summary>
[AttributeUsage(AttributeTargets.Method | AttributeTargets.Class, AllowMultiple = false)]
public sealed class ApiTokenScopeAttribute(string area, bool write) : Attribute
{
    public string Area { get; } = area;

    public bool Write { get; } = write;
}

/// <summary>
/// For requests authenticated by an API token: the token's scopes must cover the request (area = the segment after
/// /api/v1/, or the endpoint's <see cref="ApiTokenScopeAttribute"/>), and account management (/api/v1/auth/... other than GET me) needs a signed-in session, so a leaked token
/// cannot mint tokens, change the password or switch off the second factor.
/// </summary>
internal static class ApiTokenScopeCheck
{
    public static IApplicationBuilder UseApiTokenScopes(this IApplicationBuilder app) => app.Use((context, next) =>
    {
        var user = context.User;
        // The agent hub's negotiate is a POST and its upgrade a GET whatever the client means to do: there the token
        // only opens the connection, and each hub method checks its own scope (Realtime/HubTokenScopeFilter).
        if (user.FindFirst(ApiTokens.TokenClaim) is not null && !context.Request.Path.StartsWithSegments("/hubs/agent"))
        {
            var segments = context.Request.Path.Value?.Split('/', StringSplitOptions.RemoveEmptyEntries) ?? [];
            var area = segments.Length >= 3 && segments[0] == "api" && segments[1] == "v1" ? segments[2] : "";
            var write = !(HttpMethods.IsGet(context.Request.Method) || HttpMethods.IsHead(context.Request.Method));
            if (context.GetEndpoint()?.Metadata.GetMetadata<ApiTokenScopeAttribute>() is { } declared)
            {
                (area, write) = (declared.Area, declared.Write);
            }

            if (area == "auth" && !(segments is [_, _, _, "me"] && !write))
            {
                return Problems.Create(ErrorCatalogue.SessionRequired, "Account management needs a signed-in session, not an API token.").ExecuteAsync(context);
            }

            if (!ApiTokens.Allows(user.FindAll(ApiTokens.ScopeClaim).Select(c => c.Value), area, write))
            {
                return Problems.Create(ErrorCatalogue.InsufficientScope, $"The API token lacks the scope {area}:{(write ? "write" : "read")}.").ExecuteAsync(context);
            }
        }

        return next(context); // not awaited: a long-lived request keeps no state machine of this middleware
    });
}
