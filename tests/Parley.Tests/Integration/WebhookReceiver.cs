using System.Collections.Concurrent;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Integration;

/// <summary>One request a receiver got: headers that matter and the raw body.</summary>
public sealed record ReceivedWebhook(string? Id, string? Timestamp, string? Signature, byte[] Body, int AnsweredWith)
{
    public string Text => System.Text.Encoding.UTF8.GetString(Body);
}

/// <summary>
/// A real HTTP server on loopback (Kestrel) standing in for a customer's webhook receiver. It answers with the
/// queued status codes first, then with <see cref="DefaultStatus"/>, and records every request.
/// </summary>
public sealed class WebhookReceiver : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentQueue<int> _script = new();

    private WebhookReceiver(WebApplication app) => _app = app;

    public Inbox<ReceivedWebhook> Requests { get; } = new();

    public int DefaultStatus { get; set; } = 200;

    public Uri Url { get; private set; } = null!;

    public static async Task<WebhookReceiver> StartAsync(params int[] firstAnswers)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseSetting("urls", "http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var receiver = new WebhookReceiver(app);
        foreach (var status in firstAnswers)
        {
            receiver._script.Enqueue(status);
        }

        app.MapPost("/hook", async (HttpContext context) =>
        {
            using var buffer = new MemoryStream();
            await context.Request.Body.CopyToAsync(buffer);
            var status = receiver._script.TryDequeue(out var scripted) ? scripted : receiver.DefaultStatus;
            receiver.Requests.Add(new ReceivedWebhook(
                context.Request.Headers["webhook-id"], context.Request.Headers["webhook-timestamp"], context.Request.Headers["webhook-signature"], buffer.ToArray(), status));
            context.Response.StatusCode = status;
            await context.Response.WriteAsync(status == 200 ? "ok" : "nope");
        });
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        receiver.Url = new Uri(new Uri(address), "/hook");
        return receiver;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
