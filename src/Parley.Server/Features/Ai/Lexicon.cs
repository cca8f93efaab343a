using System.Collections.Frozen;
using System.Reflection;

namespace Parley.Server.Features.Ai;

/// <summary>
/// Concepts (synonym groups across Chinese and English) found in text: the bridge that lets "运费", "postage" and
/// "shipping cost" meet. The built-in groups ship in Resources/lexicon.txt; admins add their own (knowledge
/// synonyms), merged by <see cref="With"/>. Immutable: a change builds a new lexicon and swaps it in.
/// </summary>
public sealed class Lexicon
{
    private readonly FrozenDictionary<string, string[][]> _latin; // first stemmed word -> [concept, word1, word2, ...]
    private readonly FrozenDictionary<string, string[]> _cjk;     // Chinese term -> concepts

    // The same, looked up by a slice of the text: matching tries every window of every run, and a substring per try
    // was most of what analysing a message allocated.
    private readonly FrozenDictionary<string, string[]>.AlternateLookup<ReadOnlySpan<char>> _cjkBySpan;
    private readonly int _longestCjk;

    // The keys of _cjk with no CJK character (numbers such as "12315"): the only ones text without CJK can contain, so
    // such text (most English messages) is searched for these few instead of looking up every window of it.
    private readonly (string Term, string[] Concepts)[] _withoutCjk;

    private Lexicon(IReadOnlyList<(string Concept, IReadOnlyList<string> Terms)> groups)
    {
        Groups = groups;
        var latin = new Dictionary<string, List<string[]>>(StringComparer.Ordinal);
        var cjk = new Dictionary<string, HashSet<string>>(StringComparer.Ordinal);
        foreach (var (concept, terms) in groups)
        {
            foreach (var term in terms)
            {
                var normalized = TextAnalyzer.Normalize(term);
                if (normalized.Length == 0)
                {
                    continue;
                }

                if (TextAnalyzer.ContainsCjk(normalized) || !normalized.Any(char.IsAsciiLetter))
                {
                    var key = new string(normalized.Where(c => !char.IsWhiteSpace(c)).ToArray());
                    if (!cjk.TryGetValue(key, out var set))
                    {
                        cjk[key] = set = new HashSet<string>(StringComparer.Ordinal);
                    }

                    set.Add(concept);
                    continue;
                }

                var words = TextAnalyzer.LatinWords(normalized).Select(TextAnalyzer.Stem).ToArray();
                if (words.Length == 0)
                {
                    continue;
                }

                if (!latin.TryGetValue(words[0], out var list))
                {
                    latin[words[0]] = list = [];
                }

                list.Add([concept, .. words]);
            }
        }

        // Longest phrases first, so "shipping cost" wins over "shipping" where both start at a word.
        _latin = latin.ToFrozenDictionary(p => p.Key, p => p.Value.OrderByDescending(x => x.Length).ToArray(), StringComparer.Ordinal);
        _cjk = cjk.ToFrozenDictionary(p => p.Key, p => p.Value.ToArray(), StringComparer.Ordinal);
        _cjkBySpan = _cjk.GetAlternateLookup<ReadOnlySpan<char>>();
        _longestCjk = cjk.Count == 0 ? 0 : cjk.Keys.Max(k => k.Length);
        _withoutCjk = [.. _cjk.Where(p => !TextAnalyzer.ContainsCjk(p.Key)).Select(p => (p.Key, p.Value))];
    }

    /// <summary>The groups this lexicon was built from (concept name, terms).</summary>
    public IReadOnlyList<(string Concept, IReadOnlyList<string> Terms)> Groups { get; }

    /// <summary>The built-in lexicon, shared by every analyzer that has no admin synonyms.</summary>
    public static Lexicon BuiltIn { get; } = new(Parse(ReadResource("lexicon.txt")));

