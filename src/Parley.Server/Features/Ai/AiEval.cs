using System.Text.Json;
using System.Text.Json.Nodes;

namespace Parley.Server.Features.Ai;

/// <summary>
/// <c>Parley.Server ai eval --faq FILE [--intents FILE] [--takeover FILE]</c>: runs the server's own engines
/// (offline, no network) on labelled files in the format of shared/ai-samples and prints one JSON object with the
/// rates (<c>--details</c> adds every case and its decision). A malformed file exits with code 2 and its line
/// number on standard error.
/// </summary>
public static class AiEval
{
    public static int Run(string[] args, TextWriter output, TextWriter error)
    {
        string? faq = null, intents = null, takeover = null;
        var details = false;
        for (var i = 0; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a file");
            switch (args[i])
            {
                case "--faq": faq = Next(); break;
                case "--intents": intents = Next(); break;
                case "--takeover": takeover = Next(); break;
                case "--details": details = true; break;
                default:
                    error.WriteLine($"ai eval: unknown argument '{args[i]}'. Usage: ai eval --faq FILE [--intents FILE] [--takeover FILE] [--details]");
                    return 64;
            }
        }

        if (faq is null && intents is null && takeover is null)
        {
            error.WriteLine("ai eval: give at least one of --faq FILE, --intents FILE, --takeover FILE");
            return 64;
        }

        var engines = AiEngines.CreateOffline();
        var result = new JsonObject();
        try
        {
            if (faq is not null)
            {
                result["faq"] = EvaluateFaq(engines, Read(faq), faq);
            }

            if (intents is not null)
            {
                result["intents"] = EvaluateIntents(engines, Read(intents), intents);
            }

            if (takeover is not null)
            {
                result["takeover"] = EvaluateTakeover(engines, Read(takeover), takeover);
            }
        }
        catch (FormatException ex)
        {
            error.WriteLine($"ai eval: {ex.Message}");
            return 2;
        }
        catch (IOException ex)
        {
            error.WriteLine($"ai eval: {ex.Message}");
            return 2;
        }

        if (!details)
        {
            // Per-case lines are for tuning (--details); the default output is the summary the issue specifies.
            foreach (var (_, section) in result)
            {
                section!.AsObject().Remove("details");
                section.AsObject().Remove("misses");
            }
        }

        output.WriteLine(result.ToJsonString());
        return 0;
    }

    private static string Read(string path) => File.ReadAllText(path);

    public static JsonObject EvaluateFaq(AiEngines engines, string json, string file)
    {
        var (entries, questions) = ParseFaq(json, file);
        var index = new KnowledgeIndex(engines.Analyzer, engines.RetrievalOptions);
        index.Reset(entries);
        var brain = new AssistantBrain(index);
        int answerable = 0, correct = 0, unanswerable = 0, handedOff = 0, wrong = 0;
        var details = new JsonArray();
        foreach (var (text, match) in questions)
        {
            var decision = brain.Decide(text);
            var answered = decision.Answer ? decision.Match!.Document.Id : null;
            if (match is null)
            {
                unanswerable++;
                handedOff += answered is null ? 1 : 0;
                wrong += answered is null ? 0 : 1;
            }
            else
            {
                answerable++;
                correct += answered == match ? 1 : 0;
                wrong += answered is not null && answered != match ? 1 : 0;
            }

            details.Add(new JsonObject
            {
                ["text"] = text,
                ["expected"] = match,
                ["answered"] = answered,
                ["reason"] = decision.Reason,
                ["top"] = decision.Candidates.Count > 0 ? decision.Candidates[0].Document.Id : null,
                ["confidence"] = decision.Candidates.Count > 0 ? Math.Round(decision.Candidates[0].Confidence, 3) : 0,
                ["evidence"] = decision.Candidates.Count > 0 ? JsonSerializer.SerializeToNode(decision.Candidates[0].Evidence) : null,
            });
        }

        var total = answerable + unanswerable;
        return new JsonObject
        {
            ["questions"] = total,
            ["answerable"] = answerable,
            ["answeredCorrectly"] = Rate(correct, answerable),
            ["handedOffWhenUnanswerable"] = Rate(handedOff, unanswerable),
            ["wrongAnswers"] = Rate(wrong, total),
            ["details"] = details,
        };
    }

