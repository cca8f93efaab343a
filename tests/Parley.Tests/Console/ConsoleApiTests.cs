using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Client;
using Parley.Data;
using Parley.Server.Features.Console;
using Parley.Server.Features.Conversations;
using Parley.Server.Messaging;
using Parley.Server.Realtime;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Console;

/// <summary>The console's backend over real sockets, once per store: canned replies, labels, inbox views, snooze, spam, contacts, read markers, viewers.</summary>
public sealed class ConsoleApiTests
{
    private static readonly int[] NotAnObject = [1];

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [BothStores]
    public async Task CannedReplies_ArePersonalOrShared_AndExpandVariablesForTheConversation(Store store)
    {
        await using var storage = await TestStorage.CreateAsync(store);
        await using var server = await ParleyServer.StartAsync(storage);
        await server.CreateUserAsync("mei@test.local", "Mei Lin");
        await using var admin = await AgentClient.ConnectAsync(server);
        await using var mei = await AgentClient.ConnectAsAsync(server, "mei@test.local", UserSeeding.Password);
        await using var visitor = await VisitorClient.ConnectAsync(server);
        var conversation = await visitor.StartConversationAsync();
        await SetContactAsync(admin, conversation.Id, new { name = "Zhang Wei", email = "zw@example.com" });

        var shared = await PostAsync<CannedReplyDto>(admin, "/api/v1/canned-replies", new { shortcut = "/Hello", body = "Hi {{visitor.name}}, I'm {{agent.name}}. {{unknown.var}}", shared = true });
        Assert.Equal("hello", shared.Shortcut);
        Assert.True(shared.Shared);
        var personal = await PostAsync<CannedReplyDto>(mei, "/api/v1/canned-replies", new { shortcut = "thanks", body = "Thanks {{visitor.phone|friend}}!" });

        // Mei sees both, expanded for the conversation with her own name; the admin does not see Mei's personal one.
        var forMei = (await mei.Http.GetFromJsonAsync<List<CannedReplyDto>>($"/api/v1/canned-replies?conversationId={conversation.Id}", Ct))!;
        Assert.Equal(["hello", "thanks"], forMei.Select(r => r.Shortcut));
        Assert.Equal("Hi Zhang Wei, I'm Mei Lin. {{unknown.var}}", forMei[0].Rendered);
        Assert.Equal("Thanks friend!", forMei[1].Rendered);
        var forAdmin = (await admin.Http.GetFromJsonAsync<List<CannedReplyDto>>("/api/v1/canned-replies?q=/he", Ct))!;
        Assert.Equal(shared.Id, Assert.Single(forAdmin).Id);
        Assert.Null(forAdmin[0].Rendered);

        // Agents may not create or change shared replies; duplicates and bad shortcuts are clear errors.
        await AssertProblemAsync(await mei.Http.PostAsJsonAsync("/api/v1/canned-replies", new { shortcut = "x", body = "y", shared = true }, Ct), HttpStatusCode.Forbidden, "forbidden");
        await AssertProblemAsync(await mei.Http.PutAsJsonAsync($"/api/v1/canned-replies/{shared.Id}", new { shortcut = "hello", body = "changed" }, Ct), HttpStatusCode.Forbidden, "forbidden");
        await AssertProblemAsync(await mei.Http.PostAsJsonAsync("/api/v1/canned-replies", new { shortcut = "thanks", body = "again" }, Ct), HttpStatusCode.Conflict, "canned_reply_exists");
        await AssertProblemAsync(await mei.Http.PostAsJsonAsync("/api/v1/canned-replies", new { shortcut = "two words", body = "y" }, Ct), HttpStatusCode.BadRequest, "invalid_shortcut");
        await AssertProblemAsync(await mei.Http.PostAsJsonAsync("/api/v1/canned-replies", new { shortcut = "empty", body = " " }, Ct), HttpStatusCode.BadRequest, "invalid_body");
        await AssertProblemAsync(await admin.Http.DeleteAsync($"/api/v1/canned-replies/{personal.Id}", Ct), HttpStatusCode.NotFound, "canned_reply_not_found");
        Assert.Equal(HttpStatusCode.NoContent, (await mei.Http.DeleteAsync($"/api/v1/canned-replies/{personal.Id}", Ct)).StatusCode);
    }

