using System.Net.Http.Headers;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.DependencyInjection;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Integration;

/// <summary>Integration-key settings and clients shared by the integration tests.</summary>
public static class IntegrationTestKit
{
    public const string KeyName = "erp";
    public const string Key = "test-integration-key-0123456789abcdef";

    /// <summary>
    /// Starts Parley with two loopback endpoints: HTTP/1.1+2 for REST and hubs (the BaseAddress) and an HTTP/2-only
    /// one for gRPC: Kestrel speaks cleartext HTTP/2 (h2c, prior knowledge) only on an HTTP/2-only endpoint. With TLS
    /// one endpoint serves both (ALPN).
    /// </summary>
    public static async Task<(ParleyServer Server, Uri Grpc)> StartWithGrpcAsync(TestStorage storage, Dictionary<string, string?>? more = null)
    {
        var settings = Settings(more);
        // Kestrel binds configured endpoints in key order: "Http" before "HttpGrpc", so BaseAddress stays the HTTP one.
        settings["Kestrel:Endpoints:Http:Url"] = "http://127.0.0.1:0";
        settings["Kestrel:Endpoints:HttpGrpc:Url"] = "http://127.0.0.1:0";
        settings["Kestrel:Endpoints:HttpGrpc:Protocols"] = "Http2";
        var server = await ParleyServer.StartAsync(storage, settings);
        var addresses = server.App.Services.GetRequiredService<Microsoft.AspNetCore.Hosting.Server.IServer>()
            .Features.Get<Microsoft.AspNetCore.Hosting.Server.Features.IServerAddressesFeature>()!.Addresses.Select(a => new Uri(a)).ToList();
        Assert.Equal(2, addresses.Count);
        Assert.Equal(addresses[0], server.BaseAddress);
        return (server, addresses[1]);
    }

    public static Dictionary<string, string?> Settings(Dictionary<string, string?>? more = null)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Parley:Integration:ApiKeys:0:Name"] = KeyName,
            ["Parley:Integration:ApiKeys:0:Key"] = Key,
        };
        foreach (var (k, v) in more ?? [])
        {
            settings[k] = v;
        }

        return settings;
    }

    /// <summary>A business system's HTTP client: bearer integration key, no cookie, no CSRF header.</summary>
    public static HttpClient KeyClient(ParleyServer server)
    {
        var http = server.CreateHttpClient();
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Key);
        return http;
    }

    public static GrpcChannel Channel(Uri address) => GrpcChannel.ForAddress(address, new GrpcChannelOptions
    {
        Credentials = ChannelCredentials.Create(ChannelCredentials.Insecure, CallCredentials.FromInterceptor((_, metadata) =>
        {
            metadata.Add("authorization", "Bearer " + Key);
            return Task.CompletedTask;
        })),
        UnsafeUseInsecureChannelCallCredentials = true,
    });
}
