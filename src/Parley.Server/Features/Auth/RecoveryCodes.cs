using System.Security.Cryptography;
using System.Text;
using Microsoft.EntityFrameworkCore;
using Parley.Data;

namespace Parley.Server.Features.Auth;

/// <summary>The recovery codes, shown once when they are made (enabling TOTP, or regenerating them).</summary>
public sealed record RecoveryCodesDto(IReadOnlyList<string> Codes);

/// <summary>
/// Single-use recovery codes for the TOTP second factor: <see cref="Count"/> per user, 16 characters of a 31-character
/// alphabet (79 random bits, shown as <c>XXXX-XXXX-XXXX-XXXX</c>), stored as SHA-256 hashes. One signs in in place of
/// a TOTP code; making a new set deletes the old one.
/// </summary>
public sealed class RecoveryCodes(ParleyDbContext db, TimeProvider time)
{
    public const int Count = 10;
    public const int Length = 16;

    /// <summary>No 0/O or 1/I/L: a code copied from paper is read back as written.</summary>
    private const string Alphabet = "ABCDEFGHJKMNPQRSTUVWXYZ23456789";

    /// <summary>Replaces the user's codes with a fresh set and returns it (the only time the codes exist in clear).</summary>
    public async Task<IReadOnlyList<string>> ReplaceAsync(Guid userId, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow().UtcDateTime;
        var codes = Enumerable.Range(0, Count).Select(_ => NewCode()).ToList();
        await db.RecoveryCodes.Where(c => c.UserId == userId).ExecuteDeleteAsync(cancellationToken);
        db.RecoveryCodes.AddRange(codes.Select(c => new RecoveryCode { Id = Guid.CreateVersion7(), UserId = userId, Hash = Hash(Normalize(c)!), CreatedAt = now }));
        await db.SaveChangesAsync(cancellationToken);
        return codes;
    }

    /// <summary>
    /// Spends one code: true when <paramref name="input"/> is an unused code of the user. The conditional update is
    /// the check, so two sign-ins racing with the same code cannot both succeed.
    /// </summary>
    public async Task<bool> RedeemAsync(Guid userId, string? input, CancellationToken cancellationToken)
    {
        if (Normalize(input) is not { } normalized)
        {
            return false;
        }

        var hash = Hash(normalized);
        var now = time.GetUtcNow().UtcDateTime;
        return await db.RecoveryCodes
            .Where(c => c.UserId == userId && c.Hash == hash && c.UsedAt == null)
            .ExecuteUpdateAsync(s => s.SetProperty(c => c.UsedAt, now), cancellationToken) == 1;
    }

    public Task<int> RemainingAsync(Guid userId, CancellationToken cancellationToken) =>
        db.RecoveryCodes.CountAsync(c => c.UserId == userId && c.UsedAt == null, cancellationToken);

    public Task<int> DeleteAllAsync(Guid userId, CancellationToken cancellationToken) =>
        db.RecoveryCodes.Where(c => c.UserId == userId).ExecuteDeleteAsync(cancellationToken);

    /// <summary>Whether the text has the shape of a recovery code (so sign-in does not query for a mistyped TOTP code).</summary>
    public static bool LooksLikeCode(string? input) => Normalize(input) is not null;

    internal static string NewCode()
    {
        var chars = RandomNumberGenerator.GetItems<char>(Alphabet, Length);
        var sb = new StringBuilder(Length + 3);
        for (var i = 0; i < Length; i++)
        {
            if (i > 0 && i % 4 == 0)
            {
                sb.Append('-');
            }

            sb.Append(chars[i]);
        }

        return sb.ToString();
    }

    /// <summary>Upper case without spaces or dashes; null unless it is <see cref="Length"/> letters of the alphabet.</summary>
    internal static string? Normalize(string? input)
    {
        if (string.IsNullOrWhiteSpace(input) || input.Length > 64)
        {
            return null;
        }

        var sb = new StringBuilder(Length);
        foreach (var c in input)
        {
            if (c is ' ' or '-')
            {
                continue;
            }

            var upper = char.ToUpperInvariant(c);
            if (!Alphabet.Contains(upper, StringComparison.Ordinal))
            {
                return null;
            }

            sb.Append(upper);
        }

        return sb.Length == Length ? sb.ToString() : null;
    }

    private static string Hash(string normalized) => Convert.ToHexStringLower(SHA256.HashData(Encoding.ASCII.GetBytes(normalized)));
}
