using System.Net.WebSockets;
using Microsoft.AspNetCore.SignalR;

// The baselines of docs/benchmarks.md (#14): what one core does with the same generator when the server does nothing
// but answer. Parley's chat rate is reported as a ratio of these two, the figure that survives a change of machine.
//   /echo  a bare SignalR hub (MessagePack protocol, as Parley's clients use): Echo(body) returns body;
//   /ws    a raw Kestrel WebSocket: every message is written back as it came.
// Run by bench/run.sh on the server's core; driven by `Parley.LoadTest echo --kind signalr|websocket`.
var builder = WebApplication.CreateSlimBuilder(args);
builder.Logging.SetMinimumLevel(LogLevel.Warning);
builder.Services.AddSignalR().AddMessagePackProtocol();
var app = builder.Build();
app.UseWebSockets();
app.MapGet("/health/ready", () => "Healthy");
app.MapHub<EchoHub>("/echo");
app.Map("/ws", async context =>
{
    if (!context.WebSockets.IsWebSocketRequest)
    {
        context.Response.StatusCode = StatusCodes.Status400BadRequest;
        return;
    }

    using var socket = await context.WebSockets.AcceptWebSocketAsync();
    try
    {
        await EchoAsync(socket, context.RequestAborted);
    }
    catch (Exception ex) when (ex is WebSocketException or OperationCanceledException)
    {
        // The generator went away at the end of a run.
    }
});
app.Run();

static async Task EchoAsync(WebSocket socket, CancellationToken cancellationToken)
{
    var buffer = new byte[4096];
    while (true)
    {
        var filled = 0;
        ValueWebSocketReceiveResult result;
        do
        {
            if (filled == buffer.Length)
            {
                if (buffer.Length >= MaxMessageBytes)
                {
                    await socket.CloseOutputAsync(WebSocketCloseStatus.MessageTooBig, null, CancellationToken.None);
                    return;
                }

                Array.Resize(ref buffer, buffer.Length * 2);
            }

            result = await socket.ReceiveAsync(buffer.AsMemory(filled), cancellationToken);
            filled += result.Count;
        }
        while (!result.EndOfMessage);

        if (result.MessageType == WebSocketMessageType.Close)
        {
            await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
            return;
        }

        await socket.SendAsync(buffer.AsMemory(0, filled), result.MessageType, true, cancellationToken);
    }
}

internal sealed partial class Program
{
    private const int MaxMessageBytes = 1 << 20;
}

internal sealed class EchoHub : Hub
{
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Performance", "CA1822", Justification = "SignalR dispatches to instance methods only.")]
    public string Echo(string body) => body;
}
