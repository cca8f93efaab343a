namespace Parley.Server.Features.Ai;

/// <summary>One knowledge-base entry as the index sees it.</summary>
public sealed record KnowledgeDocument(
    string Id,
    string Question,
    IReadOnlyList<string> Variants,
    string Answer,
    string? Language = null,
    Guid? TeamId = null,
    bool Enabled = true);

/// <summary>A ranked candidate: the entry, its raw BM25 score and the calibrated confidence (0..1).</summary>
public sealed record KnowledgeMatch(KnowledgeDocument Document, double Score, double Confidence, IReadOnlyList<string> MatchedConcepts, MatchEvidence Evidence);

/// <summary>
/// What the confidence is calibrated from: the share of the question's known features the entry explains, the share
/// of the question's words the knowledge base never uses, the lead over the runner-up, the share of the question's
/// topical concepts the entry carries, and log(1 + BM25 score).
/// </summary>
/// <param name="Dense">The best cosine between the question's embedding and the entry's texts when dense retrieval took
/// part (docs/ai.md "Dense retrieval"); null otherwise.</param>
public sealed record MatchEvidence(double Coverage, double Unknown, double Lead, double Concepts, double Foreign, double Score, double? Dense = null);

/// <summary>The retrieval decision: the entry to answer with, or none (hand off), and why.</summary>
public sealed record RetrievalResult(KnowledgeMatch? Answer, IReadOnlyList<KnowledgeMatch> Candidates, string Reason);

/// <summary>
/// BM25 over the shared text features of questions, variants (full weight) and answers (lower weight), with the
/// concept features as the cross-lingual bridge. Updated incrementally (upsert/remove one entry rebuilds only the
/// statistics, never re-analyses the rest). Thread-safe: readers take an immutable snapshot.
/// Confidence is calibrated from what part of the visitor's informative features the best entry explains and how
/// far it leads the runner-up (docs/ai.md, "How retrieval decides").
/// </summary>
public sealed class KnowledgeIndex(TextAnalyzer analyzer, RetrievalOptions? options = null, DenseVectors? dense = null)
{
    private readonly Lock _gate = new();
    private readonly RetrievalOptions _options = options ?? new RetrievalOptions();
    private Dictionary<string, IndexedDocument> _documents = new(StringComparer.Ordinal);
    private volatile Snapshot _snapshot = Snapshot.Empty;

    public int Count => _snapshot.Documents.Length;

    public TextAnalyzer Analyzer => analyzer;

    /// <summary>The entries' embeddings (dense retrieval); empty unless an embeddings model is configured.</summary>
    public DenseVectors Dense { get; } = dense ?? new DenseVectors();

    public void Upsert(KnowledgeDocument document)
    {
        var indexed = IndexedDocument.Create(document, analyzer, _options);
        lock (_gate)
        {
            var next = new Dictionary<string, IndexedDocument>(_documents, StringComparer.Ordinal) { [document.Id] = indexed };
            Publish(next);
        }
    }

    public void Remove(string id)
    {
        lock (_gate)
        {
            if (_documents.ContainsKey(id))
            {
                var next = new Dictionary<string, IndexedDocument>(_documents, StringComparer.Ordinal);
                next.Remove(id);
                Publish(next);
                Dense.Remove(id);
            }
        }
    }

    /// <summary>Replaces everything (start, import, a lexicon change that needs re-analysis).</summary>
    public void Reset(IEnumerable<KnowledgeDocument> documents)
    {
        var next = documents.Select(d => IndexedDocument.Create(d, analyzer, _options)).ToDictionary(d => d.Document.Id, StringComparer.Ordinal);
        lock (_gate)
        {
            Publish(next);
        }
    }

    private void Publish(Dictionary<string, IndexedDocument> documents)
    {
        _documents = documents;
        _snapshot = Snapshot.Build(documents.Values.Where(d => d.Document.Enabled).ToArray());
    }

    /// <summary>Ranks entries for a question. <paramref name="teams"/> limits to entries of those teams (plus
    /// entries for every team); null means no limit.</summary>
    public RetrievalResult Search(string question, IReadOnlySet<Guid>? teams = null, int take = 3, float[]? questionVector = null)
    {
        var query = analyzer.Analyze(question);
        return Search(query, teams, take, questionVector);
    }

    /// <param name="questionVector">The question's embedding under <see cref="DenseVectors.Model"/>: when given, the
    /// lexical candidates are re-ranked by the mixed score (docs/ai.md "Dense retrieval"); null: lexical only.</param>
    public RetrievalResult Search(AnalyzedText query, IReadOnlySet<Guid>? teams = null, int take = 3, float[]? questionVector = null)
    {
        var snapshot = _snapshot;
        if (query.IsEmpty || snapshot.Documents.Length == 0)
        {
            return new RetrievalResult(null, [], query.IsEmpty ? "empty" : "no_entries");
        }

        // Query features with their weights; repeated features count once.
        var weights = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var feature in query.Features)
        {
            weights.TryAdd(feature, FeatureWeight(feature));
        }

