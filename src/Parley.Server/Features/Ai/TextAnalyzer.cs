using System.Collections.Frozen;
using System.Globalization;
using System.Text;

namespace Parley.Server.Features.Ai;

/// <summary>
/// The one text module (DESIGN.md, "Understanding and answering visitors"): normalises and tokenises Chinese and
/// English the same way for retrieval, intents, sentiment and takeover. Chinese is cut into character unigrams and
/// bigrams (no dictionary: robust to new words and paraphrase, see docs/ai.md), English into stemmed words;
/// both are mapped onto shared concepts by the <see cref="Lexicon"/>. Pure and thread-safe.
/// </summary>
public sealed class TextAnalyzer(Lexicon lexicon)
{
    /// <summary>Feature prefixes: word, CJK unigram, CJK bigram, concept, number.</summary>
    public const string Word = "w:", Unigram = "u:", Bigram = "b:", Concept = "c:", Number = "n:";

    private static readonly FrozenSet<string> EnglishStop = FrozenSet.ToFrozenSet(
    [
        "a", "an", "the", "is", "are", "am", "was", "were", "be", "been", "being", "do", "doe", "did", "done", "i", "me", "my", "mine",
        "you", "your", "yours", "we", "our", "us", "it", "its", "this", "that", "these", "those", "to", "of", "in", "on", "at", "for",
        "with", "and", "or", "but", "so", "if", "then", "there", "here", "can", "could", "will", "would", "should", "shall", "may",
        "might", "must", "have", "ha", "had", "please", "pls", "plz", "just", "about", "from", "by", "as", "any", "some", "what",
        "which", "who", "whom", "how", "why", "get", "got", "there", "they", "them", "their", "he", "she", "his", "her", "him",
        "s", "t", "d", "ll", "m", "re", "ve", "also", "too", "very", "really", "much", "many", "yet", "now", "up", "out", "into",
        "one", "all", "let", "need", "want", "like", "know", "tell", "im", "than", "again", "still", "ok", "not", "no", "don", "doesn", "didn", "isn", "aren",
    ], StringComparer.Ordinal);

    // Function characters that carry no topic on their own (they still form bigrams and intent features).
    private static readonly FrozenSet<char> CjkStop = FrozenSet.ToFrozenSet(
        "的了吗呢啊吧呀哦嘛么是我你您他她它们这那个在有和就也都要会能可以请问什怎哪吗不没很还又把被给对让从到与及或而着过得地之其为上下中里来去说想看用做".ToCharArray());

    private static readonly System.Buffers.SearchValues<char> AsciiLetters =
        System.Buffers.SearchValues.Create("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ");

    // The one-character strings of CJK text and their unigram features, made once per character (a text's analysis
    // is on every visitor message's path).
    private static readonly string?[] CharStrings = new string?[char.MaxValue + 1];
    private static readonly string?[] UnigramFeatures = new string?[char.MaxValue + 1];

    // Latin words, their stems, and the feature names of stems and CJK bigrams, made once per distinct value
    // (bounded, and never text with digits: TextPool).
    private static readonly TextPool Words = new(50_000);
    private static readonly TextPool Stems = new(50_000);
    private static readonly TextPool WordFeatures = new(50_000);
    private static readonly TextPool BigramFeatures = new(50_000);

    private volatile Lexicon _lexicon = lexicon;

    public TextAnalyzer()
        : this(Lexicon.BuiltIn)
    {
    }

    /// <summary>
    /// A dictionary word segmenter for Chinese runs, for measuring alternatives only (bench/Parley.Benchmarks
    /// AnalyzerComparison, docs/ai.md "Why character bigrams"): when set, each run's words of two or more characters
    /// replace its character bigrams as features. Null (the product): bigrams.
    /// </summary>
    public Func<string, IEnumerable<string>>? ChineseWords { get; init; }

    public Lexicon Lexicon
    {
        get => _lexicon;
        set => _lexicon = value;
    }

    /// <summary>NFKC (full-width to half-width), lower case, typographic quotes to ASCII.</summary>
    public static string Normalize(string text)
    {
        if (string.IsNullOrEmpty(text))
        {
            return "";
        }

        var normalized = text.Normalize(NormalizationForm.FormKC).ToLowerInvariant();
        return normalized.Replace('\u2019', '\'').Replace('\u2018', '\'').Replace('\u3000', ' ');
    }

    public static bool IsCjk(char c) => c is >= '\u4e00' and <= '\u9fff' or >= '\u3400' and <= '\u4dbf' or >= '\uf900' and <= '\ufaff';

    public static bool ContainsCjk(string text) => text.Any(IsCjk);

