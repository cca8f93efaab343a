using System.Security.Cryptography;
using Microsoft.AspNetCore.Identity;
using Microsoft.EntityFrameworkCore;
using Parley.Data;
using Parley.Server.Infrastructure;

namespace Parley.Server.Features.Auth;

/// <summary>A console user; <c>passwordChangeRequired</c>: every API but the password change answers 403 until it is changed.</summary>
public sealed record UserDto(Guid Id, string Email, string DisplayName, string Role, bool PasswordChangeRequired = false)
{
    public static UserDto From(User u) => new(u.Id, u.Email, u.DisplayName, u.Role.ToString().ToLowerInvariant(), u.MustChangePassword);
}

/// <summary>Creating users (ASP.NET Core Identity's PBKDF2 hasher; the password policy applies). Sign-in: <see cref="SignInService"/>.</summary>
public sealed class UserAccounts(ParleyDbContext db, IPasswordHasher<User> hasher, Microsoft.Extensions.Options.IOptions<SignInOptions> signInOptions, TimeProvider time)
{
    public static string Normalize(string email) => email.Trim().ToUpperInvariant();

    public static string NewSecurityStamp() => Convert.ToHexString(RandomNumberGenerator.GetBytes(16));

    public async Task<User> CreateAsync(string email, string password, string displayName, UserRole role, CancellationToken cancellationToken, bool mustChangePassword = false)
    {
        email = email.Trim();
        if (email.Length is 0 or > 256 || !email.Contains('@', StringComparison.Ordinal))
        {
            throw new ParleyException(ErrorCatalogue.InvalidEmail, "A valid email address is required.");
        }

        PasswordPolicy.Check(password, email, signInOptions.Value.MinPasswordLength);

        var user = new User
        {
            Id = Guid.CreateVersion7(),
            Email = email,
            NormalizedEmail = Normalize(email),
            DisplayName = string.IsNullOrWhiteSpace(displayName) ? email : displayName.Trim(),
            PasswordHash = "",
            Role = role,
            SecurityStamp = NewSecurityStamp(),
            CreatedAt = time.GetUtcNow().UtcDateTime,
            MustChangePassword = mustChangePassword,
        };
        user.PasswordHash = hasher.HashPassword(user, password);
        db.Users.Add(user);
        await db.SaveChangesAsync(cancellationToken);
        return user;
    }
}

/// <summary>Creates the configured first admin and a first site, so a fresh install is usable unattended.</summary>
public sealed partial class Bootstrapper(ParleyDbContext db, UserAccounts accounts, Microsoft.Extensions.Options.IOptions<BootstrapOptions> options, TimeProvider time, ILogger<Bootstrapper> logger)
{
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var o = options.Value;
        if (!string.IsNullOrWhiteSpace(o.AdminEmail) && !string.IsNullOrEmpty(o.AdminPassword))
        {
            var normalized = UserAccounts.Normalize(o.AdminEmail);
            if (!await db.Users.AnyAsync(u => u.NormalizedEmail == normalized, cancellationToken))
            {
                try
                {
                    await accounts.CreateAsync(o.AdminEmail, o.AdminPassword, o.AdminName, UserRole.Admin, cancellationToken, o.RequirePasswordChange);
                    LogAdminCreated(logger, o.AdminEmail);
                }
                catch (DbUpdateException)
                {
                    // Another node created it at the same moment.
                    db.ChangeTracker.Clear();
                }
            }
        }

        if (!await db.Sites.AnyAsync(cancellationToken))
        {
            db.Sites.Add(new Site
            {
                Id = Guid.CreateVersion7(),
                Key = string.IsNullOrWhiteSpace(o.SiteKey) ? RandomKey(12) : o.SiteKey.Trim(),
                Name = o.SiteName,
                Secret = RandomKey(32),
                CreatedAt = time.GetUtcNow().UtcDateTime,
            });
            try
            {
                await db.SaveChangesAsync(cancellationToken);
            }
            catch (DbUpdateException)
            {
                db.ChangeTracker.Clear();
            }
        }
    }

    public static string RandomKey(int bytes) => Convert.ToHexString(RandomNumberGenerator.GetBytes(bytes)).ToLowerInvariant();

    [LoggerMessage(Level = LogLevel.Information, Message = "Created the first admin {Email} from configuration")]
    private static partial void LogAdminCreated(ILogger logger, string email);
}
