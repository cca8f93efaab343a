using Microsoft.Extensions.DependencyInjection;
using Parley.Server.Features.Auth;

namespace Parley.Tests.Infrastructure;

/// <summary>What an authenticator app does in a test: read the base32 secret the set-up showed and compute codes.</summary>
public static class TotpCodes
{
    public static byte[] FromBase32(string text)
    {
        const string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        var bytes = new List<byte>();
        int buffer = 0, bits = 0;
        foreach (var c in text.Replace(" ", "", StringComparison.Ordinal))
        {
            buffer = (buffer << 5) | alphabet.IndexOf(c, StringComparison.Ordinal);
            bits += 5;
            if (bits >= 8)
            {
                bytes.Add((byte)(buffer >> (bits - 8)));
                bits -= 8;
            }
        }

        return [.. bytes];
    }

    /// <summary>The server's current time step (its TimeProvider); a code for step + 1 is still inside the skew window.</summary>
    public static long StepNow(ParleyServer server) => Totp.StepAt(server.Services.GetRequiredService<TimeProvider>().GetUtcNow());

    public static string Code(string base32Secret, long step) => Totp.Code(FromBase32(base32Secret), step);
}