    /// <summary>Latin words (letters, digits, inner apostrophes) of already-normalised text, contractions expanded.</summary>
    public static List<string> LatinWords(string normalized)
    {
        // A word is a contiguous stretch of the text: sliced, not built char by char. Sized once for about one word per
        // five characters (a list grown from empty allocated four arrays for one sentence).
        var words = new List<string>(Math.Min(normalized.Length / 5, 256) + 2);
        var start = -1;
        for (var i = 0; i < normalized.Length; i++)
        {
            var c = normalized[i];
            if (char.IsAsciiLetterOrDigit(c) || (char.IsLetter(c) && !IsCjk(c) && c < '\u3000')
                || (c == '\'' && start >= 0 && i + 1 < normalized.Length && char.IsAsciiLetter(normalized[i + 1])))
            {
                if (start < 0)
                {
                    start = i;
                }
            }
            else if (start >= 0)
            {
                AddWord(words, normalized.AsSpan(start, i - start));
                start = -1;
            }
        }

        if (start >= 0)
        {
            AddWord(words, normalized.AsSpan(start));
        }

        return words;
    }

    private static void AddWord(List<string> words, ReadOnlySpan<char> word)
    {
        switch (word)
        {
            case "can't" or "cannot" or "cant":
                words.Add("can");
                words.Add("not");
                return;
            case "won't" or "wont":
                words.Add("will");
                words.Add("not");
                return;
        }

        var apostrophe = word.IndexOf('\'');
        if (apostrophe > 0)
        {
            var head = word[..apostrophe];
            var tail = word[(apostrophe + 1)..];
            if (tail is "t" && head.EndsWith('n'))
            {
                words.Add(Words.Get(head[..^1]));
                words.Add("not");
                return;
            }

            words.Add(Words.Get(head));
            return;
        }

        words.Add(Words.Get(word));
    }

    /// <summary>A light English stemmer (plurals, -ing, -ed, -ly): enough to meet "shipping", "shipped" and "ships".</summary>
    public static string Stem(string word)
    {
        if (word.Length <= 3 || word.AsSpan().ContainsAnyExcept(AsciiLetters))
        {
            return word;
        }

        string Undouble(string w) =>
            w.Length > 3 && w[^1] == w[^2] && w[^1] is not ('l' or 's' or 'z') && !"aeiou".Contains(w[^1], StringComparison.Ordinal) ? w[..^1] : w;

        if (word.EndsWith("ies", StringComparison.Ordinal) && word.Length > 4)
        {
            return word[..^3] + "y";
        }

        if (word.EndsWith("sses", StringComparison.Ordinal))
        {
            return word[..^2];
        }

        if (word.EndsWith("ing", StringComparison.Ordinal) && word.Length > 5)
        {
            var stem = Undouble(word[..^3]);
            return stem.EndsWith("at", StringComparison.Ordinal) || stem.EndsWith("iv", StringComparison.Ordinal) || stem.EndsWith("ac", StringComparison.Ordinal) ? stem + "e" : stem;
        }

        if (word.EndsWith("ied", StringComparison.Ordinal) && word.Length > 4)
        {
            return word[..^3] + "y";
        }

        if (word.EndsWith("ed", StringComparison.Ordinal) && word.Length > 4 && !word.EndsWith("eed", StringComparison.Ordinal))
        {
            var stem = Undouble(word[..^2]);
            return stem.EndsWith("at", StringComparison.Ordinal) || stem.EndsWith("iv", StringComparison.Ordinal) || stem.EndsWith("ac", StringComparison.Ordinal) || stem.EndsWith("rg", StringComparison.Ordinal) ? stem + "e" : stem;
        }

        if (word.EndsWith("ly", StringComparison.Ordinal) && word.Length > 5)
        {
            return word[..^2];
        }

        if (word.EndsWith("es", StringComparison.Ordinal) && word.Length > 4 && (word.EndsWith("shes", StringComparison.Ordinal) || word.EndsWith("ches", StringComparison.Ordinal) || word.EndsWith("xes", StringComparison.Ordinal)))
        {
            return word[..^2];
        }

        if (word[^1] == 's' && word[^2] is not ('s' or 'u' or 'i'))
        {
            return word[..^1];
        }

        return word;
    }

