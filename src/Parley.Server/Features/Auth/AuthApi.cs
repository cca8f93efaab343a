using System.Security.Claims;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using Parley.Data;
using Parley.Server.Infrastructure;

namespace Parley.Server.Features.Auth;

public sealed record LoginRequest(string Email, string Password);

public sealed record SetupRequest(string Email, string Password, string? DisplayName);

public sealed record SetupStatus(bool NeedsSetup);

public static class AuthApi
{
    public const string CookieName = "parley.session";
    public const string CsrfHeader = "X-Parley-Csrf";

    public static IEndpointRouteBuilder MapAuthApi(this IEndpointRouteBuilder app)
    {
        var auth = app.MapGroup("/api/v1/auth").WithTags("Auth").WithParleyErrors();
        auth.MapPost("/login", LoginAsync).WithName("Login").WithSummary("Sign in to the console (sets the session cookie)").AllowAnonymous();
        auth.MapPost("/logout", (Delegate)LogoutAsync).WithName("Logout").WithSummary("Sign out").AllowAnonymous();
        auth.MapGet("/me", MeAsync).WithName("GetCurrentUser").WithSummary("The signed-in user").RequireAuthorization(ParleyClaims.AgentPolicy);

        var setup = app.MapGroup("/api/v1/setup").WithTags("Setup").WithParleyErrors().AllowAnonymous();
        setup.MapGet("/status", SetupStatusAsync).WithName("GetSetupStatus").WithSummary("Whether the first admin still has to be created");
        setup.MapPost("/", SetupAsync).WithName("Setup").WithSummary("Create the first admin (only while no user exists)");
        return app;
    }

    internal static async Task<Results<Ok<UserDto>, ProblemHttpResult>> LoginAsync(LoginRequest request, UserAccounts accounts, HttpContext http, CancellationToken cancellationToken)
    {
        var user = await accounts.VerifyAsync(request.Email ?? "", request.Password ?? "", cancellationToken);
        if (user is null)
        {
            return Problems.Create(StatusCodes.Status401Unauthorized, "invalid_credentials", "Invalid email or password.");
        }

        await SignInAsync(http, user);
        return TypedResults.Ok(UserDto.From(user));
    }

    internal static async Task<NoContent> LogoutAsync(HttpContext http)
    {
        await http.SignOutAsync(CookieAuthenticationDefaults.AuthenticationScheme);
        return TypedResults.NoContent();
    }

    internal static async Task<Results<Ok<UserDto>, UnauthorizedHttpResult>> MeAsync(ClaimsPrincipal principal, ParleyDbContext db, CancellationToken cancellationToken)
    {
        var id = principal.UserId();
        var user = id is null ? null : await db.Users.AsNoTracking().FirstOrDefaultAsync(u => u.Id == id && u.IsActive, cancellationToken);
        return user is null ? TypedResults.Unauthorized() : TypedResults.Ok(UserDto.From(user));
    }

    internal static async Task<Ok<SetupStatus>> SetupStatusAsync(ParleyDbContext db, CancellationToken cancellationToken) =>
        TypedResults.Ok(new SetupStatus(!await db.Users.AnyAsync(cancellationToken)));

    internal static async Task<Results<Ok<UserDto>, ProblemHttpResult>> SetupAsync(SetupRequest request, ParleyDbContext db, UserAccounts accounts, HttpContext http, CancellationToken cancellationToken)
    {
        if (await db.Users.AnyAsync(cancellationToken))
        {
            return Problems.Create(StatusCodes.Status409Conflict, "setup_done", "Parley is already set up; sign in instead.");
        }

        var user = await accounts.CreateAsync(request.Email ?? "", request.Password ?? "", request.DisplayName ?? "", UserRole.Admin, cancellationToken);
        await SignInAsync(http, user);
        return TypedResults.Ok(UserDto.From(user));
    }

    private static Task SignInAsync(HttpContext http, User user)
    {
        var identity = new ClaimsIdentity(
            [
                new Claim(ClaimTypes.NameIdentifier, user.Id.ToString()),
                new Claim(ClaimTypes.Name, user.DisplayName),
                new Claim(ClaimTypes.Email, user.Email),
                new Claim(ClaimTypes.Role, user.Role.ToString().ToLowerInvariant()),
                new Claim(ParleyClaims.SecurityStamp, user.SecurityStamp),
            ],
            CookieAuthenticationDefaults.AuthenticationScheme);
        return http.SignInAsync(CookieAuthenticationDefaults.AuthenticationScheme, new ClaimsPrincipal(identity));
    }
}