    [Theory]
    [BothStores]
    public async Task InboxViews_FilterAndPutTheLongestWaitingFirst_WithPersonalReadMarkersAndLabels(Store store)
    {
        await using var storage = await TestStorage.CreateAsync(store);
        await using var server = await ParleyServer.StartAsync(storage);
        await using var admin = await AgentClient.ConnectAsync(server);
        await admin.Hub.InvokeAsync("SetStatus", "away", Ct); // routing would hand new chats to an online agent; these views are about manual assignment
        await using var first = await VisitorClient.ConnectAsync(server);
        await using var second = await VisitorClient.ConnectAsync(server);
        await using var third = await VisitorClient.ConnectAsync(server);
        var a = await first.StartConversationAsync();
        var b = await second.StartConversationAsync();
        var c = await third.StartConversationAsync();
        await first.SendAsync(a.Id, "first question");
        await second.SendAsync(b.Id, "second question");
        await third.SendAsync(c.Id, "third question");
        await admin.SendAsync(a.Id, "answered"); // a no longer waits

        var page = await ListAsync(admin, "");
        Assert.Equal([b.Id, c.Id, a.Id], page.Items.Select(i => i.Id));
        Assert.NotNull(page.Items[0].WaitingSince);
        Assert.Null(page.Items[2].WaitingSince);
        Assert.Equal(0, page.LastReadSeq[b.Id]);

        // Assign c to me; close b. Views split them.
        await admin.Http.PostAsJsonAsync($"/api/v1/conversations/{c.Id}/assign", new { }, Ct);
        await admin.Http.PostAsync($"/api/v1/conversations/{b.Id}/close", null, Ct);
        Assert.Equal([c.Id], (await ListAsync(admin, "view=mine")).Items.Select(i => i.Id));
        Assert.Equal([a.Id], (await ListAsync(admin, "view=unassigned")).Items.Select(i => i.Id));
        Assert.Equal([b.Id], (await ListAsync(admin, "view=closed")).Items.Select(i => i.Id));
        Assert.Equal([b.Id], (await ListAsync(admin, "status=closed")).Items.Select(i => i.Id)); // the original parameter still works
        Assert.Equal([c.Id], (await ListAsync(admin, "status=waiting")).Items.Select(i => i.Id));
        Assert.Empty((await ListAsync(admin, $"from={Uri.EscapeDataString(DateTime.UtcNow.AddMinutes(5).ToString("O"))}")).Items);
        Assert.Equal(2, (await ListAsync(admin, "limit=1")).NextCursor is { } cursor ? (await ListAsync(admin, $"limit=5&cursor={cursor}")).Items.Count + 1 : 0);

        // Labels filter the inbox and reach other agents live.
        var vip = await PostAsync<LabelDto>(admin, "/api/v1/labels", new { name = "VIP", color = "#DC2626" });
        Assert.Equal("#dc2626", vip.Color);
        await AssertProblemAsync(await admin.Http.PostAsJsonAsync("/api/v1/labels", new { name = "VIP" }, Ct), HttpStatusCode.Conflict, "label_exists");
        await AssertProblemAsync(await admin.Http.PostAsJsonAsync("/api/v1/labels", new { name = "x", color = "red" }, Ct), HttpStatusCode.BadRequest, "invalid_color");
        var labels = new Inbox<LabelsEventDto>();
        admin.Hub.On<LabelsEventDto>("conversationLabels", labels.Add);
        var set = await admin.Http.PutAsJsonAsync($"/api/v1/conversations/{a.Id}/labels", new { labelIds = new[] { vip.Id } }, Ct);
        set.EnsureSuccessStatusCode();
        await labels.WaitUntilAsync(l => l.Any(x => x.ConversationId == a.Id && x.LabelIds.SequenceEqual([vip.Id])));
        var labelled = await ListAsync(admin, $"labelId={vip.Id}");
        Assert.Equal([a.Id], labelled.Items.Select(i => i.Id));
        Assert.Equal([vip.Id], labelled.Labels[a.Id]);
        await AssertProblemAsync(await admin.Http.PutAsJsonAsync($"/api/v1/conversations/{a.Id}/labels", new { labelIds = new[] { Guid.NewGuid() } }, Ct), HttpStatusCode.NotFound, "label_not_found");

        // Read markers only move forward, are per agent, and reach the agent's other connections.
        var reads = new Inbox<ReadEventDto>();
        admin.Hub.On<ReadEventDto>("readState", reads.Add);
        await admin.Hub.InvokeAsync("MarkRead", new ReadRequest { ConversationId = a.Id.ToString(), Seq = 99 }, Ct); // clamped to lastSeq
        var back = await admin.Http.PostAsJsonAsync($"/api/v1/conversations/{a.Id}/read", new { seq = 1 }, Ct);
        Assert.Equal(2, (await back.Content.ReadFromJsonAsync<ReadStateDto>(Ct))!.LastReadSeq);
        await reads.WaitUntilAsync(r => r.Any(x => x.ConversationId == a.Id && x.LastReadSeq == 2));
        Assert.Equal(2, (await ListAsync(admin, "")).LastReadSeq[a.Id]);
        await AssertProblemAsync(await admin.Http.GetAsync("/api/v1/conversations?view=nope", Ct), HttpStatusCode.BadRequest, "invalid_view");
        await AssertProblemAsync(await admin.Http.GetAsync("/api/v1/conversations?cursor=abc", Ct), HttpStatusCode.BadRequest, "invalid_cursor");
    }

