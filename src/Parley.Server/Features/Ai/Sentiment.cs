using System.Collections.Frozen;

namespace Parley.Server.Features.Ai;

/// <summary>How a message sounds: -1 (furious) .. +1 (delighted), and whether it reads as frustration.</summary>
public sealed record SentimentScore(double Score, bool Frustrated, IReadOnlyList<string> Signals)
{
    public string Label => Score <= -0.5 ? "very_negative" : Score <= -0.15 ? "negative" : Score >= 0.3 ? "positive" : "neutral";
}

/// <summary>
/// Lexicon sentiment for Chinese and English over the shared <see cref="TextAnalyzer"/> output: weighted negative
/// and positive words (Resources/sentiment.txt), negation, intensifiers, repeated punctuation, shouting in capitals,
/// threats to complain and "I asked again" markers. Deterministic, explainable (the signals are listed) and well under
/// a millisecond.
/// </summary>
public sealed class SentimentAnalyzer
{
    private readonly FrozenDictionary<string, double> _latin;
    private readonly FrozenDictionary<string, double>.AlternateLookup<ReadOnlySpan<char>> _latinPhrases;
    private readonly (string Term, double Weight)[] _cjk;

    public SentimentAnalyzer()
    {
        var latin = new Dictionary<string, double>(StringComparer.Ordinal);
        var cjk = new List<(string, double)>();
        foreach (var (weightText, terms) in Lexicon.Parse(Lexicon.ReadResource("sentiment.txt")))
        {
            var weight = double.Parse(weightText, System.Globalization.CultureInfo.InvariantCulture);
            foreach (var term in terms)
            {
                var normalized = TextAnalyzer.Normalize(term);
                if (TextAnalyzer.ContainsCjk(normalized))
                {
                    cjk.Add((normalized, weight));
                }
                else
                {
                    latin[string.Join(' ', TextAnalyzer.LatinWords(normalized).Select(TextAnalyzer.Stem))] = weight;
                }
            }
        }

        _latin = latin.ToFrozenDictionary(StringComparer.Ordinal);
        _latinPhrases = _latin.GetAlternateLookup<ReadOnlySpan<char>>();
        _cjk = cjk.OrderByDescending(x => x.Item1.Length).ToArray();
    }

    public SentimentScore Score(AnalyzedText text)
    {
        var signals = new List<string>();
        var sum = 0.0;

        // English: single words and two-word phrases, with a negation within the two words before flipping the sign.
        var words = text.Words;
        for (var i = 0; i < words.Count; i++)
        {
            double weight;
            var consumed = 1;
            if (i + 1 < words.Count && TryGetPhrase(words[i], words[i + 1], out weight))
            {
                consumed = 2;
            }
            else if (!_latin.TryGetValue(words[i], out weight))
            {
                continue;
            }

            var negated = (i > 0 && IsNegation(words[i - 1])) || (i > 1 && IsNegation(words[i - 2]));
            if (negated && weight > 0)
            {
                weight = -weight * 0.8;
            }
            else if (negated && weight < 0)
            {
                weight = -weight * 0.3;
            }

            sum += weight;
            signals.Add(consumed == 1 ? words[i] : words[i] + " " + words[i + 1]);
            i += consumed - 1;
        }

        // Chinese: longest terms first, each occurrence once, negation by 不/没 right before a positive term.
        // Every term holds a CJK character, so a text without one has nothing to look for.
        var normalized = text.Normalized;
        var used = text.CjkChars > 0 ? new bool[normalized.Length] : [];
        foreach (var (term, baseWeight) in text.CjkChars > 0 ? _cjk : [])
        {
            var at = normalized.IndexOf(term, StringComparison.Ordinal);
            while (at >= 0)
            {
                if (!used.AsSpan(at, term.Length).Contains(true))
                {
                    used.AsSpan(at, term.Length).Fill(true);
                    var weight = baseWeight;
                    if (weight > 0 && at > 0 && normalized[at - 1] is '不' or '没')
                    {
                        weight = -weight * 0.8;
                    }

                    sum += weight;
                    signals.Add(term);
                }

                at = normalized.IndexOf(term, at + term.Length, StringComparison.Ordinal);
            }
        }

        if (text.Has("complain"))
        {
            sum -= 1.5;
            signals.Add("complaint");
        }

        var frustrationMarkers = 0;
        if (text.RepeatedPunctuation > 0)
        {
            frustrationMarkers++;
            sum -= sum < 0 ? 0.8 : 0.3;
            signals.Add("repeated punctuation");
        }

        if (text.UpperWords > 0 && text.Words.Count > 0)
        {
            frustrationMarkers++;
            sum -= 0.8 * Math.Min(text.UpperWords, 2);
            signals.Add("capitals");
        }

        if (text.Has("repeat") && (text.Has("wait") || sum < 0 || text.RepeatedPunctuation > 0))
        {
            frustrationMarkers++;
            sum -= 0.6;
            signals.Add("asked again");
        }

        if (text.Has("wait"))
        {
            sum -= 0.5;
            signals.Add("kept waiting");
        }

        var score = Math.Tanh(sum / 3.0);
        var frustrated = score <= -0.45 || (score < -0.15 && frustrationMarkers > 0);
        return new SentimentScore(Math.Round(score, 3), frustrated, signals);
    }

    /// <summary>The weight of the two-word phrase "<paramref name="first"/> <paramref name="second"/>", looked up without building it.</summary>
    private bool TryGetPhrase(string first, string second, out double weight)
    {
        var length = first.Length + 1 + second.Length;
        if (length > 128)
        {
            return _latin.TryGetValue(first + " " + second, out weight);
        }

        Span<char> phrase = stackalloc char[length];
        first.CopyTo(phrase);
        phrase[first.Length] = ' ';
        second.CopyTo(phrase[(first.Length + 1)..]);
        return _latinPhrases.TryGetValue(phrase, out weight);
    }

    private static bool IsNegation(string word) => word is "not" or "no" or "never" or "n't" or "nor" or "without" or "hardly";
}
