using System.Buffers;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;
using MessagePack;

namespace Parley.LoadTest;

/// <summary>Writes the arguments array of an invocation (the writer is positioned where the array goes).</summary>
internal delegate void ArgsWriter(ref MessagePackWriter writer);

/// <summary>Reads a completion result.</summary>
internal delegate T ResultParser<out T>(ref MessagePackReader reader);

/// <summary>Handles an invocation from the server; the reader is positioned on the arguments array.</summary>
internal delegate void InvocationHandler(HubClient client, string target, ref MessagePackReader args);

/// <summary>A pending hub invocation waiting for its completion message.</summary>
internal interface IPendingCall
{
    /// <summary>The reader is positioned on the result when <paramref name="error"/> is null and a result is present.</summary>
    void Complete(ref MessagePackReader reader, string? error, bool hasResult);

    void Fail(Exception exception);
}

/// <summary>
/// One SignalR hub connection over a raw <see cref="ClientWebSocket"/> speaking the MessagePack hub protocol:
/// handshake as JSON text, then VarInt-length-prefixed msgpack arrays. Much lighter than the stock client.
/// </summary>
internal sealed class HubClient : IAsyncDisposable
{
    private static readonly byte[] HandshakeRequest = Encoding.UTF8.GetBytes("{\"protocol\":\"messagepack\",\"version\":1}\u001e");
    private static readonly byte[] PingFrame = [2, 0x91, 6]; // length 2: fixarray(1), 6

    private readonly ClientWebSocket _socket;
    private readonly SemaphoreSlim _sendLock = new(1, 1);
    private readonly ConcurrentDictionary<long, IPendingCall> _pending = new();
    private long _nextInvocationId;
    private long _lastSendTicks;
    private int _closed;

    private HubClient(ClientWebSocket socket, string name)
    {
        _socket = socket;
        Name = name;
    }

    public string Name { get; }

    public InvocationHandler? OnInvocation { get; set; }

