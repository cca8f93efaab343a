using System.Net;
using System.Net.Http.Json;
using Microsoft.AspNetCore.SignalR;
using Parley.Server.Features.Widget;
using Parley.Server.Messaging;
using Parley.Tests.Infrastructure;
using Parley.Tests.Widget;

namespace Parley.Tests.Messaging;

/// <summary>Regression tests for the two message-path defects of the protocol check (issue #14), on both stores.</summary>
public sealed class MessagePathDefectTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [BothStores]
    public async Task PipelinedAgentSends_AreStoredInTheOrderSent(Store store)
    {
        await using var storage = await TestStorage.CreateAsync(store);
        await using var server = await ParleyServer.StartAsync(storage);
        await using var visitor = await VisitorClient.ConnectAsync(server);
        await using var agent = await AgentClient.ConnectAsync(server);
        var conversation = await visitor.StartConversationAsync();

        // 200 sends fired without awaiting: the agent path checks access before it writes, and that check must not
        // let a later send overtake an earlier one (docs/protocol.md rule 9).
        var sends = Enumerable.Range(1, 200).Select(i => agent.SendAsync(conversation.Id, $"agent line {i}", note: i % 7 == 0)).ToList();
        var acks = await Task.WhenAll(sends);

        Assert.Equal(Enumerable.Range(1, 200).Select(i => (long)i), acks.Select(a => a.Seq));
        Assert.Equal(Enumerable.Range(1, 200).Select(i => $"agent line {i}"), (await server.MessagesAsync(conversation.Id)).Select(m => m.Body));
    }

    [Theory]
    [BothStores]
    public async Task PipelinedSends_WithAFailureInBetween_KeepTheOrderOfTheRest(Store store)
    {
        await using var storage = await TestStorage.CreateAsync(store);
        await using var server = await ParleyServer.StartAsync(storage);
        await using var visitor = await VisitorClient.ConnectAsync(server);
        await using var agent = await AgentClient.ConnectAsync(server);
        var conversation = await visitor.StartConversationAsync();

        // Every tenth send is refused (empty body); the ones after it must neither wait for ever nor overtake.
        var sends = Enumerable.Range(1, 50).Select(i => agent.SendAsync(conversation.Id, i % 10 == 0 ? " " : $"line {i}")).ToList();
        foreach (var (send, i) in sends.Select((s, i) => (s, i + 1)))
        {
            if (i % 10 == 0)
            {
                Assert.Contains("body_empty:", (await Assert.ThrowsAsync<HubException>(() => send)).Message, StringComparison.Ordinal);
            }
            else
            {
                await send;
            }
        }

        var expected = Enumerable.Range(1, 50).Where(i => i % 10 != 0).Select(i => $"line {i}");
        Assert.Equal(expected, (await server.MessagesAsync(conversation.Id)).Select(m => m.Body));
    }

    [Theory]
    [BothStores]
    public async Task ControlCharacters_AreRefusedWithAClearCode_OnEveryPath(Store store)
    {
        await using var storage = await TestStorage.CreateAsync(store);
        await using var server = await ParleyServer.StartAsync(storage);
        await using var visitor = await VisitorClient.ConnectAsync(server);
        await using var agent = await AgentClient.ConnectAsync(server);
        var conversation = await visitor.StartConversationAsync();

        // Visitor hub: a non-retryable invalid_body, not "unavailable" (which tells clients to retry for ever).
        var hub = await Assert.ThrowsAsync<HubException>(() => visitor.SendAsync(conversation.Id, "hello\0world"));
        Assert.Contains("invalid_body:", hub.Message, StringComparison.Ordinal);
        var agentHub = await Assert.ThrowsAsync<HubException>(() => agent.SendAsync(conversation.Id, "bell\u0007"));
        Assert.Contains("invalid_body:", agentHub.Message, StringComparison.Ordinal);

        // REST send: 400 invalid_body, not 503.
        var rest = await agent.Http.PostAsJsonAsync($"/api/v1/conversations/{conversation.Id}/messages", new { clientId = Guid.NewGuid(), body = "a\0b" }, Ct);
        Assert.Equal(HttpStatusCode.BadRequest, rest.StatusCode);
        Assert.Equal("invalid_body", await WidgetTestKit.ProblemCodeAsync(rest));

        // Widget session page and profile name: 400 invalid_request naming the field, not 500.
        using var http = server.CreateHttpClient();
        var session = await http.PostAsJsonAsync("/api/v1/widget/session", new { siteKey = ParleyServer.SiteKey, page = new { url = "https://shop.example/\0cart" } }, Ct);
        Assert.Equal(HttpStatusCode.BadRequest, session.StatusCode);
        var problem = await session.Content.ReadAsStringAsync(Ct);
        Assert.Contains("invalid_request", problem, StringComparison.Ordinal);
        Assert.Contains("page.url", problem, StringComparison.Ordinal);

        using var visitorHttp = WidgetTestKit.VisitorHttp(server, visitor.Token);
        var profile = await visitorHttp.PostAsJsonAsync("/api/v1/widget/profile", new ProfileRequest("Ada\0", null, null, null), Ct);
        Assert.Equal(HttpStatusCode.BadRequest, profile.StatusCode);
        Assert.Equal("invalid_request", await WidgetTestKit.ProblemCodeAsync(profile));

        // Nothing of the refused input reached the store; ordinary text with tabs, line breaks and emoji still does.
        var ok = await visitor.SendAsync(conversation.Id, "line one\n\tline two 👋 你好");
        var stored = Assert.Single(await server.MessagesAsync(conversation.Id));
        Assert.Equal(ok.Id, stored.Id);
        Assert.Equal("line one\n\tline two 👋 你好", stored.Body);
        var fine = await visitorHttp.PostAsJsonAsync("/api/v1/widget/profile", new ProfileRequest("Ada", null, null, null), Ct);
        fine.EnsureSuccessStatusCode();
    }

    [Theory]
    [InlineData("plain text", true)]
    [InlineData("tab\tnewline\ncr\r", true)]
    [InlineData("emoji 👋 and 中文", true)]
    [InlineData("nul\0", false)]
    [InlineData("esc\u001b[31m", false)]
    [InlineData("del\u007f", false)]
    [InlineData("c1\u0085", false)]
    public void TextInput_AllowsOrRefuses(string text, bool allowed) =>
        Assert.Equal(allowed, Parley.Server.Infrastructure.TextInput.IsAllowed(text));

    [Fact]
    public void TextInput_RefusesUnpairedSurrogates()
    {
        // Built in code: xUnit's test-case serialisation would replace a lone surrogate in InlineData.
        Assert.False(Parley.Server.Infrastructure.TextInput.IsAllowed("lone " + (char)0xD83D + " surrogate"));
        Assert.False(Parley.Server.Infrastructure.TextInput.IsAllowed("reversed " + (char)0xDC4B + (char)0xD83D));
        Assert.True(Parley.Server.Infrastructure.TextInput.IsAllowed("pair " + (char)0xD83D + (char)0xDC4B));
    }
}