    public static JsonObject EvaluateIntents(AiEngines engines, string jsonl, string file)
    {
        List<IntentSample> examples;
        try
        {
            examples = IntentClassifier.ParseJsonLines(jsonl);
        }
        catch (FormatException ex)
        {
            throw new FormatException($"{file}: {ex.Message}", ex);
        }

        var confusion = new SortedDictionary<string, SortedDictionary<string, int>>(StringComparer.Ordinal);
        var correct = 0;
        var misses = new JsonArray();
        foreach (var example in examples)
        {
            var predicted = engines.Intents.Classify(example.Text).Intent;
            correct += predicted == example.Intent ? 1 : 0;
            if (!confusion.TryGetValue(example.Intent, out var row))
            {
                confusion[example.Intent] = row = new SortedDictionary<string, int>(StringComparer.Ordinal);
            }

            row[predicted] = row.GetValueOrDefault(predicted) + 1;
            if (predicted != example.Intent)
            {
                misses.Add(new JsonObject { ["text"] = example.Text, ["expected"] = example.Intent, ["predicted"] = predicted });
            }
        }

        var matrix = new JsonObject();
        foreach (var (actual, row) in confusion)
        {
            var cells = new JsonObject();
            foreach (var (predicted, count) in row)
            {
                cells[predicted] = count;
            }

            matrix[actual] = cells;
        }

        return new JsonObject
        {
            ["messages"] = examples.Count,
            ["accuracy"] = Rate(correct, examples.Count),
            ["confusion"] = matrix,
            ["misses"] = misses,
        };
    }

    public static JsonObject EvaluateTakeover(AiEngines engines, string jsonl, string file)
    {
        var lines = jsonl.Split('\n');
        int tp = 0, fp = 0, fn = 0, sequences = 0;
        var misses = new JsonArray();
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i].Trim();
            if (line.Length == 0)
            {
                continue;
            }

            List<string> messages;
            bool expected;
            try
            {
                using var doc = JsonDocument.Parse(line);
                var root = doc.RootElement;
                if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("messages", out var m) || m.ValueKind != JsonValueKind.Array
                    || !root.TryGetProperty("alert", out var a) || a.ValueKind is not (JsonValueKind.True or JsonValueKind.False)
                    || m.EnumerateArray().Any(x => x.ValueKind != JsonValueKind.String))
                {
                    throw new FormatException("expected {\"messages\": [string, ...], \"alert\": true|false}");
                }

