using System.Buffers.Text;
using System.Diagnostics;
using System.Globalization;
using MessagePack;

namespace Parley.LoadTest;

/// <summary>The fields of a <c>message</c> event the generator checks (docs/protocol.md, MessageDto).</summary>
internal struct MessageEvent
{
    public Guid ConversationId;
    public long Seq;
    public Guid ClientId;

    /// <summary>The intended send time stamped into the body (Stopwatch ticks), or 0 when the body has none.</summary>
    public long IntendedTicks;
}

internal sealed record ConversationInfo(Guid Id, string Status, long LastSeq);

internal sealed record SendAck(Guid ConversationId, Guid ClientId, long Id, long Seq, bool Duplicate);

internal sealed record Replay(Guid ConversationId, List<MessageEvent> Messages, long LastSeq, bool Truncated, string Status);

/// <summary>Encoding and decoding of the Parley hub shapes with MessagePackWriter/Reader (camelCase string keys).</summary>
internal static class Wire
{
    private const string Filler = " hello from the parley load generator, how are you today?";

    /// <summary>Body with the intended send timestamp first, so any receiver can compute latency.</summary>
    public static string Body(long intendedTicks) => intendedTicks.ToString(CultureInfo.InvariantCulture) + Filler;

    /// <summary>The intended send time a body written by <see cref="Body"/> starts with (0 when it does not).</summary>
    public static long Ticks(ReadOnlySpan<byte> body) => Utf8Parser.TryParse(body, out long ticks, out _) ? ticks : 0;

    public static ArgsWriter NoArgs { get; } = (ref MessagePackWriter w) => w.WriteArrayHeader(0);

    public static ArgsWriter SendArgs(Guid conversationId, Guid clientId, string body) => (ref MessagePackWriter w) =>
    {
        w.WriteArrayHeader(1);
        w.WriteMapHeader(3);
        w.Write("conversationId");
        w.Write(conversationId.ToString());
        w.Write("clientId");
        w.Write(clientId.ToString());
        w.Write("body");
        w.Write(body);
    };

    public static ArgsWriter ResumeArgs(Guid conversationId, long afterSeq) => (ref MessagePackWriter w) =>
    {
        w.WriteArrayHeader(1);
        w.WriteMapHeader(2);
        w.Write("conversationId");
        w.Write(conversationId.ToString());
        w.Write("afterSeq");
        w.Write(afterSeq);
    };

    public static Guid ReadGuid(ref MessagePackReader reader)
    {
        if (reader.TryReadStringSpan(out var span))
        {
            return Utf8Parser.TryParse(span, out Guid g, out _, 'D') ? g : Guid.Empty;
        }

        var s = reader.ReadString();
        return s is null ? Guid.Empty : Guid.Parse(s, CultureInfo.InvariantCulture);
    }

    private static bool KeyIs(ReadOnlySpan<byte> key, ReadOnlySpan<byte> name) => key.SequenceEqual(name);

    private static ReadOnlySpan<byte> ReadKey(ref MessagePackReader reader)
    {
        if (reader.TryReadStringSpan(out var span))
        {
            return span;
        }

        var seq = reader.ReadStringSequence();
        return seq.HasValue ? System.Buffers.BuffersExtensions.ToArray(seq.Value) : default;
    }

    public static MessageEvent ReadMessage(ref MessagePackReader reader)
    {
        var result = default(MessageEvent);
        var n = reader.ReadMapHeader();
        for (var i = 0; i < n; i++)
        {
            var key = ReadKey(ref reader);
            if (KeyIs(key, "conversationId"u8))
            {
                result.ConversationId = ReadGuid(ref reader);
            }
            else if (KeyIs(key, "seq"u8))
            {
                result.Seq = reader.ReadInt64();
            }
            else if (KeyIs(key, "clientId"u8))
            {
                result.ClientId = ReadGuid(ref reader);
            }
            else if (KeyIs(key, "body"u8) && reader.TryReadStringSpan(out var body))
            {
                result.IntendedTicks = Ticks(body);
            }
            else
            {
                reader.Skip();
            }
        }

        return result;
    }

    public static ConversationInfo ReadConversationInfo(ref MessagePackReader reader)
    {
        Guid id = default;
        string status = "";
        long lastSeq = 0;
        var n = reader.ReadMapHeader();
        for (var i = 0; i < n; i++)
        {
            var key = ReadKey(ref reader);
            if (KeyIs(key, "id"u8))
            {
                id = ReadGuid(ref reader);
            }
            else if (KeyIs(key, "status"u8))
            {
                status = reader.ReadString() ?? "";
            }
            else if (KeyIs(key, "lastSeq"u8))
            {
                lastSeq = reader.ReadInt64();
            }
            else
            {
                reader.Skip();
            }
        }

        return new ConversationInfo(id, status, lastSeq);
    }

    public static SendAck ReadAck(ref MessagePackReader reader)
    {
        Guid conversationId = default, clientId = default;
        long id = 0, seq = 0;
        var duplicate = false;
        var n = reader.ReadMapHeader();
        for (var i = 0; i < n; i++)
        {
            var key = ReadKey(ref reader);
            if (KeyIs(key, "conversationId"u8))
            {
                conversationId = ReadGuid(ref reader);
            }
            else if (KeyIs(key, "clientId"u8))
            {
                clientId = ReadGuid(ref reader);
            }
            else if (KeyIs(key, "id"u8))
            {
                id = reader.ReadInt64();
            }
            else if (KeyIs(key, "seq"u8))
            {
                seq = reader.ReadInt64();
            }
            else if (KeyIs(key, "duplicate"u8))
            {
                duplicate = reader.ReadBoolean();
            }
            else
            {
                reader.Skip();
            }
        }

        return new SendAck(conversationId, clientId, id, seq, duplicate);
    }

    public static Replay ReadReplay(ref MessagePackReader reader)
    {
        Guid id = default;
        var messages = new List<MessageEvent>();
        long lastSeq = 0;
        var truncated = false;
        var status = "";
        var n = reader.ReadMapHeader();
        for (var i = 0; i < n; i++)
        {
            var key = ReadKey(ref reader);
            if (KeyIs(key, "conversationId"u8))
            {
                id = ReadGuid(ref reader);
            }
            else if (KeyIs(key, "messages"u8))
            {
                var count = reader.ReadArrayHeader();
                for (var j = 0; j < count; j++)
                {
                    messages.Add(ReadMessage(ref reader));
                }
            }
            else if (KeyIs(key, "lastSeq"u8))
            {
                lastSeq = reader.ReadInt64();
            }
            else if (KeyIs(key, "truncated"u8))
            {
                truncated = reader.ReadBoolean();
            }
            else if (KeyIs(key, "status"u8))
            {
                status = reader.ReadString() ?? "";
            }
            else
            {
                reader.Skip();
            }
        }

        return new Replay(id, messages, lastSeq, truncated, status);
    }

    public static double TicksToMicros(long ticks) => ticks * 1_000_000.0 / Stopwatch.Frequency;
}