    [Theory]
    [BothStores]
    public async Task Snooze_ReopensWhenTheVisitorWrites_AndWhenItsTimeComes(Store store)
    {
        await using var storage = await TestStorage.CreateAsync(store);
        await using var server = await ParleyServer.StartAsync(storage, new Dictionary<string, string?> { ["Parley:Console:SnoozeCheckSeconds"] = "1" });
        await using var admin = await AgentClient.ConnectAsync(server);
        await using var visitor = await VisitorClient.ConnectAsync(server);
        var conversation = await visitor.StartConversationAsync();
        await visitor.SendAsync(conversation.Id, "hello");

        await AssertProblemAsync(await admin.Http.PostAsJsonAsync($"/api/v1/conversations/{conversation.Id}/snooze", new { until = DateTime.UtcNow.AddMinutes(-1) }, Ct), HttpStatusCode.BadRequest, "invalid_snooze");
        var snoozed = await PostAsync<ConversationSummary>(admin, $"/api/v1/conversations/{conversation.Id}/snooze", new { until = DateTime.UtcNow.AddHours(1) });
        Assert.Equal("pending", snoozed.Status);
        Assert.NotNull(snoozed.SnoozedUntil);
        Assert.Equal([conversation.Id], (await ListAsync(admin, "status=snoozed")).Items.Select(i => i.Id));

        // The visitor writes: the conversation is open again, and agents hear it.
        await visitor.SendAsync(conversation.Id, "are you there?");
        // (the summary that says so comes after the one that said "snoozed": the summary from the start said "open" too)
        await admin.Conversations.WaitUntilAsync(s => s.SkipWhile(x => x.Id != conversation.Id || x.SnoozedUntil is null)
            .Any(x => x.Id == conversation.Id && x.Status == "open" && x.SnoozedUntil is null));

        // A short snooze ends by itself: the re-open line arrives live, and the conversation is open again.
        await admin.JoinAsync(conversation.Id);
        await PostAsync<ConversationSummary>(admin, $"/api/v1/conversations/{conversation.Id}/snooze", new { until = DateTime.UtcNow.AddSeconds(1.5) });
        await admin.Messages.WaitUntilAsync(m => m.Any(x => x.Kind == "event" && x.Body == SystemLine.WokeSnoozeEnded), TimeSpan.FromSeconds(20));
        var reopened = await admin.Http.GetFromJsonAsync<ConversationSummary>($"/api/v1/conversations/{conversation.Id}", Ct);
        Assert.Equal("open", reopened!.Status);
        Assert.Null(reopened.SnoozedUntil);
    }