    /// <summary>Set when the connection ends (close message, socket error or abort).</summary>
    public TaskCompletionSource<string?> Closed { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public bool IsOpen => Volatile.Read(ref _closed) == 0;

    /// <summary>When the connection ended (<see cref="Stopwatch"/> ticks); 0 while open.</summary>
    public long ClosedAtTicks { get; private set; }

    public object? Tag { get; set; }

    public int PendingCount => _pending.Count;

    /// <summary>HTTP handlers that bind the client socket to a given 127.0.0.x source address.</summary>
    public static HttpMessageInvoker CreateInvoker(IPAddress? source)
    {
        var handler = new SocketsHttpHandler
        {
            UseCookies = false,
            PooledConnectionLifetime = TimeSpan.Zero,
            ConnectTimeout = TimeSpan.FromSeconds(20),
            ConnectCallback = async (ctx, ct) =>
            {
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                try
                {
                    if (source is not null)
                    {
                        socket.Bind(new IPEndPoint(source, 0));
                    }

                    await socket.ConnectAsync(ctx.DnsEndPoint, ct);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
        };
        return new HttpMessageInvoker(handler, disposeHandler: true);
    }

    public static async Task<HubClient> ConnectAsync(Uri uri, HttpMessageInvoker invoker, string? cookie, string name, InvocationHandler? handler, CancellationToken cancellationToken)
    {
        var socket = new ClientWebSocket();
        socket.Options.KeepAliveInterval = TimeSpan.Zero;
        socket.Options.SetBuffer(4096, 1024);
        if (cookie is not null)
        {
            socket.Options.SetRequestHeader("Cookie", cookie);
        }

        try
        {
            await socket.ConnectAsync(uri, invoker, cancellationToken);
            await socket.SendAsync(HandshakeRequest, WebSocketMessageType.Text, true, cancellationToken);
            var client = new HubClient(socket, name) { OnInvocation = handler };
            var leftover = await client.ReadHandshakeAsync(cancellationToken);
            client._lastSendTicks = Environment.TickCount64;
            _ = client.ReceiveLoopAsync(leftover);
            return client;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private async Task<byte[]> ReadHandshakeAsync(CancellationToken cancellationToken)
    {
        var buffer = new byte[1024];
        var filled = 0;
        while (true)
        {
            var result = await _socket.ReceiveAsync(buffer.AsMemory(filled), cancellationToken);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                throw new InvalidOperationException("Server closed during handshake.");
            }

            filled += result.Count;
            var end = Array.IndexOf(buffer, (byte)0x1e, 0, filled);
            if (end >= 0)
            {
                var response = Encoding.UTF8.GetString(buffer, 0, end);
                if (response.Contains("error", StringComparison.Ordinal))
                {
                    throw new InvalidOperationException("Handshake refused: " + response);
                }

                return buffer[(end + 1)..filled];
            }

            if (filled == buffer.Length)
            {
                throw new InvalidOperationException("Handshake response too long.");
            }
        }
    }

    private async Task ReceiveLoopAsync(byte[] leftover)
    {
        var buffer = new byte[8192];
        var message = new ArrayBufferWriter<byte>(8192);
        message.Write(leftover);
        string? error = null;
        try
        {
            if (leftover.Length > 0)
            {
                Dispatch(message.WrittenMemory);
                message.ResetWrittenCount();
            }

            while (true)
            {
                var result = await _socket.ReceiveAsync(buffer.AsMemory(), CancellationToken.None);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    error = "socket closed by server";
                    break;
                }

                if (result.EndOfMessage && message.WrittenCount == 0)
                {
                    Dispatch(buffer.AsMemory(0, result.Count));
                    continue;
                }

                message.Write(buffer.AsSpan(0, result.Count));
                if (result.EndOfMessage)
                {
                    Dispatch(message.WrittenMemory);
                    message.ResetWrittenCount();
                }
            }
        }
        catch (Exception ex) when (ex is WebSocketException or ObjectDisposedException or OperationCanceledException or IOException)
        {
            error = ex.Message;
        }
        catch (ClosedByServerException ex)
        {
            error = ex.Message;
        }
        finally
        {
            MarkClosed(error);
        }
    }

    private void MarkClosed(string? error)
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0)
        {
            return;
        }

        ClosedAtTicks = Stopwatch.GetTimestamp();

        foreach (var key in _pending.Keys)
        {
            if (_pending.TryRemove(key, out var call))
            {
                call.Fail(new IOException("connection closed: " + error));
            }
        }

        Closed.TrySetResult(error);
    }

    private void Dispatch(ReadOnlyMemory<byte> data)
    {
        var span = data;
        while (span.Length > 0)
        {
            var length = 0;
            var shift = 0;
            var i = 0;
            byte b;
            do
            {
                b = span.Span[i++];
                length |= (b & 0x7f) << shift;
                shift += 7;
            }
            while ((b & 0x80) != 0);

            HandleMessage(span.Slice(i, length));
            span = span[(i + length)..];
        }
    }

    private void HandleMessage(ReadOnlyMemory<byte> payload)
    {
        var reader = new MessagePackReader(payload);
        var count = reader.ReadArrayHeader();
        var type = reader.ReadInt32();
        switch (type)
        {
            case 1: // invocation: [1, headers, invocationId, target, args, (streamIds)]
                {
                    reader.Skip();
                    reader.Skip();
                    var target = reader.ReadString() ?? "";
                    OnInvocation?.Invoke(this, target, ref reader);
                    break;
                }

            case 3: // completion: [3, headers, invocationId, resultKind, result?]
                {
                    reader.Skip();
                    var id = long.Parse(reader.ReadString()!, System.Globalization.CultureInfo.InvariantCulture);
                    var kind = reader.ReadInt32();
                    if (_pending.TryRemove(id, out var call))
                    {
                        if (kind == 1)
                        {
                            call.Complete(ref reader, reader.ReadString() ?? "error", false);
                        }
                        else
                        {
                            call.Complete(ref reader, null, kind == 3);
                        }
                    }

                    break;
                }

            case 6: // ping
                break;
            case 7: // close: [7, error, allowReconnect]
                {
                    var error = count > 1 && !reader.TryReadNil() ? reader.ReadString() : null;
                    if (Environment.GetEnvironmentVariable("LT_DEBUG_CLOSE") is not null)
                    {
                        Console.Error.WriteLine($"[{Name}] close frame {payload.Length} B: {Convert.ToHexString(payload.Span[..Math.Min(64, payload.Length)])}");
                    }

                    throw new ClosedByServerException("close message: " + (error ?? "(no error)"));
                }

            default:
                break;
        }
    }

    /// <summary>Sends an invocation that expects a completion, tracked by <paramref name="call"/>.</summary>
    public Task SendInvocationAsync(string target, ArgsWriter args, IPendingCall call)
    {
        var id = Interlocked.Increment(ref _nextInvocationId);
        _pending[id] = call;
        var frame = BuildInvocation(id, target, args);
        return SendFrameAsync(frame, id);
    }

    public async Task<T> InvokeAsync<T>(string target, ArgsWriter args, ResultParser<T> parser, TimeSpan timeout)
    {
        var call = new PendingCall<T>(parser);
        await SendInvocationAsync(target, args, call);
        return await call.Task.WaitAsync(timeout);
    }

    private async Task SendFrameAsync(byte[] frame, long id)
    {
        try
        {
            await SendRawAsync(frame);
        }
        catch (Exception ex)
        {
            if (_pending.TryRemove(id, out var call))
            {
                call.Fail(ex);
            }
        }
    }

    public Task PingAsync() => SendRawAsync(PingFrame);

    /// <summary>Ping when nothing was sent for <paramref name="idleMs"/> (the server drops clients silent for its client timeout).</summary>
    public Task PingIfIdleAsync(long idleMs) =>
        IsOpen && Environment.TickCount64 - Volatile.Read(ref _lastSendTicks) >= idleMs ? PingAsync() : Task.CompletedTask;

    private async Task SendRawAsync(byte[] frame)
    {
        await _sendLock.WaitAsync();
        try
        {
            await _socket.SendAsync(frame, WebSocketMessageType.Binary, true, CancellationToken.None);
            Volatile.Write(ref _lastSendTicks, Environment.TickCount64);
        }
        finally
        {
            _sendLock.Release();
        }
    }

    private static byte[] BuildInvocation(long id, string target, ArgsWriter args)
    {
        var body = new ArrayBufferWriter<byte>(256);
        var writer = new MessagePackWriter(body);
        writer.WriteArrayHeader(5);
        writer.Write(1);
        writer.WriteMapHeader(0);
        writer.Write(id.ToString(System.Globalization.CultureInfo.InvariantCulture));
        writer.Write(target);
        args(ref writer);
        writer.WriteArrayHeader(0); // stream ids
        writer.Flush();

        var length = body.WrittenCount;
        Span<byte> prefix = stackalloc byte[5];
        var n = 0;
        var v = (uint)length;
        do
        {
            var b = (byte)(v & 0x7f);
            v >>= 7;
            if (v != 0)
            {
                b |= 0x80;
            }

            prefix[n++] = b;
        }
        while (v != 0);

        var frame = new byte[n + length];
        prefix[..n].CopyTo(frame);
        body.WrittenSpan.CopyTo(frame.AsSpan(n));
        return frame;
    }

    /// <summary>Drops the TCP connection without a close handshake (a network failure, as the server sees it).</summary>
    public void Abort()
    {
        _socket.Abort();
        MarkClosed("aborted");
    }

    public async Task CloseAsync()
    {
        try
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await _socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, cts.Token);
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or ObjectDisposedException or IOException)
        {
            // Already gone.
        }
    }

    public async ValueTask DisposeAsync()
    {
        await CloseAsync();
        _socket.Dispose();
        MarkClosed("disposed");
        _sendLock.Dispose();
    }

    private sealed class ClosedByServerException(string message) : Exception(message);

    private sealed class PendingCall<T>(ResultParser<T> parser) : IPendingCall
    {
        private readonly TaskCompletionSource<T> _tcs = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task<T> Task => _tcs.Task;

        public void Complete(ref MessagePackReader reader, string? error, bool hasResult)
        {
            if (error is not null)
            {
                _tcs.TrySetException(new HubErrorException(error));
                return;
            }

            try
            {
                _tcs.TrySetResult(parser(ref reader));
            }
            catch (Exception ex) when (ex is MessagePackSerializationException or EndOfStreamException or FormatException)
            {
                _tcs.TrySetException(ex);
            }
        }

        public void Fail(Exception exception) => _tcs.TrySetException(exception);
    }
}

/// <summary>A hub method answered with an error completion.</summary>
internal sealed class HubErrorException(string message) : Exception(message);