                messages = m.EnumerateArray().Select(x => x.GetString()!).ToList();
                expected = a.GetBoolean();
            }
            catch (Exception ex) when (ex is JsonException or FormatException)
            {
                throw new FormatException($"{file}: line {i + 1}: {ex.Message}", ex);
            }

            sequences++;
            var signal = engines.Takeover.Evaluate(messages);
            if (signal.Alert && expected)
            {
                tp++;
            }
            else if (signal.Alert)
            {
                fp++;
            }
            else if (expected)
            {
                fn++;
            }

            if (signal.Alert != expected)
            {
                misses.Add(new JsonObject { ["messages"] = new JsonArray(messages.Select(x => (JsonNode?)x).ToArray()), ["expected"] = expected, ["reason"] = signal.Reason });
            }
        }

        return new JsonObject
        {
            ["sequences"] = sequences,
            ["precision"] = tp + fp == 0 ? (fn == 0 ? 1.0 : 0.0) : Math.Round((double)tp / (tp + fp), 4),
            ["recall"] = tp + fn == 0 ? 1.0 : Math.Round((double)tp / (tp + fn), 4),
            ["misses"] = misses,
        };
    }

    private static double Rate(int count, int of) => of == 0 ? 0 : Math.Round((double)count / of, 4);

    /// <summary>Reads faq.json: <c>entries</c> (id, q, a, optional variants) and <c>questions</c> (text, match or null).</summary>
    public static (List<KnowledgeDocument> Entries, List<(string Text, string? Match)> Questions) ParseFaq(string json, string file)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json, new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip });
        }
        catch (JsonException ex)
        {
            throw new FormatException($"{file}: line {(ex.LineNumber ?? 0) + 1}: {ex.Message}", ex);
        }

        using (doc)
        {
            FormatException Bad(JsonElement at, string what) => new($"{file}: line {LineOf(json, at)}: {what}");
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("entries", out var entries) || entries.ValueKind != JsonValueKind.Array)
            {
                throw new FormatException($"{file}: line 1: expected an object with an \"entries\" array");
            }

            var documents = new List<KnowledgeDocument>();
            foreach (var e in entries.EnumerateArray())
            {
                if (e.ValueKind != JsonValueKind.Object || !TryString(e, "id", out var id) || !TryString(e, "q", out var q) || !TryString(e, "a", out var a))
                {
                    throw Bad(e, "an entry needs string \"id\", \"q\" and \"a\"");
                }

                var variants = e.TryGetProperty("variants", out var v) && v.ValueKind == JsonValueKind.Array
                    ? v.EnumerateArray().Where(x => x.ValueKind == JsonValueKind.String).Select(x => x.GetString()!).ToList()
                    : [];
                documents.Add(new KnowledgeDocument(id, q, variants, a));
            }

            var questions = new List<(string, string?)>();
            if (root.TryGetProperty("questions", out var qs))
            {
                if (qs.ValueKind != JsonValueKind.Array)
                {
                    throw Bad(qs, "\"questions\" must be an array");
                }

                foreach (var q in qs.EnumerateArray())
                {
                    if (q.ValueKind != JsonValueKind.Object || !TryString(q, "text", out var text) || !q.TryGetProperty("match", out var match)
                        || match.ValueKind is not (JsonValueKind.String or JsonValueKind.Number or JsonValueKind.Null))
                    {
                        throw Bad(q, "a question needs string \"text\" and \"match\" (an entry id or null)");
                    }

                    var id = match.ValueKind == JsonValueKind.Null ? null : TryString(q, "match", out var m) ? m : null;
                    if (id is not null && documents.All(d => d.Id != id))
                    {
                        throw Bad(q, $"\"match\" names no entry: {id}");
                    }

                    questions.Add((text, id));
                }
            }

            return (documents, questions);
        }
    }

    /// <summary>A string member, or a number written as one (ids such as 12 are ids too).</summary>
    private static bool TryString(JsonElement element, string name, out string value)
    {
        value = element.TryGetProperty(name, out var p) ? p.ValueKind switch
        {
            JsonValueKind.String => p.GetString()!,
            JsonValueKind.Number => p.GetRawText(),
            _ => "",
        } : "";
        return value.Trim().Length > 0;
    }

    private static int LineOf(string json, JsonElement element)
    {
        var raw = element.GetRawText();
        var at = json.IndexOf(raw, StringComparison.Ordinal);
        return at < 0 ? 1 : json.AsSpan(0, at).Count('\n') + 1;
    }
}

/// <summary>The offline engines, built once: the live server holds one (swapped on changes), ai eval builds its own.</summary>
public sealed class AiEngines
{
    public required TextAnalyzer Analyzer { get; init; }

    public required SentimentAnalyzer Sentiment { get; init; }

    public required IntentClassifier Intents { get; init; }

    public required TakeoverPredictor Takeover { get; init; }

    public RetrievalOptions RetrievalOptions { get; init; } = new();

    /// <summary>What a conversation is about: the intent of the first visitor message that is more than a greeting
    /// (null when all are greetings). Routing, the bot's hand-off and the insights read it the same way.</summary>
    public IntentPrediction? ConversationIntent(IEnumerable<AnalyzedText> visitorMessages) =>
        visitorMessages.Select(Intents.Classify).FirstOrDefault(p => p.Intent != "greeting");

    /// <summary>The takeover predictor with a site's thresholds (the shared one when they are the built-in ones).</summary>
    public TakeoverPredictor TakeoverFor(TakeoverSettings settings) =>
        settings.IsDefault(Takeover.Options) ? Takeover : new TakeoverPredictor(Analyzer, Sentiment, settings.ToOptions());

    public static AiEngines CreateOffline(IEnumerable<IntentSample>? examples = null, IEnumerable<IReadOnlyList<string>>? synonyms = null, TakeoverOptions? takeover = null, RetrievalOptions? retrieval = null)
    {
        var lexicon = synonyms is null ? Lexicon.BuiltIn : Lexicon.BuiltIn.With(synonyms);
        var analyzer = new TextAnalyzer(lexicon);
        var sentiment = new SentimentAnalyzer();
        return new AiEngines
        {
            Analyzer = analyzer,
            Sentiment = sentiment,
            Intents = IntentClassifier.Train(analyzer, sentiment, examples ?? []),
            Takeover = new TakeoverPredictor(analyzer, sentiment, takeover),
            RetrievalOptions = retrieval ?? new RetrievalOptions(),
        };
    }
}
