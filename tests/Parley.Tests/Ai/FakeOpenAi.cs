using System.Collections.Concurrent;
using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Hosting;

namespace Parley.Tests.Ai;

/// <summary>
/// An OpenAI-compatible HTTP server on loopback (chat completions and embeddings), started by a test: it answers
/// with what the test scripts (content, a delay, an HTTP status, or raw malformed text) and records every request.
/// </summary>
public sealed class FakeOpenAi : IAsyncDisposable
{
    private static readonly float[] Vector = [0.1f, 0.2f, 0.3f];

    private readonly WebApplication _app;

    private FakeOpenAi(WebApplication app) => _app = app;

    /// <summary>The base URL to configure (<c>http://127.0.0.1:PORT/v1</c>).</summary>
    public string BaseUrl { get; private set; } = "";

    /// <summary>The assistant message content to return (the model's output text).</summary>
    public string Content { get; set; } = """{"decision":"handoff","reply":"","entries":[]}""";

    public TimeSpan Delay { get; set; }

    public int Status { get; set; } = 200;

    /// <summary>When set, returned as the raw HTTP body instead of a chat-completions object.</summary>
    public string? RawBody { get; set; }

    public ConcurrentQueue<string> ChatRequests { get; } = new();

    /// <summary>Tokens the fake reports per embedded text.</summary>
    public const int EmbeddingTokensPerText = 7;

    /// <summary>The vector returned for each text sent to <c>/v1/embeddings</c>.</summary>
    public Func<string, float[]> Embed { get; set; } = _ => Vector;

    public TimeSpan EmbeddingDelay { get; set; }

    public int EmbeddingStatus { get; set; } = 200;

    /// <summary>When set, returned as the raw body of <c>/v1/embeddings</c>.</summary>
    public string? EmbeddingRawBody { get; set; }

    /// <summary>Every embeddings request body.</summary>
    public ConcurrentQueue<string> EmbeddingRequests { get; } = new();

    /// <summary>The Authorization header of every chat request (the API key the server sent).</summary>
    public ConcurrentQueue<string> Authorizations { get; } = new();

    public static async Task<FakeOpenAi> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0));
        var app = builder.Build();
        var fake = new FakeOpenAi(app);
        app.MapPost("/v1/chat/completions", async (HttpContext http) =>
        {
            using var reader = new StreamReader(http.Request.Body, Encoding.UTF8);
            fake.Authorizations.Enqueue(http.Request.Headers.Authorization.ToString());
            fake.ChatRequests.Enqueue(await reader.ReadToEndAsync());
            if (!await DelayAsync(fake.Delay, http))
            {
                return;
            }

            http.Response.StatusCode = fake.Status;
            http.Response.ContentType = "application/json";
            if (fake.Status != 200)
            {
                await http.Response.WriteAsync("""{"error":{"message":"internal error","type":"server_error"}}""");
                return;
            }

            await http.Response.WriteAsync(fake.RawBody ?? JsonSerializer.Serialize(new
            {
                id = "chatcmpl-test",
                @object = "chat.completion",
                created = 1_700_000_000,
                model = "fake-model",
                choices = new[] { new { index = 0, message = new { role = "assistant", content = fake.Content }, finish_reason = "stop" } },
                usage = new { prompt_tokens = 120, completion_tokens = 30, total_tokens = 150 },
            }));
        });
        app.MapPost("/v1/embeddings", async (HttpContext http) =>
        {
            using var reader = new StreamReader(http.Request.Body, Encoding.UTF8);
            var body = await reader.ReadToEndAsync();
            fake.EmbeddingRequests.Enqueue(body);
            var input = JsonDocument.Parse(body).RootElement.GetProperty("input");
            var texts = input.ValueKind == JsonValueKind.Array ? input.EnumerateArray().Select(e => e.GetString() ?? "").ToList() : [input.GetString() ?? ""];
            if (!await DelayAsync(fake.EmbeddingDelay, http))
            {
                return;
            }

            http.Response.StatusCode = fake.EmbeddingStatus;
            http.Response.ContentType = "application/json";
            if (fake.EmbeddingStatus != 200)
            {
                await http.Response.WriteAsync("""{"error":{"message":"internal error","type":"server_error"}}""");
                return;
            }

            var tokens = texts.Count * EmbeddingTokensPerText;
            await http.Response.WriteAsync(fake.EmbeddingRawBody ?? JsonSerializer.Serialize(new
            {
                @object = "list",
                data = texts.Select((t, i) => new { @object = "embedding", index = i, embedding = fake.Embed(t) }).ToArray(),
                model = "fake-embed",
                usage = new { prompt_tokens = tokens, total_tokens = tokens },
            }));
        });
        await app.StartAsync();
        var address = app.Urls.First();
        fake.BaseUrl = address.TrimEnd('/') + "/v1";
        return fake;
    }

    /// <summary>Waits the scripted delay; false when the client gave up meanwhile (nothing left to answer).</summary>
    private static async Task<bool> DelayAsync(TimeSpan delay, HttpContext http)
    {
        if (delay <= TimeSpan.Zero)
        {
            return true;
        }

        try
        {
            await Task.Delay(delay, http.RequestAborted);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
