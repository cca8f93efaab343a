using System.Buffers.Text;
using System.Globalization;
using System.Text;

namespace Parley.Server.Infrastructure;

/// <summary>A page of results with the opaque cursor of the next page (null on the last page).</summary>
public sealed record Page<T>(IReadOnlyList<T> Items, string? NextCursor);

/// <summary>
/// Keyset ("cursor") pagination helpers for list endpoints: the cursor is the sort key of the last item,
/// base64url-encoded so clients treat it as opaque. Use <see cref="Limit"/> for the page size, fetch one row
/// more than the limit, and <see cref="Encode"/> the last returned key when that extra row exists.
/// </summary>
public static class CursorPage
{
    public const int DefaultLimit = 50;
    public const int MaxLimit = 200;

    public static int Limit(int requested) => requested <= 0 ? DefaultLimit : Math.Min(requested, MaxLimit);

    public static string Encode<T>(T key)
        where T : IFormattable =>
        Base64Url.EncodeToString(Encoding.UTF8.GetBytes(key.ToString(null, CultureInfo.InvariantCulture)));

    /// <summary>The key in a cursor, null when there is none; a malformed cursor is a 400 (<c>invalid_cursor</c>).</summary>
    public static T? Decode<T>(string? cursor)
        where T : struct, IParsable<T>
    {
        if (string.IsNullOrEmpty(cursor))
        {
            return null;
        }

        try
        {
            var text = Encoding.UTF8.GetString(Base64Url.DecodeFromChars(cursor));
            if (T.TryParse(text, CultureInfo.InvariantCulture, out var value))
            {
                return value;
            }
        }
        catch (FormatException)
        {
        }

        throw new ParleyException(ErrorCatalogue.InvalidCursor, "The cursor is not one this API returned.");
    }

    /// <summary>Cuts the extra row off and builds the page.</summary>
    public static Page<TOut> Build<TRow, TOut, TKey>(IReadOnlyList<TRow> rows, int limit, Func<TRow, TOut> map, Func<TRow, TKey> key)
        where TKey : IFormattable =>
        new(rows.Take(limit).Select(map).ToList(), rows.Count > limit ? Encode(key(rows[limit - 1])) : null);
}
