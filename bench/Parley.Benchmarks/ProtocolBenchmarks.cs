using System.Buffers;
using BenchmarkDotNet.Attributes;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Protocol;
using Microsoft.Extensions.Options;
using Parley.Server.Messaging;

namespace Parley.Benchmarks;

/// <summary>
/// The MessagePack hub protocol on Parley's hot path: encoding a <c>message</c> event (done once per audience per
/// committed message, then reused for every subscriber), and decoding a client's <c>Send</c> invocation.
/// </summary>
[MemoryDiagnoser]
public class ProtocolBenchmarks
{
    private readonly MessagePackHubProtocol _protocol = new(Options.Create(new MessagePackHubProtocolOptions()));
    private readonly ArrayBufferWriter<byte> _buffer = new(1024);
    private MessageDto _dto = null!;
    private byte[] _sendFrame = null!;
    private byte[] _eventFrame = null!;
    private readonly Binder _binder = new();

    [GlobalSetup]
    public void Setup()
    {
        _dto = new MessageDto
        {
            Id = 123_456,
            ConversationId = Guid.CreateVersion7(),
            Seq = 42,
            ClientId = Guid.NewGuid(),
            SenderKind = "visitor",
            SenderId = Guid.NewGuid(),
            SenderName = "Visitor 1A2B3C",
            Kind = "text",
            Body = "1234567890123 hello from the parley load generator, how are you today?",
            CreatedAt = DateTime.UtcNow,
        };
        var send = new SendRequest { ConversationId = _dto.ConversationId.ToString(), ClientId = _dto.ClientId.ToString(), Body = _dto.Body };
        _sendFrame = _protocol.GetMessageBytes(new InvocationMessage("7", "Send", [send])).ToArray();
        _eventFrame = _protocol.GetMessageBytes(new InvocationMessage("message", [_dto])).ToArray();
    }

    /// <summary>What RealtimeFanout does once per committed message and audience.</summary>
    [Benchmark]
    public int EncodeMessageEvent()
    {
        _buffer.ResetWrittenCount();
        _protocol.WriteMessage(new InvocationMessage("message", [_dto]), _buffer);
        return _buffer.WrittenCount;
    }

    /// <summary>SerializedHubMessage as the fan-out builds it, serialized for the MessagePack protocol (cached per protocol).</summary>
    [Benchmark]
    public int SerializedHubMessageForOneProtocol()
    {
        var message = new SerializedHubMessage(new InvocationMessage("message", [_dto]));
        return message.GetSerializedMessage(_protocol).Length;
    }

    /// <summary>The server parsing a visitor's Send invocation (SendRequest argument).</summary>
    [Benchmark]
    public object? DecodeSendInvocation()
    {
        var input = new ReadOnlySequence<byte>(_sendFrame);
        _protocol.TryParseMessage(ref input, _binder, out var message);
        return message;
    }

    /// <summary>A client parsing a message event into MessageDto.</summary>
    [Benchmark]
    public object? DecodeMessageEvent()
    {
        var input = new ReadOnlySequence<byte>(_eventFrame);
        _protocol.TryParseMessage(ref input, _binder, out var message);
        return message;
    }

    private sealed class Binder : IInvocationBinder
    {
        public IReadOnlyList<Type> GetParameterTypes(string methodName) => methodName == "Send" ? [typeof(SendRequest)] : [typeof(MessageDto)];

        public Type GetReturnType(string invocationId) => typeof(SendAck);

        public Type GetStreamItemType(string streamId) => typeof(object);
    }
}
