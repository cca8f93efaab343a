using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Parley.Server.Features.Conversations;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Api;

public sealed class AuthAndApiTests
{
    [Fact]
    public async Task Login_WithWrongPassword_IsProblem401_AndSetsNoCookie()
    {
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage);
        using var http = server.CreateHttpClient();
        http.DefaultRequestHeaders.Add("X-Parley-Csrf", "1");

        var response = await http.PostAsJsonAsync("/api/v1/auth/login", new { email = ParleyServer.AdminEmail, password = "wrong-password" }, TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>(TestContext.Current.CancellationToken);
        Assert.Equal("invalid_credentials", problem.GetProperty("code").GetString());
        Assert.False(response.Headers.Contains("Set-Cookie"));
    }

    [Fact]
    public async Task StateChangingRequest_WithoutCsrfHeader_IsRefused()
    {
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage);
        var (http, _) = await AgentClient.SignInAsync(server);
        await using var visitor = await VisitorClient.ConnectAsync(server);
        var conversation = await visitor.StartConversationAsync();
        http.DefaultRequestHeaders.Remove("X-Parley-Csrf");

        var response = await http.PostAsync($"/api/v1/conversations/{conversation.Id}/close", null, TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>(TestContext.Current.CancellationToken);
        Assert.Equal("csrf_header_missing", problem.GetProperty("code").GetString());
        Assert.Empty(await server.MessagesAsync(conversation.Id)); // no "closed" event line was written
        http.Dispose();
    }

