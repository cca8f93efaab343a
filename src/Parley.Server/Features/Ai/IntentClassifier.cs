using System.Text.Json;

namespace Parley.Server.Features.Ai;

/// <summary>One labelled sentence for training (starter set, admin examples, agents' corrections).</summary>
public sealed record IntentSample(string Text, string Intent);

/// <summary>The classifier's answer: the intent, its probability and every intent's probability.</summary>
public sealed class IntentPrediction
{
    private readonly string[]? _labels;
    private readonly double[]? _probabilities;
    private IReadOnlyDictionary<string, double>? _scores;

    public IntentPrediction(string intent, double confidence, IReadOnlyDictionary<string, double> scores)
    {
        Intent = intent;
        Confidence = confidence;
        _scores = scores;
    }

    /// <summary>A classification whose per-label scores are built only if read (the chat path reads the label alone).</summary>
    internal IntentPrediction(string intent, double confidence, string[] labels, double[] probabilities)
    {
        Intent = intent;
        Confidence = confidence;
        _labels = labels;
        _probabilities = probabilities;
    }

    public string Intent { get; }

    public double Confidence { get; }

    /// <summary>Every label's probability, rounded to 4 places.</summary>
    public IReadOnlyDictionary<string, double> Scores => _scores ??= BuildScores();

    private Dictionary<string, double> BuildScores()
    {
        var scores = new Dictionary<string, double>(StringComparer.Ordinal);
        for (var c = 0; c < _labels!.Length; c++)
        {
            scores[_labels[c]] = Math.Round(_probabilities![c], 4);
        }

        return scores;
    }
}

/// <summary>
/// Offline intent classification: multinomial logistic regression over the shared text features (words, CJK
/// unigrams/bigrams, concepts) plus the sentiment band, trained at start from the starter set shipped with the
/// product (Resources/intents.starter.jsonl, zh-CN + en) and the admin's labelled examples. Training is a few hundred
/// milliseconds of full-batch gradient descent; prediction is a sparse dot product. Immutable once trained:
/// retraining builds a new classifier and swaps it in.
/// </summary>
public sealed class IntentClassifier
{
    /// <summary>The built-in intents; admins may add more with example sentences.</summary>
    public static readonly IReadOnlyList<string> BuiltInIntents = ["complaint", "consult", "sales", "after_sales", "greeting"];

    [ThreadStatic]
    private static HashSet<string>? _threadFeatures;

    private readonly TextAnalyzer _analyzer;
    private readonly SentimentAnalyzer _sentiment;
    private readonly string[] _labels;
    private readonly Dictionary<string, double[]> _weights;
    private readonly double[] _bias;

    private IntentClassifier(TextAnalyzer analyzer, SentimentAnalyzer sentiment, string[] labels, Dictionary<string, double[]> weights, double[] bias, int examples)
    {
        _analyzer = analyzer;
        _sentiment = sentiment;
        _labels = labels;
        _weights = weights;
        _bias = bias;
        ExampleCount = examples;
    }

    public IReadOnlyList<string> Intents => _labels;

    public int ExampleCount { get; }

    /// <summary>The starter set shipped with the product.</summary>
    public static IReadOnlyList<IntentSample> StarterSet { get; } = ParseJsonLines(Lexicon.ReadResource("intents.starter.jsonl"));

    public static IntentClassifier Train(TextAnalyzer analyzer, SentimentAnalyzer sentiment, IEnumerable<IntentSample> extra, int epochs = 150)
    {
        var examples = StarterSet.Concat(extra).Where(e => !string.IsNullOrWhiteSpace(e.Text) && !string.IsNullOrWhiteSpace(e.Intent)).ToList();
        var labels = examples.Select(e => e.Intent).Distinct(StringComparer.Ordinal).OrderBy(l => l, StringComparer.Ordinal).ToArray();
        var labelIndex = labels.Select((l, i) => (l, i)).ToDictionary(x => x.l, x => x.i, StringComparer.Ordinal);
        var featureSets = examples.Select(e => Features(analyzer, sentiment, e.Text)).ToList();
        var k = labels.Length;
        var weights = new Dictionary<string, double[]>(StringComparer.Ordinal);
        foreach (var set in featureSets)
        {
            foreach (var f in set)
            {
                if (!weights.ContainsKey(f))
                {
                    weights[f] = new double[k];
                }
            }
        }

        var bias = new double[k];
        if (k < 2)
        {
            return new IntentClassifier(analyzer, sentiment, labels, weights, bias, examples.Count);
        }

        // Balanced classes: an admin's 200 examples of one intent must not drown the starter set's others.
        var perClass = examples.GroupBy(e => e.Intent).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
        var classWeight = examples.Select(e => (double)examples.Count / (k * perClass[e.Intent])).ToArray();
        const double learningRate = 0.5, l2 = 0.0005;
        var gradients = new Dictionary<string, double[]>(StringComparer.Ordinal);
        var probabilities = new double[k];
        for (var epoch = 0; epoch < epochs; epoch++)
        {
            foreach (var g in gradients.Values)
            {
                Array.Clear(g);
            }

            var biasGradient = new double[k];
            for (var n = 0; n < examples.Count; n++)
            {
                Softmax(featureSets[n], weights, bias, probabilities);
                var y = labelIndex[examples[n].Intent];
                for (var c = 0; c < k; c++)
                {
                    var error = (probabilities[c] - (c == y ? 1 : 0)) * classWeight[n];
                    biasGradient[c] += error;
                    foreach (var f in featureSets[n])
                    {
                        if (!gradients.TryGetValue(f, out var g))
                        {
                            gradients[f] = g = new double[k];
                        }

                        g[c] += error / Math.Sqrt(featureSets[n].Count);
                    }
                }
            }

            var scale = learningRate / examples.Count * Math.Max(1, examples.Count / 50.0);
            foreach (var (f, g) in gradients)
            {
                var w = weights[f];
                for (var c = 0; c < k; c++)
                {
                    w[c] -= scale * (g[c] + (l2 * examples.Count * w[c]));
                }
            }

            for (var c = 0; c < k; c++)
            {
                bias[c] -= scale * biasGradient[c];
            }
        }

        return new IntentClassifier(analyzer, sentiment, labels, weights, bias, examples.Count);
    }

