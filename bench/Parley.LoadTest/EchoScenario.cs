using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics;
using System.Net.WebSockets;
using System.Text;
using MessagePack;

namespace Parley.LoadTest;

/// <summary>
/// echo: the baselines of docs/benchmarks.md (#14), against bench/Parley.EchoBaseline on the server's core.
/// <c>--kind signalr</c> invokes <c>Echo(body)</c> on a bare SignalR hub with this generator's own MessagePack hub
/// client (the one every Parley scenario uses); <c>--kind websocket</c> writes the same body as a binary frame to a
/// raw Kestrel WebSocket that writes it back. Closed loop: each of <c>--connections</c> keeps <c>--window</c> round
/// trips in flight, so the core is saturated and the rate measured is what it can answer; latency is timed from each
/// send (a closed loop has no schedule to be late against).
/// </summary>
internal static class EchoScenario
{
    public static async Task<Dictionary<string, object?>> RunAsync(Options o, Target target, CancellationToken ct)
    {
        var kind = o.Get("kind", "signalr");
        var connections = o.Int("connections", 64);
        var window = o.Int("window", 4);
        var seconds = o.Double("duration", 10);
        var warmup = o.Double("warmup", 3);
        if (kind is not ("signalr" or "websocket"))
        {
            throw new ArgumentException("--kind is signalr or websocket");
        }

        Console.Error.WriteLine($"[echo] {kind}: {connections} connections x {window} in flight");
        var loop = new EchoLoop(window);
        var echoers = new List<IEchoer>();
        for (var i = 0; i < connections; i++)
        {
            echoers.Add(kind == "signalr"
                ? await HubEchoer.ConnectAsync(target, loop, "echo" + i, ct)
                : await SocketEchoer.ConnectAsync(target, loop, ct));
        }

        foreach (var echoer in echoers)
        {
            echoer.Start();
        }

        await Task.Delay(TimeSpan.FromSeconds(warmup), ct);
        loop.Reset();
        var monitor = new ServerMonitor(o.ServerPid);
        monitor.Start();
        var started = Stopwatch.GetTimestamp();
        await Task.Delay(TimeSpan.FromSeconds(seconds), ct);
        var completed = loop.Completed;
        var elapsed = Stopwatch.GetElapsedTime(started).TotalSeconds;
        loop.Stop();
        var server = await monitor.StopAsync(completed);
        foreach (var echoer in echoers)
        {
            await echoer.DisposeAsync();
        }

        var result = new Dictionary<string, object?>
        {
            ["scenario"] = "echo",
            ["kind"] = kind,
            ["label"] = o.Label,
            ["durationS"] = seconds,
            ["connections"] = connections,
            ["window"] = window,
            ["roundTrips"] = completed,
            ["roundTripsPerSec"] = Math.Round(completed / elapsed, 1),
            ["errors"] = loop.Errors.Total,
            ["errorKinds"] = loop.Errors.Snapshot(),
            ["latencyMs"] = loop.Latency.Summary(),
            ["server"] = server,
        };
        if (server.TryGetValue("allocatedMB", out var mb) && mb is double allocated && completed > 0)
        {
            result["allocBytesPerRoundTrip"] = Math.Round(allocated * 1048576 / completed, 0);
        }

        return result;
    }

    /// <summary>What every connection shares: the counters, and whether to send the next round trip.</summary>
    private sealed class EchoLoop(int window)
    {
        private long _completed;
        private volatile bool _running = true;

        public int Window { get; } = window;

        public Latency Latency { get; } = new();

        public Errors Errors { get; } = new();

        public bool Running => _running;

        public long Completed => Interlocked.Read(ref _completed);

        public void Done(long sentTicks)
        {
            Latency.RecordSince(sentTicks);
            Interlocked.Increment(ref _completed);
        }

        public void Reset()
        {
            Latency.Reset();
            Interlocked.Exchange(ref _completed, 0);
        }

        public void Stop() => _running = false;
    }

    private interface IEchoer : IAsyncDisposable
    {
        void Start();
    }

