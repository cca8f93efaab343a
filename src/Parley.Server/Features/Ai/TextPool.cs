using System.Collections.Concurrent;

namespace Parley.Server.Features.Ai;

/// <summary>
/// A bounded, thread-safe pool of strings the text module makes again and again for every visitor message: words
/// sliced out of the text, their stems and their feature names ("w:order"). A word met before costs a lookup by span
/// instead of new strings. Text with a digit (order numbers, phone numbers, times) is nearly always new and is never
/// kept, and the pool stops growing at <see cref="Limit"/> entries, so text made of ever new words (random input) costs
/// what it cost before and no more memory; what comes out is the same string value either way.
/// </summary>
internal sealed class TextPool
{
    /// <summary>Longer strings are made each time: rare, and not worth an entry.</summary>
    public const int MaxLength = 32;

    /// <summary>Whether a string of <paramref name="text"/> is worth keeping: short, and no digit in it.</summary>
    public static bool Worth(ReadOnlySpan<char> text) => text.Length <= MaxLength && !text.ContainsAnyInRange('0', '9');

    private readonly ConcurrentDictionary<string, string> _map = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, string>.AlternateLookup<ReadOnlySpan<char>> _bySpan;
    private int _count;

    public TextPool(int limit)
    {
        Limit = limit;
        _bySpan = _map.GetAlternateLookup<ReadOnlySpan<char>>();
    }

    public int Limit { get; }

    /// <summary>Entries held (at most <see cref="Limit"/>).</summary>
    public int Count => Volatile.Read(ref _count);

    /// <summary>The string of <paramref name="text"/>: the pooled one when it was seen before.</summary>
    public string Get(ReadOnlySpan<char> text)
    {
        if (!Worth(text))
        {
            return text.ToString();
        }

        if (_bySpan.TryGetValue(text, out var pooled))
        {
            return pooled;
        }

        var made = text.ToString();
        Keep(made, made);
        return made;
    }

    /// <summary>
    /// <paramref name="prefix"/> followed by <paramref name="text"/> (a feature name), pooled under the text: a pool
    /// used this way holds one prefix only.
    /// </summary>
    public string Prefixed(string prefix, ReadOnlySpan<char> text)
    {
        if (!Worth(text))
        {
            return string.Concat(prefix, text);
        }

        if (_bySpan.TryGetValue(text, out var pooled))
        {
            return pooled;
        }

        var made = string.Concat(prefix, text);
        if (Volatile.Read(ref _count) < Limit)
        {
            Keep(text.ToString(), made);
        }

        return made;
    }

    /// <summary>The value <paramref name="make"/> gives for <paramref name="key"/>, made once while the pool has room.</summary>
    public string Get(string key, Func<string, string> make)
    {
        if (!Worth(key))
        {
            return make(key);
        }

        if (_map.TryGetValue(key, out var pooled))
        {
            return pooled;
        }

        var made = make(key);
        Keep(key, made);
        return made;
    }

    private void Keep(string key, string value)
    {
        if (Volatile.Read(ref _count) < Limit && _map.TryAdd(key, value))
        {
            Interlocked.Increment(ref _count);
        }
    }
}