    [Fact]
    public async Task Api_WithoutSession_Is401()
    {
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage);
        using var http = server.CreateHttpClient();

        Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync("/api/v1/conversations", TestContext.Current.CancellationToken)).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync("/api/v1/auth/me", TestContext.Current.CancellationToken)).StatusCode);
    }

    [Fact]
    public async Task Hubs_RejectMissingAndForgedCredentials()
    {
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage);
        var session = await VisitorClient.CreateSessionAsync(server);
        var forged = session.VisitorToken[..^4] + (session.VisitorToken.EndsWith("AAAA", StringComparison.Ordinal) ? "BBBB" : "AAAA");

        await using var noToken = HubFactory.Build(server.BaseAddress, "/hubs/visitor", true, _ => { });
        await using var badToken = HubFactory.Build(server.BaseAddress, "/hubs/visitor", true, o => o.AccessTokenProvider = () => Task.FromResult<string?>(forged));
        await using var noCookie = HubFactory.Build(server.BaseAddress, "/hubs/agent", false, _ => { });
        await using var visitorOnAgentHub = HubFactory.Build(server.BaseAddress, "/hubs/agent", false, o => o.AccessTokenProvider = () => Task.FromResult<string?>(session.VisitorToken));

        foreach (var hub in new[] { noToken, badToken, noCookie, visitorOnAgentHub })
        {
            var error = await Assert.ThrowsAnyAsync<Exception>(() => hub.StartAsync(TestContext.Current.CancellationToken));
            Assert.Contains("401", error.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task WidgetSession_ForeignOrForgedToken_GetsANewVisitor_UnknownSiteIs404()
    {
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage);
        var first = await VisitorClient.CreateSessionAsync(server);

        var again = await VisitorClient.CreateSessionAsync(server, first.VisitorToken);
        var forged = await VisitorClient.CreateSessionAsync(server, "not-a-token");
        using var http = server.CreateHttpClient();
        var unknown = await http.PostAsJsonAsync("/api/v1/widget/session", new { siteKey = "nope" }, TestContext.Current.CancellationToken);

        Assert.Equal(first.ContactId, again.ContactId);
        Assert.NotEqual(first.ContactId, forged.ContactId);
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
    }

    [Fact]
    public async Task Setup_CreatesTheFirstAdminOnce()
    {
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage, new Dictionary<string, string?>
        {
            ["Parley:Bootstrap:AdminEmail"] = "",
            ["Parley:Bootstrap:AdminPassword"] = "",
        });
        using var http = server.CreateHttpClient();
        http.DefaultRequestHeaders.Add("X-Parley-Csrf", "1");
        var ct = TestContext.Current.CancellationToken;

        var before = await http.GetFromJsonAsync<JsonElement>("/api/v1/setup/status", ct);
        var weak = await http.PostAsJsonAsync("/api/v1/setup", new { email = "owner@example.com", password = "short", displayName = "Owner" }, ct);
        var created = await http.PostAsJsonAsync("/api/v1/setup", new { email = "owner@example.com", password = "a-long-password", displayName = "Owner" }, ct);
        var second = await http.PostAsJsonAsync("/api/v1/setup", new { email = "evil@example.com", password = "a-long-password", displayName = "Evil" }, ct);
        var after = await http.GetFromJsonAsync<JsonElement>("/api/v1/setup/status", ct);

        Assert.True(before.GetProperty("needsSetup").GetBoolean());
        Assert.Equal(HttpStatusCode.BadRequest, weak.StatusCode);
        Assert.Equal(HttpStatusCode.OK, created.StatusCode);
        Assert.Equal(HttpStatusCode.Conflict, second.StatusCode);
        Assert.False(after.GetProperty("needsSetup").GetBoolean());
        var login = await http.PostAsJsonAsync("/api/v1/auth/login", new { email = "OWNER@example.com", password = "a-long-password" }, ct);
        Assert.Equal(HttpStatusCode.OK, login.StatusCode);
    }

    [Fact]
    public async Task CloseAndReopen_AreRecordedAndPushedToTheVisitor()
    {
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage);
        await using var visitor = await VisitorClient.ConnectAsync(server);
        var (http, _) = await AgentClient.SignInAsync(server);
        var conversation = await visitor.StartConversationAsync();
        await visitor.SendAsync(conversation.Id, "hi");
        var ct = TestContext.Current.CancellationToken;

        var assigned = await (await http.PostAsJsonAsync($"/api/v1/conversations/{conversation.Id}/assign", new { }, ct)).Content.ReadFromJsonAsync<Parley.Server.Messaging.ConversationSummary>(ct);
        var closed = await http.PostAsync($"/api/v1/conversations/{conversation.Id}/close", null, ct);

        Assert.Equal("Admin", assigned!.AssigneeName);
        Assert.Equal(HttpStatusCode.OK, closed.StatusCode);
        await visitor.ConversationEvents.WaitUntilAsync(e => e.Any(c => c.Status == "closed"));
        var closedError = await Assert.ThrowsAsync<Microsoft.AspNetCore.SignalR.HubException>(() => visitor.SendAsync(conversation.Id, "are you there?"));
        Assert.Contains("conversation_closed:", closedError.Message, StringComparison.Ordinal);

        var page = await http.GetFromJsonAsync<MessagePage>($"/api/v1/conversations/{conversation.Id}/messages", ct);
        Assert.Equal(["text", "event", "event"], page!.Items.Select(m => m.Kind));

        // A closed conversation lets the visitor start a fresh one.
        var fresh = await visitor.StartConversationAsync();
        Assert.NotEqual(conversation.Id, fresh.Id);
        http.Dispose();
    }

    [Fact]
    public async Task HealthAndOpenApi_AreServed()
    {
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage);
        using var http = server.CreateHttpClient();
        var ct = TestContext.Current.CancellationToken;

        Assert.Equal("Healthy", await http.GetStringAsync("/health/live", ct));
        Assert.Equal("Healthy", await http.GetStringAsync("/health/ready", ct));
        var openApi = await http.GetFromJsonAsync<JsonElement>("/openapi/v1.json", ct);
        Assert.True(openApi.GetProperty("paths").TryGetProperty("/api/v1/conversations/{id}/messages", out _));
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/scalar", ct)).StatusCode);
    }
}