    public IntentPrediction Classify(string? text) => Classify(_analyzer.Analyze(text));

    public IntentPrediction Classify(AnalyzedText analyzed)
    {
        if (_labels.Length == 0)
        {
            return new IntentPrediction("consult", 0, new Dictionary<string, double>());
        }

        // One set per thread, cleared and filled again in the same order as a new one would be, so the sums below run
        // in the same order and give the same figures (a set built per message was a tenth of what a message allocated).
        var features = _threadFeatures ??= new HashSet<string>(StringComparer.Ordinal);
        features.Clear();
        AddFeatures(features, analyzed, _sentiment.Score(analyzed));
        var probabilities = new double[_labels.Length];
        Softmax(features, _weights, _bias, probabilities);
        if (features.Count > 4096)
        {
            _threadFeatures = null; // an unusually long text: do not keep its table
        }

        var best = 0;
        for (var c = 1; c < probabilities.Length; c++)
        {
            if (probabilities[c] > probabilities[best])
            {
                best = c;
            }
        }

        return new IntentPrediction(_labels[best], probabilities[best], _labels, probabilities);
    }

    private static void Softmax(HashSet<string> features, Dictionary<string, double[]> weights, double[] bias, double[] output)
    {
        Array.Copy(bias, output, bias.Length);
        var norm = 1 / Math.Sqrt(Math.Max(1, features.Count));
        foreach (var f in features)
        {
            if (weights.TryGetValue(f, out var w))
            {
                for (var c = 0; c < output.Length; c++)
                {
                    output[c] += w[c] * norm;
                }
            }
        }

        var max = output.Max();
        var sum = 0.0;
        for (var c = 0; c < output.Length; c++)
        {
            output[c] = Math.Exp(output[c] - max);
            sum += output[c];
        }

        for (var c = 0; c < output.Length; c++)
        {
            output[c] /= sum;
        }
    }

    private static HashSet<string> Features(TextAnalyzer analyzer, SentimentAnalyzer sentiment, string text)
    {
        var analyzed = analyzer.Analyze(text);
        return Features(analyzed, sentiment.Score(analyzed));
    }

    private static HashSet<string> Features(AnalyzedText analyzed, SentimentScore sentiment)
    {
        var set = new HashSet<string>(StringComparer.Ordinal);
        AddFeatures(set, analyzed, sentiment);
        return set;
    }

    private static void AddFeatures(HashSet<string> set, AnalyzedText analyzed, SentimentScore sentiment)
    {
        set.UnionWith(analyzed.Features);
        set.Add(SentimentFeature(sentiment.Label));
        set.Add(analyzed.ContentTokens.Count <= 2 ? "len:short" : analyzed.ContentTokens.Count <= 8 ? "len:medium" : "len:long");
        if (sentiment.Frustrated)
        {
            set.Add("s:frustrated");
        }

        if (analyzed.Original.Contains('?', StringComparison.Ordinal) || analyzed.Original.Contains('？', StringComparison.Ordinal) || analyzed.Normalized.EndsWith('吗'))
        {
            set.Add("q:question");
        }
    }

    private static string SentimentFeature(string label) => label switch
    {
        "very_negative" => "s:very_negative",
        "negative" => "s:negative",
        "positive" => "s:positive",
        "neutral" => "s:neutral",
        _ => "s:" + label,
    };

    /// <summary>Reads `{"text": ..., "intent": ...}` lines; throws <see cref="FormatException"/> naming the line.</summary>
    public static List<IntentSample> ParseJsonLines(string text)
    {
        var examples = new List<IntentSample>();
        var lines = text.Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i].Trim();
            if (line.Length == 0)
            {
                continue;
            }

            try
            {
                using var doc = JsonDocument.Parse(line);
                var root = doc.RootElement;
                var sample = root.ValueKind == JsonValueKind.Object && root.TryGetProperty("text", out var t) && t.ValueKind == JsonValueKind.String
                    && root.TryGetProperty("intent", out var l) && l.ValueKind == JsonValueKind.String && l.GetString()!.Trim().Length > 0
                    ? new IntentSample(t.GetString()!, l.GetString()!.Trim())
                    : throw new FormatException("expected {\"text\": string, \"intent\": string}");
                examples.Add(sample);
            }
            catch (Exception ex) when (ex is JsonException or FormatException)
            {
                throw new FormatException($"line {i + 1}: {ex.Message}", ex);
            }
        }

        return examples;
    }
}
