using System.Net.Sockets;
using System.Net.WebSockets;
using System.Security.Cryptography;
using System.Text;

namespace Parley.Tests.Infrastructure;

/// <summary>Speaks the SignalR JSON hub protocol by hand, to send what a well-behaved client never would.</summary>
public static class RawHub
{
    public const char RecordSeparator = '\u001e';

    public static async Task<ClientWebSocket> ConnectJsonAsync(ParleyServer server, string path, string token)
    {
        var socket = new ClientWebSocket();
        var uri = new UriBuilder(server.BaseAddress) { Scheme = "ws", Path = path, Query = "access_token=" + Uri.EscapeDataString(token) }.Uri;
        await socket.ConnectAsync(uri, TestContext.Current.CancellationToken);
        await SendTextAsync(socket, "{\"protocol\":\"json\",\"version\":1}" + RecordSeparator);
        var handshake = await ReceiveTextAsync(socket);
        Assert.Equal("{}" + RecordSeparator, handshake);
        return socket;
    }

    public static Task SendTextAsync(ClientWebSocket socket, string text) =>
        socket.SendAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text, true, TestContext.Current.CancellationToken);

    /// <summary>Next text message, or null once the server has closed the socket.</summary>
    public static async Task<string?> ReceiveTextAsync(ClientWebSocket socket)
    {
        var buffer = new byte[64 * 1024];
        using var ms = new MemoryStream();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        while (true)
        {
            WebSocketReceiveResult result;
            try
            {
                result = await socket.ReceiveAsync(buffer, cts.Token);
            }
            catch (WebSocketException)
            {
                return null;
            }

            if (result.MessageType == WebSocketMessageType.Close)
            {
                return null;
            }

            ms.Write(buffer, 0, result.Count);
            if (result.EndOfMessage)
            {
                return Encoding.UTF8.GetString(ms.ToArray());
            }
        }
    }

    /// <summary>
    /// A visitor hub connection over a bare TCP socket with a tiny receive buffer, which sends a JSON invocation
    /// and then never reads again: the slowest possible consumer.
    /// </summary>
    public static async Task<Socket> ConnectStalledVisitorAsync(ParleyServer server, string token, string invocationJson)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 4096 };
        await socket.ConnectAsync(server.BaseAddress.Host, server.BaseAddress.Port);
        var key = Convert.ToBase64String(RandomNumberGenerator.GetBytes(16));
        var request = $"GET /hubs/visitor?access_token={Uri.EscapeDataString(token)} HTTP/1.1\r\nHost: {server.BaseAddress.Authority}\r\n" +
                      $"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n";
        await socket.SendAsync(Encoding.ASCII.GetBytes(request));

        // Read the 101 response and the handshake reply, then stop reading for good.
        var buffer = new byte[4096];
        var received = new StringBuilder();
        while (!received.ToString().Contains("{}" + RecordSeparator, StringComparison.Ordinal))
        {
            var n = await socket.ReceiveAsync(buffer);
            Assert.True(n > 0, "server closed during handshake");
            received.Append(Encoding.Latin1.GetString(buffer, 0, n));
            if (received.ToString().Contains("\r\n\r\n", StringComparison.Ordinal) && !received.ToString().Contains("{}", StringComparison.Ordinal))
            {
                await socket.SendAsync(MaskedTextFrame("{\"protocol\":\"json\",\"version\":1}" + RecordSeparator));
            }
        }

        await socket.SendAsync(MaskedTextFrame(invocationJson + RecordSeparator));
        return socket;
    }

    private static byte[] MaskedTextFrame(string text)
    {
        var payload = Encoding.UTF8.GetBytes(text);
        using var frame = new MemoryStream();
        frame.WriteByte(0x81);
        if (payload.Length < 126)
        {
            frame.WriteByte((byte)(0x80 | payload.Length));
        }
        else
        {
            frame.WriteByte(0x80 | 126);
            frame.WriteByte((byte)(payload.Length >> 8));
            frame.WriteByte((byte)payload.Length);
        }

        var mask = RandomNumberGenerator.GetBytes(4);
        frame.Write(mask);
        for (var i = 0; i < payload.Length; i++)
        {
            frame.WriteByte((byte)(payload[i] ^ mask[i % 4]));
        }

        return frame.ToArray();
    }
}
