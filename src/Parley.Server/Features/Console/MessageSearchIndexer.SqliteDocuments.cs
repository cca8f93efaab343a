using System.Buffers;
using System.Text;

namespace Parley.Server.Features.Console;

public sealed partial class MessageSearchIndexer
{
    /// <summary>
    /// The SQLite index documents of one pass, built before the write transaction and inserted under it. A document is
    /// the text's distinct bigram tokens (<see cref="SqliteGrams"/>) separated by spaces, then the department token
    /// (<see cref="SqliteScopeToken"/>): ASCII, so it is written as UTF-8 bytes, every document of the pass into one
    /// pooled buffer, from the body's stored UTF-8 decoded into a second one. Indexing a message allocates nothing
    /// (a string per body and per document was about a tenth of what the chat path allocated per message).
    /// </summary>
    /// <remarks>
    /// One set is kept between passes (<see cref="Rent"/>, <see cref="Return"/>), with its buffers grown to the largest
    /// pass so far; a pass that finds it taken (a concurrent <see cref="RunOnceAsync"/>) makes its own.
    /// </remarks>
    private sealed class SqliteDocuments : IDisposable
    {
        private static SqliteDocuments? _spare;

        public static SqliteDocuments Rent() => Interlocked.Exchange(ref _spare, null) ?? new SqliteDocuments();

        public void Return()
        {
            Clear();
            if (Interlocked.CompareExchange(ref _spare, this, null) is not null)
            {
                Dispose();
            }
        }

        private readonly HashSet<uint> _seen = [];
        private readonly List<uint> _codes = [];
        private readonly List<(long Id, int Start, int Length)> _documents = [];
        private byte[] _text = ArrayPool<byte>.Shared.Rent(16 * 1024);
        private char[] _body = ArrayPool<char>.Shared.Rent(1024);
        private int _used;

        public int Count => _documents.Count;

        public long Id(int index) => _documents[index].Id;

        /// <summary>The document's UTF-8 (ASCII) bytes, valid until <see cref="Clear"/>.</summary>
        public ReadOnlySpan<byte> Document(int index)
        {
            var (_, start, length) = _documents[index];
            return _text.AsSpan(start, length);
        }

        public void Clear()
        {
            _documents.Clear();
            _used = 0;
        }

        /// <summary>Adds the document of a body stored as UTF-8.</summary>
        public void Add(long id, ReadOnlySpan<byte> utf8Body, Guid? teamId)
        {
            Grow(ref _body, Encoding.UTF8.GetMaxCharCount(utf8Body.Length));
            Add(id, _body.AsSpan(0, Encoding.UTF8.GetChars(utf8Body, _body)), teamId);
        }

        public void Add(long id, ReadOnlySpan<char> body, Guid? teamId)
        {
            DistinctGrams(body, _seen, _codes);
            var length = _codes.Count * (TokenLength + 1) + (teamId is null ? 5 : 33);
            Grow(ref _text, _used + length);
            var document = _text.AsSpan(_used, length);
            for (var i = 0; i < _codes.Count; i++)
            {
                var at = i * (TokenLength + 1);
                FormatToken(_codes[i], document.Slice(at, TokenLength));
                document[at + TokenLength] = (byte)' ';
            }

            var scope = document[(_codes.Count * (TokenLength + 1))..];
            scope[0] = (byte)'t';
            if (teamId is { } team)
            {
                team.TryFormat(scope[1..], out _, "N");
            }
            else
            {
                "none"u8.CopyTo(scope[1..]);
            }

            _documents.Add((id, _used, length));
            _used += length;
        }

        /// <summary>A pooled buffer at least <paramref name="size"/> long, keeping what it holds.</summary>
        private static void Grow<T>(ref T[] buffer, int size)
        {
            if (buffer.Length >= size)
            {
                return;
            }

            var larger = ArrayPool<T>.Shared.Rent(Math.Max(size, buffer.Length * 2));
            buffer.AsSpan().CopyTo(larger);
            ArrayPool<T>.Shared.Return(buffer);
            buffer = larger;
        }

        public void Dispose()
        {
            ArrayPool<byte>.Shared.Return(_text);
            ArrayPool<char>.Shared.Return(_body);
        }
    }
}
