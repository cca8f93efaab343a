using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Parley.Tests.Integration;

/// <summary>
/// A loopback "order system" for adapter tests: <c>GET /customers/{id}/orders</c> answers with orders, after
/// checking the bearer token. While <see cref="Hang"/> is set it holds every request until released or aborted,
/// which is how a system that stopped answering looks to Parley.
/// </summary>
public sealed class FakeOrderSystem : IAsyncDisposable
{
    public const string Token = "orders-secret";
    private readonly WebApplication _app;
    private TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private FakeOrderSystem(WebApplication app) => _app = app;

    public Uri BaseAddress { get; private set; } = null!;

    public bool Hang { get; set; }

    private int _requests;

    public int Requests => Volatile.Read(ref _requests);

    public static async Task<FakeOrderSystem> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseSetting("urls", "http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var system = new FakeOrderSystem(app);
        app.MapGet("/customers/{id}/orders", async (string id, HttpContext context) =>
        {
            Interlocked.Increment(ref system._requests);
            if (context.Request.Headers.Authorization != "Bearer " + Token)
            {
                return Results.Unauthorized();
            }

            if (system.Hang)
            {
                await system._release.Task.WaitAsync(context.RequestAborted);
            }

            return id == "unknown"
                ? Results.NotFound()
                : Results.Json(new
                {
                    customer = id,
                    orders = new object[]
                    {
                        new { number = "A-1001", status = "shipped", total = 59.9, currency = "EUR", placed = "2026-11-20", items = 2 },
                        new { number = "A-0999", status = "delivered", total = 12.5, currency = "EUR", placed = "2026-10-02", items = 1 },
                    },
                });
        });
        await app.StartAsync();
        system.BaseAddress = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
        return system;
    }

    /// <summary>Adapter configuration pointing at this system.</summary>
    public Dictionary<string, string?> AdapterSettings(string timeout = "00:00:01") => new()
    {
        ["Parley:Adapters:Http:0:Name"] = "orders",
        ["Parley:Adapters:Http:0:UrlTemplate"] = BaseAddress + "customers/{externalId}/orders",
        ["Parley:Adapters:Http:0:AuthHeader"] = "Authorization: Bearer " + Token,
        ["Parley:Adapters:Http:0:ItemsPath"] = "orders",
        ["Parley:Adapters:Http:0:Title"] = "Order {number}",
        ["Parley:Adapters:Http:0:Subtitle"] = "Placed {placed}",
        ["Parley:Adapters:Http:0:Status"] = "{status}",
        ["Parley:Adapters:Http:0:Url"] = "https://shop.example.com/orders/{number}",
        ["Parley:Adapters:Http:0:Fields:Total"] = "{total} {currency}",
        ["Parley:Adapters:Http:0:Fields:Items"] = "{items}",
        ["Parley:Adapters:Http:0:AllowPrivateTargets"] = "true",
        ["Parley:Adapters:Http:0:Policy:Timeout"] = timeout,
        ["Parley:Adapters:Http:0:Policy:CacheFor"] = "00:00:00",
        ["Parley:Adapters:Http:0:Policy:FailureThreshold"] = "2",
        ["Parley:Adapters:Http:0:Policy:BreakFor"] = "00:10:00",
    };

    public void Release()
    {
        Hang = false;
        Interlocked.Exchange(ref _release, new(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
    }

    public async ValueTask DisposeAsync()
    {
        Release();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