    [Theory]
    [BothStores]
    public async Task Spam_BlocksTheVisitor_FromSendingAndFromStartingAgain(Store store)
    {
        await using var storage = await TestStorage.CreateAsync(store);
        await using var server = await ParleyServer.StartAsync(storage);
        await using var admin = await AgentClient.ConnectAsync(server);
        await using var visitor = await VisitorClient.ConnectAsync(server);
        var conversation = await visitor.StartConversationAsync();
        await visitor.SendAsync(conversation.Id, "buy cheap watches");

        var closed = await PostAsync<ConversationSummary>(admin, $"/api/v1/conversations/{conversation.Id}/spam", new { });
        Assert.Equal("closed", closed.Status);
        var start = await Assert.ThrowsAsync<HubException>(visitor.StartConversationAsync);
        Assert.Contains("contact_blocked", start.Message, StringComparison.Ordinal);

        // Re-opened by an agent, the conversation still refuses the blocked visitor's messages, and nothing is stored.
        await admin.Http.PostAsync($"/api/v1/conversations/{conversation.Id}/reopen", null, Ct);
        var before = (await server.MessagesAsync(conversation.Id)).Count;
        var send = await Assert.ThrowsAsync<HubException>(() => visitor.SendAsync(conversation.Id, "again"));
        Assert.Contains("contact_blocked", send.Message, StringComparison.Ordinal);
        Assert.Equal(before, (await server.MessagesAsync(conversation.Id)).Count);

        Assert.True((await admin.Http.GetFromJsonAsync<ContactProfileDto>($"/api/v1/conversations/{conversation.Id}/contact", Ct))!.Blocked);
        Assert.Equal(HttpStatusCode.NoContent, (await admin.Http.DeleteAsync($"/api/v1/conversations/{conversation.Id}/contact/block", Ct)).StatusCode);
        Assert.False((await visitor.SendAsync(conversation.Id, "sorry")).Duplicate);
    }

    [Theory]
    [BothStores]
    public async Task ContactProfile_IsEditable_WithNotesAndPreviousConversations(Store store)
    {
        await using var storage = await TestStorage.CreateAsync(store);
        await using var server = await ParleyServer.StartAsync(storage);
        await server.CreateUserAsync("li@test.local", "Li Na");
        await using var admin = await AgentClient.ConnectAsync(server);
        await using var li = await AgentClient.ConnectAsAsync(server, "li@test.local", UserSeeding.Password);
        await using var visitor = await VisitorClient.ConnectAsync(server);
        var old = await visitor.StartConversationAsync();
        await visitor.SendAsync(old.Id, "old question");
        await admin.Http.PostAsync($"/api/v1/conversations/{old.Id}/close", null, Ct);
        var current = await visitor.StartConversationAsync();

        var profile = await SetContactAsync(admin, current.Id, new { name = " 王小明 ", phone = "+86 138 0000 0000", attributes = new { plan = "gold" } });
        Assert.Equal("王小明", profile.Name);
        Assert.Equal("gold", profile.Attributes!.Value.GetProperty("plan").GetString());
        Assert.Equal([current.Id, old.Id], profile.Conversations.Select(c => c.Id));
        await AssertProblemAsync(await admin.Http.PatchAsJsonAsync($"/api/v1/conversations/{current.Id}/contact", new { email = "not an email" }, Ct), HttpStatusCode.BadRequest, "invalid_email");
        await AssertProblemAsync(await admin.Http.PatchAsJsonAsync($"/api/v1/conversations/{current.Id}/contact", new { attributes = NotAnObject }, Ct), HttpStatusCode.BadRequest, "invalid_attributes");

        var note = await PostAsync<ContactNoteDto>(li, $"/api/v1/conversations/{current.Id}/contact/notes", new { body = "Prefers email" });
        var edited = await li.Http.PutAsJsonAsync($"/api/v1/conversations/{current.Id}/contact/notes/{note.Id}", new { body = "Prefers phone" }, Ct);
        Assert.Equal("Prefers phone", (await edited.Content.ReadFromJsonAsync<ContactNoteDto>(Ct))!.Body);
        var notes = (await admin.Http.GetFromJsonAsync<ContactProfileDto>($"/api/v1/conversations/{current.Id}/contact", Ct))!.Notes;
        Assert.Equal("Li Na", Assert.Single(notes).AuthorName);
        await AssertProblemAsync(await li.Http.PostAsJsonAsync($"/api/v1/conversations/{current.Id}/contact/notes", new { body = "" }, Ct), HttpStatusCode.BadRequest, "invalid_body");
        await AssertProblemAsync(await li.Http.GetAsync($"/api/v1/conversations/{Guid.NewGuid()}/contact", Ct), HttpStatusCode.NotFound, "conversation_not_found");
    }

