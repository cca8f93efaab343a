using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using JiebaNet.Segmenter;
using Lucene.Net.Analysis.Cn.Smart;
using Lucene.Net.Analysis.TokenAttributes;
using Lucene.Net.Util;
using Parley.Server.Features.Ai;

namespace Parley.Benchmarks;

/// <summary>
/// Chinese segmentation for retrieval, measured (docs/ai.md "Why character bigrams"): Parley's analyser as shipped
/// (character unigrams + bigrams + lexicon concepts) against the same analyser with dictionary words from jieba.NET
/// 0.42.2 or Lucene.Net SmartCn 4.8.0-beta00017 in place of the bigrams. For each: the segmenter's load time and the
/// memory it keeps, segmentation speed (the segmenter alone, and the whole analysis) over the Chinese texts of the
/// given faq files, and retrieval quality with the same code as <c>ai eval</c> on each file.
/// <c>dotnet run -c Release --project bench/Parley.Benchmarks -- analyzers FAQ.json [FAQ.json ...]</c>
/// </summary>
public static class AnalyzerComparison
{
    public static int Run(string[] files)
    {
        var faqs = files.Select(f => (File: f, Json: File.ReadAllText(f))).ToList();
        var texts = new List<string>();
        foreach (var (file, json) in faqs)
        {
            var (entries, questions) = AiEval.ParseFaq(json, file);
            texts.AddRange(entries.SelectMany(e => e.Variants.Prepend(e.Question).Append(e.Answer)));
            texts.AddRange(questions.Select(q => q.Text));
        }

        texts = texts.Where(TextAnalyzer.ContainsCjk).ToList();
        var results = new JsonArray();
        foreach (var (name, create) in Candidates())
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
            var before = GC.GetTotalMemory(forceFullCollection: true);
            var clock = Stopwatch.StartNew();
            var segment = create();
            segment?.Invoke("预热一下分词器").ToList();
            var loadMs = clock.Elapsed.TotalMilliseconds;
            var retained = GC.GetTotalMemory(forceFullCollection: true) - before;

            var segmenterUs = 0.0;
            if (segment is not null)
            {
                segmenterUs = PerText(texts, t => segment(t).Count());
            }

            var analyzer = new TextAnalyzer(Lexicon.BuiltIn) { ChineseWords = segment };
            var allocated = GC.GetAllocatedBytesForCurrentThread();
            foreach (var t in texts)
            {
                analyzer.Analyze(t);
            }

            var allocPerText = (GC.GetAllocatedBytesForCurrentThread() - allocated) / (double)texts.Count;
            var analyzeUs = PerText(texts, t => analyzer.Analyze(t).Features.Count);

            var offline = AiEngines.CreateOffline();
            var engines = new AiEngines { Analyzer = analyzer, Sentiment = offline.Sentiment, Intents = offline.Intents, Takeover = offline.Takeover, RetrievalOptions = offline.RetrievalOptions };
            var quality = new JsonObject();
            foreach (var (file, json) in faqs)
            {
                var faq = AiEval.EvaluateFaq(engines, json, file);
                quality[Path.GetFileName(Path.GetDirectoryName(file)) + "/" + Path.GetFileName(file)] = new JsonObject
                {
                    ["answeredCorrectly"] = faq["answeredCorrectly"]?.DeepClone(),
                    ["handedOffWhenUnanswerable"] = faq["handedOffWhenUnanswerable"]?.DeepClone(),
                    ["wrongAnswers"] = faq["wrongAnswers"]?.DeepClone(),
                };
            }

            results.Add(new JsonObject
            {
                ["analyzer"] = name,
                ["chineseTexts"] = texts.Count,
                ["loadMs"] = Math.Round(loadMs, 1),
                ["retainedMiB"] = Math.Round(retained / 1048576.0, 1),
                ["segmenterMicrosecondsPerText"] = Math.Round(segmenterUs, 2),
                ["analyzeMicrosecondsPerText"] = Math.Round(analyzeUs, 2),
                ["analyzeBytesAllocatedPerText"] = Math.Round(allocPerText),
                ["faq"] = quality,
            });
            GC.KeepAlive(segment);
        }

        Console.WriteLine(results.ToJsonString(new JsonSerializerOptions { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }));
        return 0;
    }

    private static IEnumerable<(string Name, Func<Func<string, IEnumerable<string>>?> Create)> Candidates()
    {
        yield return ("Parley: character unigrams + bigrams + lexicon (shipped)", () => null);
        yield return ("jieba.NET 0.42.2 (precise mode, HMM) words + unigrams + lexicon", () =>
        {
            ConfigManager.ConfigFileBaseDir = Path.Combine(AppContext.BaseDirectory, "Resources");
            var jieba = new JiebaSegmenter();
            return text => jieba.Cut(text, cutAll: false, hmm: true);
        }
        );
        yield return ("Lucene.Net SmartCn 4.8.0-beta00017 words + unigrams + lexicon", () =>
        {
            var smart = new SmartChineseAnalyzer(LuceneVersion.LUCENE_48);
            return text => Lucene(smart, text);
        }
        );
    }

    private static List<string> Lucene(SmartChineseAnalyzer analyzer, string text)
    {
        var words = new List<string>();
        using var stream = analyzer.GetTokenStream("f", text);
        var term = stream.AddAttribute<ICharTermAttribute>();
        stream.Reset();
        while (stream.IncrementToken())
        {
            words.Add(term.ToString());
        }

        stream.End();
        return words;
    }

    /// <summary>Microseconds per text, the median of five passes over all texts after a warm-up pass.</summary>
    private static double PerText(List<string> texts, Func<string, int> work)
    {
        var sink = 0;
        foreach (var t in texts)
        {
            sink += work(t);
        }

        var passes = new List<double>();
        for (var pass = 0; pass < 5; pass++)
        {
            var clock = Stopwatch.StartNew();
            for (var repeat = 0; repeat < 20; repeat++)
            {
                foreach (var t in texts)
                {
                    sink += work(t);
                }
            }

            passes.Add(clock.Elapsed.TotalMicroseconds / (20.0 * texts.Count));
        }

        GC.KeepAlive(sink);
        passes.Sort();
        return passes[2];
    }
}
