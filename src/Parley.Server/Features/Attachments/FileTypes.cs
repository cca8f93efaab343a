using System.Text;

namespace Parley.Server.Features.Attachments;

/// <summary>A type on the allow-list: what its first bytes look like, the MIME type and extension we use.</summary>
public sealed record FileType(string ContentType, string Extension, bool IsRasterImage);

/// <summary>
/// Decides a file's type from its first bytes only; names and client-sent types are never trusted. Anything that
/// is not positively one of the allowed types is refused, which covers executables renamed to .png and friends.
/// SVG is not on the list: it is script-capable markup.
/// </summary>
public static class FileTypes
{
    public const int SniffLength = 4096;

    public static readonly FileType Png = new("image/png", ".png", true);
    public static readonly FileType Jpeg = new("image/jpeg", ".jpg", true);
    public static readonly FileType Gif = new("image/gif", ".gif", true);
    public static readonly FileType Webp = new("image/webp", ".webp", true);
    public static readonly FileType Pdf = new("application/pdf", ".pdf", false);
    public static readonly FileType Zip = new("application/zip", ".zip", false);
    public static readonly FileType Text = new("text/plain", ".txt", false);

    public static FileType? Detect(ReadOnlySpan<byte> head)
    {
        if (Starts(head, 0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A))
        {
            return Png;
        }

        if (Starts(head, 0xFF, 0xD8, 0xFF))
        {
            return Jpeg;
        }

        if (head.StartsWith("GIF87a"u8) || head.StartsWith("GIF89a"u8))
        {
            return Gif;
        }

        if (head.Length >= 12 && head.StartsWith("RIFF"u8) && head[8..12].SequenceEqual("WEBP"u8))
        {
            return Webp;
        }

        if (head.StartsWith("%PDF-"u8))
        {
            return Pdf;
        }

        if (Starts(head, (byte)'P', (byte)'K', 3, 4) || Starts(head, (byte)'P', (byte)'K', 5, 6))
        {
            return Zip;
        }

        return IsPlainText(head) ? Text : null;
    }

    /// <summary>
    /// UTF-8 without control characters other than tab/CR/LF/FF, and not starting like a script or markup
    /// (#!, &lt;) so that nothing a browser might sniff into HTML or a shell might run passes as "text".
    /// </summary>
    private static bool IsPlainText(ReadOnlySpan<byte> head)
    {
        if (head.IsEmpty)
        {
            return false;
        }

        var body = Starts(head, 0xEF, 0xBB, 0xBF) ? head[3..] : head;
        var trimmed = body.TrimStart(" \t\r\n"u8);
        if (trimmed.StartsWith("#!"u8) || trimmed.StartsWith("<"u8))
        {
            return false;
        }

        foreach (var b in body)
        {
            if (b < 0x20 && b is not ((byte)'\t' or (byte)'\n' or (byte)'\r' or 0x0C))
            {
                return false;
            }
        }

        // The sniffed window may end inside a multi-byte character: allow up to 3 cut-off bytes at the end.
        var decoder = new UTF8Encoding(false, true).GetDecoder();
        for (var cut = 0; cut <= 3 && cut < body.Length; cut++)
        {
            try
            {
                decoder.Reset();
                decoder.GetCharCount(body[..^cut], flush: true);
                return true;
            }
            catch (DecoderFallbackException)
            {
                if (head.Length < SniffLength)
                {
                    return false; // the whole file was read: no excuse for a broken tail
                }
            }
        }

        return false;
    }

    private static bool Starts(ReadOnlySpan<byte> head, params ReadOnlySpan<byte> magic) => head.StartsWith(magic);

    /// <summary>A display name safe for headers and file systems, with the extension of the detected type.</summary>
    public static string SafeName(string? requested, FileType type)
    {
        var name = Path.GetFileNameWithoutExtension(requested ?? "") ?? "";
        var clean = new StringBuilder(name.Length);
        foreach (var ch in name)
        {
            if (IsBidiControl(ch))
            {
                // "invoice\u202Efdp.png" would show as "invoicegnp.pdf": reordering marks never reach a reader.
                continue;
            }

            clean.Append(char.IsControl(ch) || ch is '/' or '\\' or '"' or ':' or '*' or '?' or '<' or '>' or '|' ? '_' : ch);
        }

        var stem = clean.ToString().Trim().Trim('.');
        if (stem.Length == 0)
        {
            stem = "file";
        }

        if (stem.Length > 120)
        {
            stem = stem[..120];
        }

        return stem + type.Extension;
    }

    /// <summary>Bidirectional formatting characters (embeddings, overrides, isolates, marks; Unicode TR9).</summary>
    public static bool IsBidiControl(char ch) => ch is (>= '\u202A' and <= '\u202E') or (>= '\u2066' and <= '\u2069') or '\u200E' or '\u200F' or '\u061C';
}
