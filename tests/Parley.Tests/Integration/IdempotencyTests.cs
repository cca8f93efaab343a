using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Parley.Data;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Integration;

/// <summary><c>Idempotency-Key</c> on the REST API's POSTs, except where a response carries a secret.</summary>
public sealed class IdempotencyTests
{
    private static readonly string[] ReadScope = ["read"];

    [Theory]
    [BothStores]
    public async Task EveryApiPost_ReplaysItsFirstResponse_ButSecretsAreNeverStored(Store store)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var storage = await TestStorage.CreateAsync(store);
        await using var server = await ParleyServer.StartAsync(storage);
        await using var visitor = await VisitorClient.ConnectAsync(server);
        var conversation = await visitor.StartConversationAsync();
        var token = await IntegrationTestKit.CreateTokenAsync(server, ["write"]);
        using var api = IntegrationTestKit.TokenClient(server, token);

        // A feature that never opted in (closing a conversation) honours the key: the retry replays, nothing runs twice.
        async Task<HttpResponseMessage> CloseAsync(string key)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, $"/api/v1/conversations/{conversation.Id}/close");
            request.Headers.Add("Idempotency-Key", key);
            return await api.SendAsync(request, ct);
        }

        var first = await CloseAsync("close-1");
        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        var retry = await CloseAsync("close-1");
        Assert.Equal(HttpStatusCode.OK, retry.StatusCode);
        Assert.Equal("true", Assert.Single(retry.Headers.GetValues("Idempotent-Replayed")));
        Assert.Equal(await first.Content.ReadAsStringAsync(ct), await retry.Content.ReadAsStringAsync(ct));
        Assert.Equal(1, (await server.MessagesAsync(conversation.Id)).Count(m => m.Body.StartsWith("{\"code\":\"closed\"", StringComparison.Ordinal)));

        // The same key for another request is refused.
        using (var other = new HttpRequestMessage(HttpMethod.Post, $"/api/v1/conversations/{conversation.Id}/reopen"))
        {
            other.Headers.Add("Idempotency-Key", "close-1");
            var reused = await api.SendAsync(other, ct);
            Assert.Equal(HttpStatusCode.UnprocessableEntity, reused.StatusCode);
            Assert.Equal("idempotency_key_reused", (await reused.Content.ReadFromJsonAsync<JsonElement>(ct)).GetProperty("code").GetString());
        }

        // Creating an API token answers the token itself: the key is ignored, so it is never stored in clear.
        var (session, _) = await AgentClient.SignInAsync(server);
        using (session)
        {
            var tokens = new List<string>();
            for (var i = 0; i < 2; i++)
            {
                using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/auth/tokens") { Content = JsonContent.Create(new { name = "ci", scopes = ReadScope }) };
                request.Headers.Add("Idempotency-Key", "token-1");
                var response = await session.SendAsync(request, ct);
                Assert.Equal(HttpStatusCode.Created, response.StatusCode);
                tokens.Add((await response.Content.ReadFromJsonAsync<JsonElement>(ct)).GetProperty("token").GetString()!);
            }

            Assert.NotEqual(tokens[0], tokens[1]);
            await using var scope = server.Services.CreateAsyncScope();
            var records = await scope.ServiceProvider.GetRequiredService<ParleyDbContext>().IdempotencyRecords.AsNoTracking().ToListAsync(ct);
            Assert.DoesNotContain(records, r => r.Key == "token-1");
            Assert.DoesNotContain(records, r => tokens.Any(t => r.ResponseBody.Contains(t, StringComparison.Ordinal)));
        }

        // The OpenAPI document says which operations take the header.
        var document = await api.GetFromJsonAsync<JsonElement>("/openapi/v1.json", ct);
        Assert.True(TakesKey(document, "/api/v1/conversations/{id}/close"));
        Assert.True(TakesKey(document, "/api/v1/events"));
        Assert.False(TakesKey(document, "/api/v1/auth/tokens"));
    }

    private static bool TakesKey(JsonElement document, string path) =>
        document.GetProperty("paths").GetProperty(path).GetProperty("post").TryGetProperty("parameters", out var parameters)
        && parameters.EnumerateArray().Any(p => p.GetProperty("name").GetString() == "Idempotency-Key");
}
