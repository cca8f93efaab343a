using System.Security.Cryptography;
using System.Xml.Linq;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.DataProtection.KeyManagement;
using Microsoft.AspNetCore.DataProtection.XmlEncryption;

namespace Parley.Server.ScaleOut;

/// <summary>
/// The key that encrypts the Data Protection key ring at rest (AES-256-GCM), kept out of the database: a dump alone
/// must not decrypt TOTP secrets or mint cookies and visitor tokens. From <c>Parley:DataProtection:Key</c> (base64,
/// 32 bytes; e.g. the environment variable <c>Parley__DataProtection__Key</c>), else the file
/// <c>Parley:DataProtection:KeyFile</c> (default <c>keyring.key</c> in the data directory, created on first start
/// with owner-only permissions). Every node of a cluster needs the same key. <c>PreviousKeys</c> (base64) still
/// decrypt key-ring entries written before a rotation. See docs/operations.md.
/// </summary>
public sealed class KeyRingSecret
{
    public const string Section = "Parley:DataProtection";

    private readonly Dictionary<string, byte[]> _byId = new(StringComparer.Ordinal);

    private KeyRingSecret(byte[] current, IEnumerable<byte[]> previous)
    {
        Current = current;
        CurrentId = IdOf(current);
        _byId[CurrentId] = current;
        foreach (var key in previous)
        {
            _byId[IdOf(key)] = key;
        }
    }

    public byte[] Current { get; }

    /// <summary>A short fingerprint stored beside each encrypted entry so the right key is picked after a rotation.</summary>
    public string CurrentId { get; }

    public byte[]? Find(string id) => _byId.GetValueOrDefault(id);

    public static KeyRingSecret Load(IConfiguration configuration, string dataDirectory)
    {
        var section = configuration.GetSection(Section);
        var previous = (section.GetSection("PreviousKeys").Get<string[]>() ?? []).Select(Parse).ToList();
        if (section["Key"] is { Length: > 0 } configured)
        {
            return new KeyRingSecret(Parse(configured), previous);
        }

        var path = section["KeyFile"] is { Length: > 0 } file ? file : Path.Combine(dataDirectory, "keyring.key");
        if (!File.Exists(path))
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
            try
            {
                var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
                if (!OperatingSystem.IsWindows())
                {
                    options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
                }

                using var stream = new FileStream(path, options);
                using var writer = new StreamWriter(stream);
                writer.Write(Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)));
            }
            catch (IOException) when (File.Exists(path))
            {
                // Another process sharing the data directory created it first.
            }
        }

        return new KeyRingSecret(Parse(File.ReadAllText(path).Trim()), previous);
    }

    private static byte[] Parse(string base64)
    {
        var key = Convert.FromBase64String(base64.Trim());
        return key.Length == 32 ? key : throw new InvalidOperationException($"{Section}: a key-ring key must be 32 bytes (base64).");
    }

    private static string IdOf(byte[] key) => Convert.ToHexStringLower(SHA256.HashData(key))[..16];
}

/// <summary>Encrypts each key-ring entry with <see cref="KeyRingSecret.Current"/> (AES-256-GCM).</summary>
internal sealed class KeyRingEncryptor(KeyRingSecret secret) : IXmlEncryptor
{
    public EncryptedXmlInfo Encrypt(XElement plaintextElement)
    {
        var plain = System.Text.Encoding.UTF8.GetBytes(plaintextElement.ToString(SaveOptions.DisableFormatting));
        var nonce = RandomNumberGenerator.GetBytes(12);
        var tag = new byte[16];
        var cipher = new byte[plain.Length];
        using (var aes = new AesGcm(secret.Current, 16))
        {
            aes.Encrypt(nonce, plain, cipher, tag);
        }

        var element = new XElement("parleyEncrypted", new XAttribute("keyId", secret.CurrentId), Convert.ToBase64String([.. nonce, .. tag, .. cipher]));
        return new EncryptedXmlInfo(element, typeof(KeyRingDecryptor));
    }
}

/// <summary>Activated by Data Protection (by type name) for entries that <see cref="KeyRingEncryptor"/> wrote.</summary>
internal sealed class KeyRingDecryptor(IServiceProvider services) : IXmlDecryptor
{
    public XElement Decrypt(XElement encryptedElement)
    {
        var secret = services.GetRequiredService<KeyRingSecret>();
        var id = encryptedElement.Attribute("keyId")?.Value ?? "";
        var key = secret.Find(id) ?? throw new CryptographicException($"The key-ring key {id} is not configured (Parley:DataProtection:Key/KeyFile/PreviousKeys).");
        var data = Convert.FromBase64String(encryptedElement.Value);
        var plain = new byte[data.Length - 28];
        using (var aes = new AesGcm(key, 16))
        {
            aes.Decrypt(data.AsSpan(0, 12), data.AsSpan(28), data.AsSpan(12, 16), plain);
        }

        return XElement.Parse(System.Text.Encoding.UTF8.GetString(plain));
    }
}

public static class KeyRingEncryption
{
    /// <summary>Encrypts new key-ring entries at rest; entries written unencrypted before stay readable.</summary>
    public static IDataProtectionBuilder ProtectKeysWithParleyKey(this IDataProtectionBuilder builder, KeyRingSecret secret)
    {
        builder.Services.AddSingleton(secret);
        builder.Services.AddOptions<KeyManagementOptions>().Configure(o => o.XmlEncryptor = new KeyRingEncryptor(secret));
        return builder;
    }
}