        var known = 0.0;
        var unknown = 0.0;
        var scores = new double[snapshot.Documents.Length];
        var explained = new double[snapshot.Documents.Length];
        foreach (var (feature, weight) in weights)
        {
            var idf = snapshot.Idf(feature);
            if (!snapshot.Postings.TryGetValue(feature, out var postings))
            {
                // Words the knowledge base never uses: "this question may be about something else".
                if (feature[0] is 'w' or 'c' or 'b')
                {
                    unknown += weight;
                }

                continue;
            }

            known += weight * idf;
            foreach (var (doc, tf) in postings)
            {
                var length = snapshot.Documents[doc].Length;
                var k1 = _options.K1;
                var norm = tf * (k1 + 1) / (tf + k1 * (1 - _options.B + _options.B * length / snapshot.AverageLength));
                scores[doc] += weight * idf * norm;
                explained[doc] += weight * idf * Math.Min(1.0, tf);
            }
        }

        // Coordination over the question's topics: an entry that covers every topic the visitor named ranks above one
        // that matches a single topic many times ("is delivery free?" is about delivery *and* free, not a free trial).
        var topicalConcepts = query.Concepts.Where(c => !NonTopical.Contains(c)).ToList();
        if (topicalConcepts.Count > 0)
        {
            for (var i = 0; i < scores.Length; i++)
            {
                if (scores[i] > 0)
                {
                    var covered = topicalConcepts.Count(snapshot.Documents[i].Concepts.Contains);
                    scores[i] *= 0.5 + (0.5 * covered / topicalConcepts.Count);
                }
            }
        }

        // Dense retrieval re-ranks what lexical retrieval found (an entry must share at least one feature with the
        // question): mixed = (1 - w) * bm25 / best bm25 + w * max(0, cosine). Entries without vectors count cosine 0.
        var (rank, cosines) = Mix(snapshot, scores, questionVector);
        var ranked = Enumerable.Range(0, scores.Length)
            .Where(i => scores[i] > 0 && InTeams(snapshot.Documents[i].Document, teams))
            .OrderByDescending(i => rank[i])
            .Take(Math.Max(take, 2))
            .ToList();
        if (ranked.Count == 0)
        {
            return new RetrievalResult(null, [], "no_match");
        }

        var topical = topicalConcepts;
        var foreign = topical.Count(c => !snapshot.Postings.ContainsKey(TextAnalyzer.Concept + c));
        var informative = weights.Where(p => p.Key[0] is 'w' or 'c' or 'b').Sum(p => p.Value);
        var runnerUp = ranked.Count > 1 ? rank[ranked[1]] : 0;
        var candidates = ranked.Take(take).Select((i, position) =>
        {
            var document = snapshot.Documents[i];
            var evidence = new MatchEvidence(
                Coverage: known <= 0 ? 0 : explained[i] / known,
                Unknown: informative <= 0 ? 0 : unknown / informative,
                Lead: position == 0 && rank[i] > 0 ? (rank[i] - runnerUp) / rank[i] : 0,
                Concepts: topical.Count == 0 ? 0.5 : (double)topical.Count(document.Concepts.Contains) / topical.Count,
                Foreign: Math.Min(1, foreign),
                Score: Math.Log(1 + scores[i]),
                Dense: cosines?[i]);
            return new KnowledgeMatch(document.Document, scores[i], Calibrate(evidence), document.Concepts.Where(query.Concepts.Contains).ToList(), evidence);
        }).ToList();

        var top = candidates[0];
        if (top.Confidence < _options.Threshold)
        {
            return new RetrievalResult(null, candidates, "low_confidence");
        }