    /// <summary>This lexicon plus admin synonym groups; each group becomes a concept of its own, and a group that
    /// shares a term with a built-in concept extends that concept instead.</summary>
    public Lexicon With(IEnumerable<IReadOnlyList<string>> synonymGroups)
    {
        var groups = Groups.Select(g => (g.Concept, Terms: (IReadOnlyList<string>)g.Terms.ToList())).ToList();
        var index = 0;
        foreach (var group in synonymGroups)
        {
            var terms = group.Select(t => t.Trim()).Where(t => t.Length > 0).ToList();
            if (terms.Count < 2)
            {
                continue;
            }

            var normalized = terms.Select(TextAnalyzer.Normalize).ToHashSet(StringComparer.Ordinal);
            var existing = groups.FindIndex(g => g.Terms.Any(t => normalized.Contains(TextAnalyzer.Normalize(t))));
            if (existing >= 0)
            {
                groups[existing] = (groups[existing].Concept, groups[existing].Terms.Concat(terms).Distinct().ToList());
            }
            else
            {
                groups.Add(($"syn{index++}", terms));
            }
        }

        return new Lexicon(groups);
    }

    /// <summary>Concepts of consecutive stemmed Latin words starting at <paramref name="start"/>; returns the words consumed.</summary>
    internal int MatchLatin(IReadOnlyList<string> stems, int start, ICollection<string> concepts)
    {
        if (!_latin.TryGetValue(stems[start], out var candidates))
        {
            return 0;
        }

        var consumed = 0;
        foreach (var candidate in candidates)
        {
            var length = candidate.Length - 1;
            if (start + length > stems.Count)
            {
                continue;
            }

            var match = true;
            for (var i = 1; i < length && match; i++)
            {
                match = string.Equals(stems[start + i], candidate[i + 1], StringComparison.Ordinal);
            }

            if (match)
            {
                concepts.Add(candidate[0]);
                consumed = Math.Max(consumed, length);
            }
        }

        return consumed;
    }

    /// <summary>
    /// Concepts of every Chinese (or mixed) term that occurs in <paramref name="run"/>; <paramref name="hasCjk"/>
    /// says whether the text has a CJK character (<see cref="TextAnalyzer.IsCjk"/>), which the analyzer has counted.
    /// </summary>
    internal void MatchCjk(string run, bool hasCjk, ICollection<string> concepts)
    {
        if (!hasCjk)
        {
            // Only the keys without a CJK character can occur, and a key occurs in some window exactly when the text
            // contains it. Added in the order the windows below would find them (first occurrence, then shorter first).
            List<(int At, int Length, string[] Concepts)>? hits = null;
            foreach (var (term, found) in _withoutCjk)
            {
                var at = run.IndexOf(term, StringComparison.Ordinal);
                if (at >= 0)
                {
                    (hits ??= []).Add((at, term.Length, found));
                }
            }

            hits?.Sort(static (a, b) => a.At != b.At ? a.At.CompareTo(b.At) : a.Length.CompareTo(b.Length));
            foreach (var hit in hits ?? [])
            {
                foreach (var concept in hit.Concepts)
                {
                    concepts.Add(concept);
                }
            }

            return;
        }

        for (var start = 0; start < run.Length; start++)
        {
            var max = Math.Min(_longestCjk, run.Length - start);
            for (var length = 1; length <= max; length++)
            {
                if (_cjkBySpan.TryGetValue(run.AsSpan(start, length), out var found))
                {
                    foreach (var concept in found)
                    {
                        concepts.Add(concept);
                    }
                }
            }
        }
    }

    internal static List<(string Concept, IReadOnlyList<string> Terms)> Parse(string text)
    {
        var groups = new List<(string, IReadOnlyList<string>)>();
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line[0] == '#')
            {
                continue;
            }

            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0)
            {
                continue;
            }

            var terms = line[(colon + 1)..].Split('|', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
            groups.Add((line[..colon].Trim(), terms));
        }

        return groups;
    }

    internal static string ReadResource(string name)
    {
        var assembly = typeof(Lexicon).Assembly;
        var resource = assembly.GetManifestResourceNames().Single(n => n.EndsWith("Ai.Resources." + name, StringComparison.Ordinal));
        using var stream = assembly.GetManifestResourceStream(resource)!;
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }
}