    /// <summary>Round trips over the bare SignalR hub: <c>Echo(body)</c>, the body the chat scenario sends.</summary>
    private sealed class HubEchoer(HubClient client, EchoLoop loop) : IEchoer, IPendingCall
    {
        public static async Task<HubEchoer> ConnectAsync(Target target, EchoLoop loop, string name, CancellationToken ct)
        {
            var uri = new UriBuilder(target.BaseUrl) { Scheme = "ws", Path = "/echo" }.Uri;
            return new HubEchoer(await HubClient.ConnectAsync(uri, target.NextInvoker(), null, name, null, ct), loop);
        }

        public void Start()
        {
            for (var i = 0; i < loop.Window; i++)
            {
                Send();
            }
        }

        private void Send() => _ = client.SendInvocationAsync("Echo", EchoArgs(Wire.Body(Stopwatch.GetTimestamp())), this);

        private static ArgsWriter EchoArgs(string body) => (ref MessagePackWriter w) =>
        {
            w.WriteArrayHeader(1);
            w.Write(body);
        };

        // The echoed body carries its send time, as every chat body does.
        public void Complete(ref MessagePackReader reader, string? error, bool hasResult)
        {
            if (error is not null || !hasResult)
            {
                loop.Errors.Add("echo error: " + (error ?? "no result"));
            }
            else
            {
                var sent = reader.TryReadStringSpan(out var body) ? Wire.Ticks(body) : Wire.Ticks(reader.ReadStringSequence().GetValueOrDefault().ToArray());
                if (sent > 0)
                {
                    loop.Done(sent);
                }
                else
                {
                    loop.Errors.Add("echo body without its send time");
                }
            }

            if (loop.Running)
            {
                Send();
            }
        }

        public void Fail(Exception exception) => loop.Errors.Add("echo failed: " + exception.Message);

        public ValueTask DisposeAsync() => client.DisposeAsync();
    }

    /// <summary>Round trips over a raw WebSocket: the send time and the chat body in one binary frame, written back.</summary>
    private sealed class SocketEchoer(ClientWebSocket socket, EchoLoop loop) : IEchoer
    {
        private Task? _receiving;

        public static async Task<SocketEchoer> ConnectAsync(Target target, EchoLoop loop, CancellationToken ct)
        {
            var socket = new ClientWebSocket();
            socket.Options.KeepAliveInterval = TimeSpan.Zero;
            socket.Options.SetBuffer(4096, 1024);
            await socket.ConnectAsync(new UriBuilder(target.BaseUrl) { Scheme = "ws", Path = "/ws" }.Uri, target.NextInvoker(), ct);
            return new SocketEchoer(socket, loop);
        }

        public void Start() => _receiving = RunAsync();

        private async Task RunAsync()
        {
            var frame = new byte[8 + Encoding.UTF8.GetByteCount(Wire.Body(0)) + 24];
            var incoming = new byte[4096];
            try
            {
                for (var i = 0; i < loop.Window; i++)
                {
                    await SendAsync(frame);
                }

                while (loop.Running)
                {
                    var filled = 0;
                    ValueWebSocketReceiveResult result;
                    do
                    {
                        result = await socket.ReceiveAsync(incoming.AsMemory(filled), CancellationToken.None);
                        filled += result.Count;
                    }
                    while (!result.EndOfMessage);

                    if (result.MessageType == WebSocketMessageType.Close || filled < 8)
                    {
                        loop.Errors.Add("echo socket closed or short frame");
                        return;
                    }

                    loop.Done(BinaryPrimitives.ReadInt64LittleEndian(incoming));
                    if (loop.Running)
                    {
                        await SendAsync(frame);
                    }
                }
            }
            catch (Exception ex) when (ex is WebSocketException or IOException or OperationCanceledException)
            {
                if (loop.Running)
                {
                    loop.Errors.Add("echo socket failed: " + ex.Message);
                }
            }
        }

        private ValueTask SendAsync(byte[] frame)
        {
            var now = Stopwatch.GetTimestamp();
            BinaryPrimitives.WriteInt64LittleEndian(frame, now);
            var length = 8 + Encoding.UTF8.GetBytes(Wire.Body(now), frame.AsSpan(8));
            return socket.SendAsync(frame.AsMemory(0, length), WebSocketMessageType.Binary, true, CancellationToken.None);
        }

        public async ValueTask DisposeAsync()
        {
            socket.Abort();
            if (_receiving is not null)
            {
                await _receiving;
            }

            socket.Dispose();
        }
    }
}
