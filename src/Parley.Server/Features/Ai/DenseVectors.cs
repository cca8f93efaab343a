using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;

namespace Parley.Server.Features.Ai;

/// <summary>
/// The embeddings of the knowledge entries under one embeddings model, in memory on each node (dense retrieval,
/// docs/ai.md "Dense retrieval"): one unit-length vector per text of an entry (question, then each variant). An entry's
/// dense similarity to a question is the best cosine over its texts. Thread-safe: writers swap an immutable map.
/// </summary>
public sealed class DenseVectors
{
    private readonly Lock _gate = new();
    private volatile Dictionary<string, float[][]> _vectors = new(StringComparer.Ordinal);

    /// <summary>The embeddings model the vectors come from; null when dense retrieval is off.</summary>
    public string? Model { get; private set; }

    public int Dimensions { get; private set; }

    public int Count => _vectors.Count;

    /// <summary>Drops every vector when the model changes (vectors of two models are not comparable).</summary>
    public void UseModel(string? model)
    {
        lock (_gate)
        {
            if (!string.Equals(Model, model, StringComparison.Ordinal))
            {
                Model = model;
                Dimensions = 0;
                _vectors = new(StringComparer.Ordinal);
            }
        }
    }

    public void Set(string entryId, IReadOnlyList<float[]> vectors)
    {
        if (vectors.Count == 0 || vectors[0].Length == 0 || vectors.Any(v => v.Length != vectors[0].Length))
        {
            return;
        }

        var normalised = vectors.Select(Normalise).ToArray();
        lock (_gate)
        {
            if (Dimensions != 0 && Dimensions != normalised[0].Length)
            {
                return;
            }

            Dimensions = normalised[0].Length;
            _vectors = new Dictionary<string, float[][]>(_vectors, StringComparer.Ordinal) { [entryId] = normalised };
        }
    }

    public void Remove(string entryId)
    {
        lock (_gate)
        {
            if (_vectors.ContainsKey(entryId))
            {
                var next = new Dictionary<string, float[][]>(_vectors, StringComparer.Ordinal);
                next.Remove(entryId);
                _vectors = next;
            }
        }
    }

    public bool Has(string entryId) => _vectors.ContainsKey(entryId);

    /// <summary>The best cosine between <paramref name="query"/> and the entry's texts; null when the entry has none
    /// or the dimensions differ.</summary>
    public double? Similarity(string entryId, float[] query)
    {
        if (!_vectors.TryGetValue(entryId, out var texts) || texts[0].Length != query.Length)
        {
            return null;
        }

        var best = double.MinValue;
        foreach (var text in texts)
        {
            best = Math.Max(best, Dot(text, query));
        }

        return best;
    }

    /// <summary>Unit length, so a dot product is the cosine.</summary>
    public static float[] Normalise(float[] vector)
    {
        var norm = MathF.Sqrt(Dot(vector, vector));
        var copy = new float[vector.Length];
        if (norm > 0 && float.IsFinite(norm))
        {
            for (var i = 0; i < vector.Length; i++)
            {
                copy[i] = vector[i] / norm;
            }
        }

        return copy;
    }

    public static float Dot(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        var sum = System.Numerics.Vector<float>.Zero;
        var width = System.Numerics.Vector<float>.Count;
        var i = 0;
        for (; i <= a.Length - width; i += width)
        {
            sum += new System.Numerics.Vector<float>(a[i..]) * new System.Numerics.Vector<float>(b[i..]);
        }

        var total = System.Numerics.Vector.Sum(sum);
        for (; i < a.Length; i++)
        {
            total += a[i] * b[i];
        }

        return total;
    }

    /// <summary>The texts of an entry that are embedded: its question, then each variant (answers are not).</summary>
    public static List<string> Texts(KnowledgeDocument document) => [document.Question, .. document.Variants];

    /// <summary>The version of an entry's embeddings: SHA-256 of its embedded texts.</summary>
    public static string TextHash(IReadOnlyList<string> texts) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(string.Join('\u001f', texts))));

    public static byte[] ToBytes(IReadOnlyList<float[]> vectors)
    {
        var bytes = new byte[vectors.Sum(v => v.Length) * sizeof(float)];
        var offset = 0;
        foreach (var vector in vectors)
        {
            var span = MemoryMarshal.AsBytes(vector.AsSpan());
            span.CopyTo(bytes.AsSpan(offset));
            offset += span.Length;
        }

        return bytes;
    }

    public static List<float[]> FromBytes(byte[] bytes, int dimensions)
    {
        var vectors = new List<float[]>();
        if (dimensions <= 0 || bytes.Length % (dimensions * sizeof(float)) != 0)
        {
            return vectors;
        }

        var floats = MemoryMarshal.Cast<byte, float>(bytes.AsSpan());
        for (var i = 0; i < floats.Length; i += dimensions)
        {
            vectors.Add(floats.Slice(i, dimensions).ToArray());
        }

        return vectors;
    }
}
