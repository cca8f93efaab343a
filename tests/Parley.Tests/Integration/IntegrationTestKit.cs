using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.DependencyInjection;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Integration;

/// <summary>Servers with gRPC, API tokens and clients shared by the integration tests.</summary>
public static class IntegrationTestKit
{
    /// <summary>Scopes of the token <see cref="StartWithGrpcAsync"/> gives the business system.</summary>
    public static readonly string[] IntegrationScopes = ["events:write", "contacts:write", "conversations:write", "webhooks:write"];

    /// <summary>
    /// Starts Parley with two loopback endpoints: HTTP/1.1+2 for REST and hubs (the BaseAddress) and an HTTP/2-only
    /// one for gRPC: Kestrel speaks cleartext HTTP/2 (h2c, prior knowledge) only on an HTTP/2-only endpoint. With TLS
    /// one endpoint serves both (ALPN).
    /// </summary>
    /// <remarks>Token: a personal API token of the admin with <see cref="IntegrationScopes"/>, as a business system would hold.</remarks>
    public static async Task<(ParleyServer Server, Uri Grpc, string Token)> StartWithGrpcAsync(TestStorage storage, Dictionary<string, string?>? more = null)
    {
        var settings = new Dictionary<string, string?>(more ?? []);
        // Kestrel binds configured endpoints in key order: "Http" before "HttpGrpc", so BaseAddress stays the HTTP one.
        settings["Kestrel:Endpoints:Http:Url"] = "http://127.0.0.1:0";
        settings["Kestrel:Endpoints:HttpGrpc:Url"] = "http://127.0.0.1:0";
        settings["Kestrel:Endpoints:HttpGrpc:Protocols"] = "Http2";
        var server = await ParleyServer.StartAsync(storage, settings);
        var addresses = server.App.Services.GetRequiredService<Microsoft.AspNetCore.Hosting.Server.IServer>()
            .Features.Get<Microsoft.AspNetCore.Hosting.Server.Features.IServerAddressesFeature>()!.Addresses.Select(a => new Uri(a)).ToList();
        Assert.Equal(2, addresses.Count);
        Assert.Equal(addresses[0], server.BaseAddress);
        return (server, addresses[1], await CreateTokenAsync(server, IntegrationScopes));
    }

    /// <summary>Signs in (the admin by default) and creates a personal API token with the given scopes.</summary>
    public static async Task<string> CreateTokenAsync(ParleyServer server, string[] scopes, string email = ParleyServer.AdminEmail, string password = ParleyServer.AdminPassword)
    {
        var (session, _) = await AgentClient.SignInAsync(server, email, password);
        using (session)
        {
            var response = await session.PostAsJsonAsync("/api/v1/auth/tokens", new { name = "integration", scopes, expiresInDays = 7 }, TestContext.Current.CancellationToken);
            Assert.Equal(HttpStatusCode.Created, response.StatusCode);
            return (await response.Content.ReadFromJsonAsync<JsonElement>(TestContext.Current.CancellationToken)).GetProperty("token").GetString()!;
        }
    }

    /// <summary>A business system's HTTP client: bearer API token, no cookie, no CSRF header.</summary>
    public static HttpClient TokenClient(ParleyServer server, string token)
    {
        var http = server.CreateHttpClient();
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return http;
    }

    public static GrpcChannel Channel(Uri address, string token) => GrpcChannel.ForAddress(address, new GrpcChannelOptions
    {
        Credentials = ChannelCredentials.Create(ChannelCredentials.Insecure, CallCredentials.FromInterceptor((_, metadata) =>
        {
            metadata.Add("authorization", "Bearer " + token);
            return Task.CompletedTask;
        })),
        UnsafeUseInsecureChannelCallCredentials = true,
    });
}