    [Fact]
    public async Task Viewers_AreAnnouncedToAgentsWhoHaveTheConversationOpen()
    {
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage);
        await server.CreateUserAsync("bo@test.local", "Bo");
        await using var admin = await AgentClient.ConnectAsync(server);
        var bo = await AgentClient.ConnectAsAsync(server, "bo@test.local", UserSeeding.Password, messagePack: true);
        await using var visitor = await VisitorClient.ConnectAsync(server);
        var conversation = await visitor.StartConversationAsync();
        var seen = new Inbox<ViewersDto>();
        admin.Hub.On<ViewersDto>("viewers", seen.Add);

        await admin.JoinAsync(conversation.Id);
        await bo.JoinAsync(conversation.Id);
        await seen.WaitUntilAsync(v => v.Count > 0 && v[^1].Viewers.Select(x => x.Name).Order().SequenceEqual(["Admin", "Bo"]));

        await bo.Hub.InvokeAsync("Leave", conversation.Id.ToString(), Ct);
        await seen.WaitUntilAsync(v => v[^1].Viewers.Count == 1);
        await bo.JoinAsync(conversation.Id);
        await seen.WaitUntilAsync(v => v[^1].Viewers.Count == 2);
        await bo.DisposeAsync(); // a dropped connection stops viewing too
        await seen.WaitUntilAsync(v => v[^1].Viewers.Count == 1 && v[^1].Viewers[0].Name == "Admin");
    }

    internal static async Task<ContactProfileDto> SetContactAsync(AgentClient agent, Guid conversationId, object body)
    {
        var response = await agent.Http.PatchAsJsonAsync($"/api/v1/conversations/{conversationId}/contact", body, Ct);
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync<ContactProfileDto>(Ct))!;
    }

    internal static async Task<T> PostAsync<T>(AgentClient agent, string path, object body)
    {
        var response = await agent.Http.PostAsJsonAsync(path, body, Ct);
        Assert.True(response.IsSuccessStatusCode, $"{path}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync(Ct)}");
        return (await response.Content.ReadFromJsonAsync<T>(Ct))!;
    }

    internal static async Task<ConversationPage> ListAsync(AgentClient agent, string query) =>
        (await agent.Http.GetFromJsonAsync<ConversationPage>($"/api/v1/conversations?{query}", Ct))!;

    internal static async Task AssertProblemAsync(HttpResponseMessage response, HttpStatusCode status, string code)
    {
        var text = await response.Content.ReadAsStringAsync(Ct);
        Assert.True(status == response.StatusCode, $"expected {(int)status} {code}, got {(int)response.StatusCode}: {text}");
        Assert.Equal(code, JsonDocument.Parse(text).RootElement.GetProperty("code").GetString());
    }
}
