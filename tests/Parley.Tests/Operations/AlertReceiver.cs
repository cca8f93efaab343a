using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Operations;

/// <summary>One request an alert receiver got.</summary>
public sealed record ReceivedAlert(string Path, string Query, IReadOnlyDictionary<string, string> Headers, byte[] Body)
{
    public string Text => System.Text.Encoding.UTF8.GetString(Body);

    public System.Text.Json.Nodes.JsonNode Json => System.Text.Json.Nodes.JsonNode.Parse(Body)!;
}

/// <summary>
/// A real HTTP server on loopback standing in for Slack, a WeCom or DingTalk robot or an on-call webhook: records
/// every request (path, query, headers, body) and answers <see cref="Status"/> with <see cref="Answer"/>, after
/// <see cref="Hold"/> when one is set (a receiver that hangs until the test lets it go).
/// </summary>
public sealed class AlertReceiver : IAsyncDisposable
{
    private readonly WebApplication _app;

    private AlertReceiver(WebApplication app) => _app = app;

    public Inbox<ReceivedAlert> Requests { get; } = new();

    public int Status { get; set; } = 200;

    public string Answer { get; set; } = """{"errcode":0,"errmsg":"ok"}""";

    public TaskCompletionSource? Hold { get; set; }

    public Uri BaseUrl { get; private set; } = null!;

    public static async Task<AlertReceiver> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseSetting("urls", "http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var receiver = new AlertReceiver(app);
        app.MapPost("/{**path}", async (HttpContext context) =>
        {
            using var buffer = new MemoryStream();
            await context.Request.Body.CopyToAsync(buffer);
            receiver.Requests.Add(new ReceivedAlert(
                context.Request.Path.Value ?? "", context.Request.QueryString.Value ?? "",
                context.Request.Headers.ToDictionary(h => h.Key.ToLowerInvariant(), h => h.Value.ToString()), buffer.ToArray()));
            if (receiver.Hold is { } hold)
            {
                await hold.Task.WaitAsync(context.RequestAborted);
            }

            context.Response.StatusCode = receiver.Status;
            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync(receiver.Answer);
        });
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        receiver.BaseUrl = new Uri(address);
        return receiver;
    }

    public string Url(string pathAndQuery) => new Uri(BaseUrl, pathAndQuery).ToString();

    public async ValueTask DisposeAsync()
    {
        Hold?.TrySetResult();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
