using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Parley.Webhooks;

/// <summary>
/// Standard Webhooks signatures (https://www.standardwebhooks.com): the sender puts <c>webhook-id</c>,
/// <c>webhook-timestamp</c> (Unix seconds) and <c>webhook-signature</c> (<c>v1,</c> followed by the base64
/// HMAC-SHA256 of <c>{id}.{timestamp}.{body}</c>) on every request. The key is the base64 part of the
/// endpoint secret (<c>whsec_...</c>).
/// </summary>
public static class WebhookSignature
{
    /// <summary>Prefix of every endpoint secret.</summary>
    public const string SecretPrefix = "whsec_";

    /// <summary>Header carrying the message id (the same on every retry of one event).</summary>
    public const string IdHeader = "webhook-id";

    /// <summary>Header carrying the attempt's Unix time in seconds.</summary>
    public const string TimestampHeader = "webhook-timestamp";

    /// <summary>Header carrying one or more space-separated <c>v1,&lt;base64&gt;</c> signatures.</summary>
    public const string SignatureHeader = "webhook-signature";

    /// <summary>A new random secret (24 bytes) in the <c>whsec_</c> form.</summary>
    public static string NewSecret() => SecretPrefix + Convert.ToBase64String(RandomNumberGenerator.GetBytes(24));

    /// <summary>The <c>webhook-signature</c> header value for one message.</summary>
    public static string Sign(string secret, string messageId, long timestamp, ReadOnlySpan<byte> body)
    {
        var key = DecodeSecret(secret);
        var prefix = Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"{messageId}.{timestamp}."));
        var content = new byte[prefix.Length + body.Length];
        prefix.CopyTo(content, 0);
        body.CopyTo(content.AsSpan(prefix.Length));
        return "v1," + Convert.ToBase64String(HMACSHA256.HashData(key, content));
    }

    /// <summary>
    /// Checks a received request: one of the <c>v1</c> signatures must match (constant-time compare) and the
    /// timestamp must lie within <paramref name="tolerance"/> (default 5 minutes) of <paramref name="now"/>,
    /// which stops replays of old captured requests.
    /// </summary>
    /// <returns>True when the request is authentic and fresh.</returns>
    public static bool Verify(string secret, string? messageId, string? timestamp, string? signatureHeader, ReadOnlySpan<byte> body, DateTimeOffset now, TimeSpan? tolerance = null)
    {
        if (string.IsNullOrEmpty(messageId) || string.IsNullOrEmpty(signatureHeader)
            || !long.TryParse(timestamp, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds))
        {
            return false;
        }

        var age = now - DateTimeOffset.FromUnixTimeSeconds(seconds);
        if (age.Duration() > (tolerance ?? TimeSpan.FromMinutes(5)))
        {
            return false;
        }

        var expected = Encoding.ASCII.GetBytes(Sign(secret, messageId, seconds, body));
        foreach (var candidate in signatureHeader.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            if (CryptographicOperations.FixedTimeEquals(expected, Encoding.ASCII.GetBytes(candidate)))
            {
                return true;
            }
        }

        return false;
    }

    private static byte[] DecodeSecret(string secret)
    {
        ArgumentException.ThrowIfNullOrEmpty(secret);
        var encoded = secret.StartsWith(SecretPrefix, StringComparison.Ordinal) ? secret[SecretPrefix.Length..] : secret;
        return Convert.FromBase64String(encoded);
    }
}
