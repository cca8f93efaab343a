using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;
using Parley.Server.Features.Sites;
using Parley.Server.Features.Widget;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Widget;

/// <summary>Small helpers for the widget feature tests: admin settings, visitor REST calls, a tiny PNG.</summary>
internal static class WidgetTestKit
{
    /// <summary>A valid 1x1 PNG.</summary>
    public static readonly byte[] Png = Convert.FromBase64String("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==");

    /// <summary>The start of a Windows executable (MZ header, PE stub), as a disguised upload would carry.</summary>
    public static readonly byte[] Executable = [.. "MZ"u8, 0x90, 0x00, 0x03, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0x00, 0x00, .. new byte[200]];

    public static async Task<Guid> SiteIdAsync(HttpClient admin)
    {
        var sites = await admin.GetFromJsonAsync<List<SiteDto>>("/api/v1/sites");
        return sites!.Single(s => s.Key == ParleyServer.SiteKey).Id;
    }

    public static async Task PutSettingsAsync(ParleyServer server, WidgetSettings settings, params string[] origins)
    {
        var (admin, _) = await AgentClient.SignInAsync(server);
        using (admin)
        {
            var id = await SiteIdAsync(admin);
            var response = await admin.PutAsJsonAsync($"/api/v1/sites/{id}/widget-settings", new WidgetSettingsDto(settings, origins));
            response.EnsureSuccessStatusCode();
        }
    }

    public static HttpClient VisitorHttp(ParleyServer server, string token)
    {
        var http = server.CreateHttpClient();
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return http;
    }

    public static async Task<string?> ProblemCodeAsync(HttpResponseMessage response)
    {
        var problem = await response.Content.ReadFromJsonAsync<Dictionary<string, System.Text.Json.JsonElement>>();
        return problem is not null && problem.TryGetValue("code", out var code) ? code.GetString() : null;
    }

    public static Task<HttpResponseMessage> UploadAsync(HttpClient http, string path, byte[] content, string name, Guid? clientId = null)
    {
        var body = new ByteArrayContent(content);
        body.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        return http.PostAsync($"{path}?name={Uri.EscapeDataString(name)}&clientId={clientId ?? Guid.NewGuid()}", body);
    }
}

/// <summary>
/// Just enough of an SMTP server (RFC 5321, no TLS) to receive messages on loopback, one connection after another,
/// so the transcript tests exercise the real SMTP client instead of a mock.
/// </summary>
internal sealed class SmtpSink : IAsyncDisposable
{
    private readonly TcpListener _listener = new(System.Net.IPAddress.Loopback, 0);
    private readonly TaskCompletionSource<string> _received = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _stop = new();

    public SmtpSink()
    {
        _listener.Start();
        _ = AcceptAsync();
    }

    public int Port => ((System.Net.IPEndPoint)_listener.LocalEndpoint).Port;

    /// <summary>The first message.</summary>
    public Task<string> Received => _received.Task;

    /// <summary>Every message, in the order received.</summary>
    public Inbox<string> Mails { get; } = new();

    private async Task AcceptAsync()
    {
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                await ServeAsync();
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException or SocketException)
        {
            _received.TrySetException(ex);
        }
    }

    private async Task ServeAsync()
    {
        using var client = await _listener.AcceptTcpClientAsync(_stop.Token);
        await using var stream = client.GetStream();
        using var reader = new StreamReader(stream, Encoding.ASCII);
        await using var writer = new StreamWriter(stream, Encoding.ASCII) { NewLine = "\r\n", AutoFlush = true };
        await writer.WriteLineAsync("220 sink ready");
        var data = new StringBuilder();
        var inData = false;
        while (await reader.ReadLineAsync(_stop.Token) is { } line)
        {
            if (inData)
            {
                if (line == ".")
                {
                    inData = false;
                    _received.TrySetResult(data.ToString());
                    Mails.Add(data.ToString());
                    data.Clear();
                    await writer.WriteLineAsync("250 queued");
                }
                else
                {
                    data.AppendLine(line);
                }

                continue;
            }

            var verb = line.Split(' ')[0].ToUpperInvariant();
            await writer.WriteLineAsync(verb switch
            {
                "EHLO" or "HELO" => "250 sink",
                "DATA" => "354 go ahead",
                "QUIT" => "221 bye",
                _ => "250 ok",
            });
            if (verb == "DATA")
            {
                inData = true;
            }
            else if (verb == "QUIT")
            {
                break;
            }
        }
    }

    /// <summary>The text of a single-part message as System.Net.Mail writes it (UTF-8 bodies are base64).</summary>
    public static string BodyOf(string mail)
    {
        var split = mail.ReplaceLineEndings("\n").Split("\n\n", 2);
        return split[0].Contains("Content-Transfer-Encoding: base64", StringComparison.OrdinalIgnoreCase)
            ? Encoding.UTF8.GetString(Convert.FromBase64String(split[1].Replace("\n", "", StringComparison.Ordinal)))
            : split[1];
    }

    public ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Stop();
        _stop.Dispose();
        return ValueTask.CompletedTask;
    }
}
