using System.Net;
using System.Text.Json;
using Parley.Data;
using Parley.Server.Messaging;
using Parley.Tests.Infrastructure;
using Parley.Tests.Integration;

namespace Parley.Tests.Messaging;

/// <summary>System event lines are stored as a code with parameters, so each reader can render them in their language.</summary>
public sealed class SystemLineTests
{
    [Theory]
    [BothStores]
    public async Task CloseAndReopen_StoreTheirEventLines_AsCodes(Store store)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var storage = await TestStorage.CreateAsync(store);
        await using var server = await ParleyServer.StartAsync(storage);
        await using var visitor = await VisitorClient.ConnectAsync(server);
        var conversation = await visitor.StartConversationAsync();
        var token = await IntegrationTestKit.CreateTokenAsync(server, ["write"]);
        using var api = IntegrationTestKit.TokenClient(server, token);

        Assert.Equal(HttpStatusCode.OK, (await api.PostAsync($"/api/v1/conversations/{conversation.Id}/close", null, ct)).StatusCode);
        var reopened = await api.PostAsync($"/api/v1/conversations/{conversation.Id}/reopen", null, ct);
        Assert.Equal(HttpStatusCode.OK, reopened.StatusCode);
        // The inbox preview is one plain string for every reader: English text, never the stored code.
        var preview = JsonDocument.Parse(await reopened.Content.ReadAsStringAsync(ct)).RootElement.GetProperty("lastMessagePreview").GetString();
        Assert.StartsWith("Reopened by ", preview, StringComparison.Ordinal);

        var lines = (await server.MessagesAsync(conversation.Id)).Where(m => m.Kind == MessageKind.Event).OrderBy(m => m.Seq).ToList();
        Assert.Equal(["closed", "reopened"], lines.Select(m => JsonDocument.Parse(m.Body).RootElement.GetProperty("code").GetString()));
        Assert.All(lines, m =>
        {
            Assert.True(SystemLine.TryParse(m.Body, out _, out var parameters));
            Assert.False(string.IsNullOrEmpty(parameters["by"]));
            Assert.DoesNotContain("Closed by", m.Body, StringComparison.Ordinal);
        });
    }

    [Fact]
    public void EnglishText_RendersCodes_AndKeepsOldPlainRows()
    {
        Assert.Equal("{\"code\":\"closed\",\"by\":\"Admin\"}", SystemLine.Closed("Admin"));
        Assert.Equal("Closed by Admin", SystemLine.ToEnglish(SystemLine.Closed("Admin")));
        Assert.Equal("Assigned to Lin", SystemLine.ToEnglish(SystemLine.Assigned("Lin")));
        Assert.Equal("Snoozed by Ann until 2026-12-05 10:30 UTC", SystemLine.ToEnglish(SystemLine.Snoozed("Ann", new DateTime(2026, 12, 5, 10, 30, 0, DateTimeKind.Utc))));
        Assert.Equal("Re-opened: the snooze ended", SystemLine.ToEnglish(SystemLine.WokeSnoozeEnded));
        Assert.Equal("Closed by Admin", SystemLine.ToEnglish("Closed by Admin"));
        Assert.Equal("{not json", SystemLine.ToEnglish("{not json"));
    }
}