        return new RetrievalResult(top, candidates, "confident");
    }

    private (double[] Rank, double[]? Cosines) Mix(Snapshot snapshot, double[] scores, float[]? questionVector)
    {
        var dense = Dense;
        var best = scores.Length == 0 ? 0 : scores.Max();
        if (questionVector is not { Length: > 0 } || dense.Count == 0 || dense.Dimensions != questionVector.Length || best <= 0 || _options.DenseWeight <= 0)
        {
            return (scores, null);
        }

        var query = DenseVectors.Normalise(questionVector);
        var w = Math.Clamp(_options.DenseWeight, 0, 1);
        var rank = new double[scores.Length];
        var cosines = new double[scores.Length];
        for (var i = 0; i < scores.Length; i++)
        {
            if (scores[i] > 0)
            {
                cosines[i] = dense.Similarity(snapshot.Documents[i].Document.Id, query) ?? 0;
                rank[i] = ((1 - w) * scores[i] / best) + (w * Math.Max(0, cosines[i]));
            }
        }

        return (rank, cosines);
    }

    /// <summary>Logistic calibration of the evidence (weights fitted as docs/ai.md describes).</summary>
    private double Calibrate(MatchEvidence e)
    {
        var o = _options;
        var z = o.BiasWeight + (o.CoverageWeight * e.Coverage) + (o.UnknownWeight * e.Unknown) + (o.LeadWeight * e.Lead) + (o.ConceptsWeight * e.Concepts) + (o.ForeignWeight * e.Foreign) + (o.ScoreWeight * e.Score);
        return 1 / (1 + Math.Exp(-z));
    }

    // Concepts about the conversation rather than its topic: they neither make nor break a match.
    private static readonly HashSet<string> NonTopical = new(StringComparer.Ordinal) { "greet", "thanks", "ok", "bye", "repeat", "wait", "human", "when", "fee", "price", "fast", "app", "modify", "order", "broken", "enterprise", "usage", "contact" };

    private double FeatureWeight(string feature) => feature[0] switch
    {
        'c' => _options.ConceptWeight,
        'w' => 1.0,
        'b' => 1.0,
        'u' => _options.UnigramWeight,
        'n' => 0.5,
        _ => 0.5,
    };

    private static bool InTeams(KnowledgeDocument document, IReadOnlySet<Guid>? teams) =>
        teams is null || document.TeamId is null || teams.Contains(document.TeamId.Value);

    private sealed record IndexedDocument(KnowledgeDocument Document, Dictionary<string, double> Tf, double Length, IReadOnlySet<string> Concepts)
    {
        public static IndexedDocument Create(KnowledgeDocument document, TextAnalyzer analyzer, RetrievalOptions options)
        {
            var tf = new Dictionary<string, double>(StringComparer.Ordinal);
            var concepts = new HashSet<string>(StringComparer.Ordinal);
            void Add(string text, double fieldWeight)
            {
                var analyzed = analyzer.Analyze(text, maxLength: 8000);
                concepts.UnionWith(analyzed.Concepts);
                foreach (var feature in analyzed.Features.Distinct(StringComparer.Ordinal))
                {
                    tf[feature] = Math.Max(tf.GetValueOrDefault(feature), 0) + fieldWeight;
                }
            }

            foreach (var question in document.Variants.Prepend(document.Question))
            {
                Add(question, 1.0);
            }

            Add(document.Answer, options.AnswerWeight);

            // Many variants must not make an entry win by sheer length: term frequency saturates per field anyway,
            // and the length is measured in distinct features.
            return new IndexedDocument(document, tf, tf.Count, concepts);
        }
    }

    private sealed class Snapshot
    {
        public static readonly Snapshot Empty = Build([]);

        public required IndexedDocument[] Documents { get; init; }

        public required Dictionary<string, List<(int Doc, double Tf)>> Postings { get; init; }

        public double AverageLength { get; init; }

        public double Idf(string feature)
        {
            var n = Postings.TryGetValue(feature, out var list) ? list.Count : 0;
            var count = Documents.Length;

            // Unknown features weigh like the rarest known ones: they still say "this question is about something
            // the knowledge base may not cover".
            return Math.Log(1 + ((count - n + 0.5) / (n + 0.5)));
        }

        public static Snapshot Build(IndexedDocument[] documents)
        {
            var postings = new Dictionary<string, List<(int, double)>>(StringComparer.Ordinal);
            for (var i = 0; i < documents.Length; i++)
            {
                foreach (var (feature, tf) in documents[i].Tf)
                {
                    if (!postings.TryGetValue(feature, out var list))
                    {
                        postings[feature] = list = [];
                    }

                    list.Add((i, tf));
                }
            }

            return new Snapshot
            {
                Documents = documents,
                Postings = postings,
                AverageLength = documents.Length == 0 ? 1 : documents.Average(d => d.Length),
            };
        }
    }
}

/// <summary>Retrieval tuning (Parley:Ai:Retrieval). Defaults calibrated as docs/ai.md describes.</summary>
public sealed class RetrievalOptions
{
    public double K1 { get; set; } = 1.2;

    public double B { get; set; } = 0.5;

    public double AnswerWeight { get; set; } = 0.5;

    public double ConceptWeight { get; set; } = 1.5;

    public double UnigramWeight { get; set; } = 0.35;

    public double BiasWeight { get; set; } = -3.0;

    public double CoverageWeight { get; set; } = 2.5;

    public double UnknownWeight { get; set; } = -1.5;

    public double LeadWeight { get; set; } = 1.0;

    public double ConceptsWeight { get; set; } = 2.5;

    public double ForeignWeight { get; set; } = -2.75;

    public double ScoreWeight { get; set; } = 0.8;

    /// <summary>
    /// Share of the cosine in the mixed rank when dense retrieval takes part: (1 - w) * bm25 / best bm25 + w * cosine.
    /// 0 turns dense re-ranking off.
    /// </summary>
    public double DenseWeight { get; set; } = 0.5;

    /// <summary>The bot answers only at or above this confidence; below it hands off.</summary>
    public double Threshold { get; set; } = 0.5;
}
