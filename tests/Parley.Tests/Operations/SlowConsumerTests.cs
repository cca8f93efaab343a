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

    [Fact]
    public async Task AConnectionWithNothingToSend_HoldsNoPump_AndEventsAfterAnIdleSpellGoOutInOrder()
    {
        await using var transport = new Transport(pauseBytes: 4096);
        var connection = transport.Connect(new OutboundLimits(Soft: 16, Hard: 100_000, Stall: TimeSpan.FromSeconds(10)), TimeProvider.System, () => { });
        Assert.False(connection.IsPumping); // a new connection: nothing scheduled until its first event

        var numbers = new List<int>();
        for (var round = 0; round < 3; round++)
        {
            var reading = transport.ReadFramesAsync(count: 300, Ct);
            for (var i = 1; i <= 300; i++)
            {
                connection.Enqueue(Event((round * 300) + i));
            }

            numbers.AddRange((await reading).Select(Number));

            // Everything written: the pump has ended, and the next round must start it again.
            await WaitUntilAsync(() => !connection.IsPumping);
            Assert.Equal(0, connection.Pending);
        }

        Assert.Equal(Enumerable.Range(1, 900), numbers);

        // Closing for a reconnect from idle still delivers the close message, last.
        var closing = transport.ReadFramesAsync(count: 2, Ct);
        connection.Enqueue(Event(901));
        connection.CloseForReconnect(Event(902));
        Assert.Equal([901, 902], (await closing).Select(Number));
        connection.Enqueue(Event(903)); // closed: taken no more
        await WaitUntilAsync(() => !connection.IsPumping);
        Assert.Equal(0, connection.Pending);
    }

    private static int Number(string frame)
    {
        var start = frame.IndexOf("\"n\":", StringComparison.Ordinal) + 4;
        return int.Parse(frame.AsSpan(start, frame.IndexOf(',', start) - start), System.Globalization.CultureInfo.InvariantCulture);
    }

    [Fact]
    public async Task TheRegistry_CountsConnectionsByAudience_AndTheEventsWaiting_AsTheyAreQueuedAndWritten()
    {
        await using var visitorTransport = new Transport(pauseBytes: 1024);
        await using var agentTransport = new Transport(pauseBytes: 1024);
        var limits = new OutboundLimits(Soft: 1000, Hard: 100_000, Stall: TimeSpan.FromSeconds(10));
        var visitor = visitorTransport.Connect(limits, TimeProvider.System, () => { });
        var agent = agentTransport.Connect(limits, TimeProvider.System, () => { }, Server.Core.Audience.Agent);
        var registry = new ConnectionRegistry();
        registry.Add(visitor);
        registry.Add(agent);
        registry.Add(visitor); // the same connection twice counts once
        Assert.Equal((1, 1), (registry.VisitorCount, registry.AgentCount));

        // Nobody reads the visitor's socket: what the pump cannot write waits in its queue, and the registry's total says so.
        for (var i = 1; i <= 40; i++)
        {
            visitor.Enqueue(Event(i));
        }

        await WaitUntilAsync(() => visitor.WaitingForSocket);
        Assert.InRange(visitor.Pending, 20, 40);
        Assert.Equal(visitor.Pending, registry.TotalPending());

        // The client reads everything: the queue, and with it the total, drains to nothing.
        await visitorTransport.ReadFramesAsync(count: 40, Ct);
        await WaitUntilAsync(() => registry.TotalPending() == 0);
        Assert.Equal(0, visitor.Pending);

        registry.Remove(agent.ConnectionId);
        Assert.Equal((1, 0), (registry.VisitorCount, registry.AgentCount));
        registry.Remove(visitor.ConnectionId);
        registry.Remove(visitor.ConnectionId);
        Assert.Equal((0, 0), (registry.VisitorCount, registry.AgentCount));
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

        public ClientConnection Connect(OutboundLimits limits, TimeProvider time, Action onEvicted, Server.Core.Audience audience = Server.Core.Audience.Visitor)
        {
            var connection = new DefaultConnectionContext($"test-{Guid.NewGuid():N}", new DuplexPipe(_fromClient.Reader, _toClient.Writer), new DuplexPipe(_toClient.Reader, _fromClient.Writer));
            _context = new HubConnectionContext(connection, new HubConnectionContextOptions { KeepAliveInterval = TimeSpan.FromMinutes(5), ClientTimeoutInterval = TimeSpan.FromMinutes(5) }, NullLoggerFactory.Instance)
            {
                Protocol = new JsonHubProtocol(),
            };
            return new ClientConnection(_context, audience, Guid.NewGuid(), Guid.NewGuid(), limits, time, NullLogger.Instance, onEvicted);
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