    /// <summary>Analyses one text. Never throws: empty, huge, emoji-only or mixed-script text all give a result.</summary>
    public AnalyzedText Analyze(string? text, int maxLength = 2000)
    {
        var source = text ?? "";
        if (source.Length > maxLength)
        {
            source = source[..maxLength];
        }

        var normalized = Normalize(source);
        var lexicon = _lexicon;

        // Latin words: stems, concept phrases over consecutive stems, numbers.
        var stems = LatinWords(normalized);

        // The lists are sized once: a feature per stem, a unigram and a bigram per CJK character, a few concepts.
        var cjkChars = 0;
        foreach (var c in normalized)
        {
            cjkChars += IsCjk(c) ? 1 : 0;
        }

        var features = new List<string>(stems.Count + (2 * cjkChars) + 4);
        var concepts = new HashSet<string>(StringComparer.Ordinal);
        var words = new List<string>(stems.Count);
        var content = new List<string>(stems.Count + cjkChars);
        for (var i = 0; i < stems.Count; i++)
        {
            stems[i] = Stems.Get(stems[i], Stem);
        }

        for (var i = 0; i < stems.Count; i++)
        {
            lexicon.MatchLatin(stems, i, concepts);
            var stem = stems[i];
            words.Add(stem);
            if (stem.AsSpan().IndexOfAnyExceptInRange('0', '9') < 0)
            {
                features.Add(Number + stem); // numbers are nearly always new: not pooled
            }
            else if (!EnglishStop.Contains(stem) && stem.Length > 1)
            {
                features.Add(WordFeatures.Prefixed(Word, stem));
                content.Add(stem);
            }
        }

        // Chinese runs (contiguous stretches of the text): concept terms as substrings, then character unigrams and bigrams.
        var runStart = -1;
        void FlushRun(int end)
        {
            if (runStart < 0)
            {
                return;
            }

            var s = normalized.AsSpan(runStart, end - runStart);
            for (var i = 0; i < s.Length; i++)
            {
                if (!CjkStop.Contains(s[i]))
                {
                    features.Add(UnigramFeatures[s[i]] ??= Unigram + s[i]);
                    content.Add(CharStrings[s[i]] ??= s[i].ToString());
                }

                if (ChineseWords is null && i + 1 < s.Length && !(CjkStop.Contains(s[i]) && CjkStop.Contains(s[i + 1])))
                {
                    features.Add(BigramFeatures.Prefixed(Bigram, s.Slice(i, 2)));
                }
            }

            if (ChineseWords is { } segment)
            {
                foreach (var w in segment(s.ToString()))
                {
                    if (w.Length >= 2 && !w.All(CjkStop.Contains))
                    {
                        features.Add(Bigram + w);
                    }
                }
            }

            runStart = -1;
        }

        for (var i = 0; i < normalized.Length; i++)
        {
            if (IsCjk(normalized[i]))
            {
                if (runStart < 0)
                {
                    runStart = i;
                }
            }
            else
            {
                FlushRun(i);
            }
        }

        FlushRun(normalized.Length);

        // Chinese (and mixed, e.g. "plus会员", "wifi6") terms as substrings of the whole text, spaces removed.
        lexicon.MatchCjk(cjkChars > 0 ? WithoutWhiteSpace(normalized) : normalized, cjkChars > 0, concepts);
        foreach (var concept in concepts)
        {
            features.Add(Concept + concept);
        }

        return new AnalyzedText(source, normalized, words, content, concepts, features, cjkChars, CountUpperWords(source), CountRepeatedPunctuation(source));
    }

    private static string WithoutWhiteSpace(string text)
    {
        var spaces = 0;
        foreach (var c in text)
        {
            spaces += char.IsWhiteSpace(c) ? 1 : 0;
        }

        return spaces == 0 ? text : string.Create(text.Length - spaces, text, static (span, text) =>
        {
            var at = 0;
            foreach (var c in text)
            {
                if (!char.IsWhiteSpace(c))
                {
                    span[at++] = c;
                }
            }
        });
    }

    /// <summary>The text's characters and then one space, which ends the last run (the counts below need it).</summary>
    private static char At(string text, int i) => i < text.Length ? text[i] : ' ';

    private static int CountUpperWords(string text)
    {
        var count = 0;
        var letters = 0;
        var allUpper = true;
        for (var i = 0; i <= text.Length; i++)
        {
            var c = At(text, i);
            if (char.IsAsciiLetter(c))
            {
                letters++;
                allUpper &= char.IsAsciiLetterUpper(c);
            }
            else
            {
                if (letters >= 3 && allUpper)
                {
                    count++;
                }

                letters = 0;
                allUpper = true;
            }
        }

        return count;
    }

    private static int CountRepeatedPunctuation(string text)
    {
        var runs = 0;
        var length = 0;
        for (var i = 0; i <= text.Length; i++)
        {
            var c = At(text, i);
            if (c is '!' or '?' or '！' or '？')
            {
                length++;
            }
            else
            {
                if (length >= 2)
                {
                    runs++;
                }

                length = 0;
            }
        }

        return runs;
    }
}

/// <summary>One analysed text: the features every engine reads.</summary>
public sealed record AnalyzedText(
    string Original,
    string Normalized,
    IReadOnlyList<string> Words,
    IReadOnlyList<string> ContentTokens,
    IReadOnlySet<string> Concepts,
    IReadOnlyList<string> Features,
    int CjkChars,
    int UpperWords,
    int RepeatedPunctuation)
{
    public bool Has(string concept) => Concepts.Contains(concept);

    /// <summary>True when nothing but concepts from <paramref name="only"/> and function words is there (e.g. a greeting).</summary>
    public bool OnlyConcepts(params string[] only) =>
        Concepts.Count > 0 && Concepts.All(only.Contains) && ContentTokens.Count <= 3;

    public bool IsEmpty => Features.Count == 0;
}
