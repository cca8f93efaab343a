namespace Parley.Server.Infrastructure;

/// <summary>Small helpers on <see cref="Dictionary{TKey,TValue}"/>.</summary>
internal static class Dictionaries
{
    /// <summary>The value under <paramref name="key"/>, created by <paramref name="create"/> and added when missing.</summary>
    public static TValue GetOrAdd<TKey, TValue>(this Dictionary<TKey, TValue> dictionary, TKey key, Func<TValue> create)
        where TKey : notnull
    {
        if (!dictionary.TryGetValue(key, out var value))
        {
            dictionary[key] = value = create();
        }

        return value;
    }
}
