using System.Buffers;
using System.IO.Pipelines;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Protocol;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Parley.Server.Realtime;

namespace Parley.Tests.Operations;

/// <summary>
/// The slow-consumer rule judges the socket, not the queue (docs/protocol.md, failures): a connection is closed when
/// events pile up <em>and</em> its socket stopped draining for the stall time, or at the memory bound; a burst the
/// server fans out faster than it writes, to a client that reads, is delivered in full. Over a real SignalR
/// connection context whose transport the test drains (or does not).
/// </summary>
public sealed class SlowConsumerTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task ABurstFarBeyondTheLimit_ToAClientThatReads_IsDeliveredInFullAndInOrder()
    {
        await using var transport = new Transport(pauseBytes: 4096);
        var evicted = 0;
        var connection = transport.Connect(new OutboundLimits(Soft: 16, Hard: 100_000, Stall: TimeSpan.FromSeconds(10)), TimeProvider.System, () => evicted++);
        var reading = transport.ReadFramesAsync(count: 2000, Ct);

        // The fan-out enqueues far faster than one pump writes: the queue passes 16 at once, the client keeps reading.
        for (var i = 1; i <= 2000; i++)
        {
            connection.Enqueue(Event(i));
        }

        var frames = await reading;
        Assert.Equal(0, evicted);
        Assert.Equal(Enumerable.Range(1, 2000).Select(i => $"\"n\":{i},"), frames.Select(f => f[f.IndexOf("\"n\":", StringComparison.Ordinal)..(f.IndexOf(',', f.IndexOf("\"n\":", StringComparison.Ordinal)) + 1)]));
    }

    [Fact]
    public async Task AClientThatStopsReading_IsClosedOnceItsSocketHasNotDrainedForTheStallTime()
    {
        await using var transport = new Transport(pauseBytes: 1024);
        var time = new FakeTimeProvider();
        var evicted = 0;
        var connection = transport.Connect(new OutboundLimits(Soft: 16, Hard: 100_000, Stall: TimeSpan.FromSeconds(10)), time, () => evicted++);

        // Nobody reads: the transport's buffer fills, the pump's write waits for the socket, events queue up.
        for (var i = 1; i <= 40; i++)
        {
            connection.Enqueue(Event(i));
        }

        await WaitUntilAsync(() => connection.WaitingForSocket);
        Assert.True(connection.Pending > 16);
        time.Advance(TimeSpan.FromSeconds(9));
        connection.Enqueue(Event(41));
        Assert.Equal(0, evicted); // queued deep, but the socket has not been stuck for the stall time yet

        time.Advance(TimeSpan.FromSeconds(2));
        connection.Enqueue(Event(42));
        Assert.Equal(1, evicted);
        connection.Enqueue(Event(43));
        Assert.Equal(1, evicted); // closed once
    }

    [Fact]
    public async Task AtTheHardLimit_AConnectionIsClosedEvenWithoutAStall()
    {
        await using var transport = new Transport(pauseBytes: 1024);
        var evicted = 0;
        var connection = transport.Connect(new OutboundLimits(Soft: 16, Hard: 64, Stall: TimeSpan.FromSeconds(10)), new FakeTimeProvider(), () => evicted++);
        for (var i = 1; i <= 200 && evicted == 0; i++)
        {
            connection.Enqueue(Event(i));
        }

        Assert.Equal(1, evicted);
        await Task.CompletedTask;
    }

    private static SerializedHubMessage Event(int n) =>
        new(new InvocationMessage("message", [new { n, body = new string('x', 200) }]));

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (!condition())
        {
            await Task.Delay(10, cts.Token);
        }
    }

    /// <summary>A connection's transport: what the server writes lands in a pipe the test reads (or leaves full).</summary>
    private sealed class Transport(int pauseBytes) : IAsyncDisposable
    {
        private readonly Pipe _toClient = new(new PipeOptions(pauseWriterThreshold: pauseBytes, resumeWriterThreshold: pauseBytes / 2, useSynchronizationContext: false));
        private readonly Pipe _fromClient = new();
        private HubConnectionContext? _context;

        public ClientConnection Connect(OutboundLimits limits, TimeProvider time, Action onEvicted)
        {
            var connection = new DefaultConnectionContext("test", new DuplexPipe(_fromClient.Reader, _toClient.Writer), new DuplexPipe(_toClient.Reader, _fromClient.Writer));
            _context = new HubConnectionContext(connection, new HubConnectionContextOptions { KeepAliveInterval = TimeSpan.FromMinutes(5), ClientTimeoutInterval = TimeSpan.FromMinutes(5) }, NullLoggerFactory.Instance)
            {
                Protocol = new JsonHubProtocol(),
            };
            return new ClientConnection(_context, Server.Core.Audience.Visitor, Guid.NewGuid(), Guid.NewGuid(), limits, time, NullLogger.Instance, onEvicted);
        }

        /// <summary>Reads <paramref name="count"/> JSON hub frames (0x1E-terminated) as the client would.</summary>
        public async Task<List<string>> ReadFramesAsync(int count, CancellationToken cancellationToken)
        {
            var frames = new List<string>(count);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(TimeSpan.FromSeconds(30));
            while (frames.Count < count)
            {
                var result = await _toClient.Reader.ReadAsync(timeout.Token);
                var buffer = result.Buffer;
                while (buffer.PositionOf((byte)0x1E) is { } end)
                {
                    frames.Add(System.Text.EncodingExtensions.GetString(System.Text.Encoding.UTF8, buffer.Slice(0, end)));
                    buffer = buffer.Slice(buffer.GetPosition(1, end));
                }

                _toClient.Reader.AdvanceTo(buffer.Start, buffer.End);
            }

            return frames;
        }

        public ValueTask DisposeAsync()
        {
            _context?.Abort();
            return ValueTask.CompletedTask;
        }

        private sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
        {
            public PipeReader Input { get; } = input;

            public PipeWriter Output { get; } = output;
        }
    }
}
