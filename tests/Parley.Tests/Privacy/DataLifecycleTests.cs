using System.IO.Compression;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Parley.Data;
using Parley.Server.Features.Attachments;
using Parley.Server.Features.Privacy;
using Parley.Server.Messaging;
using Parley.Tests.Infrastructure;
using Parley.Tests.Widget;
using static Parley.Tests.Privacy.PrivacyTestKit;

namespace Parley.Tests.Privacy;

/// <summary>#21 data lifecycle: a contact's export, erasure and merge, and retention per site, on both stores.</summary>
public sealed class DataLifecycleTests
{
    private static readonly Dictionary<string, string?> NoBackgroundRetention = new() { ["Parley:Retention:Enabled"] = "false" };

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [BothStores]
    public async Task Export_StreamsAZipWithEverythingHeldAboutTheContact_AndIsAudited(Store store)
    {
        await using var storage = await TestStorage.CreateAsync(store);
        await using var server = await ParleyServer.StartAsync(storage, NoBackgroundRetention);
        var (admin, _) = await AgentClient.SignInAsync(server);
        using var _admin = admin;
        await using var data = await VisitorWithDataAsync(server, "我的订单号是 A-1001");
        (await admin.PatchAsJsonAsync($"/api/v1/contacts/{data.ContactId}", new { name = "Zhang Wei", email = "wei@example.cn" }, Ct)).EnsureSuccessStatusCode();

        using var response = await admin.GetAsync($"/api/v1/contacts/{data.ContactId}/export", HttpCompletionOption.ResponseHeadersRead, Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/zip", response.Content.Headers.ContentType?.MediaType);
        Assert.Null(response.Content.Headers.ContentLength); // streamed, not buffered
        await using var zip = new ZipArchive(new MemoryStream(await response.Content.ReadAsByteArrayAsync(Ct)));
        var json = JsonNode.Parse(await new StreamReader(zip.GetEntry("contact.json")!.Open()).ReadToEndAsync(Ct))!;
        Assert.Equal("Zhang Wei", json["contact"]!["name"]!.GetValue<string>());
        Assert.Equal("https://shop.example/cart", json["pageViews"]![0]!["url"]!.GetValue<string>());
        var conversation = json["conversations"]!.AsArray().Single()!;
        Assert.Contains(conversation["messages"]!.AsArray(), m => m!["body"]!.GetValue<string>() == "我的订单号是 A-1001");
        var file = conversation["attachments"]![0]!["file"]!.GetValue<string>();
        await using var bytes = new MemoryStream();
        await zip.GetEntry(file)!.Open().CopyToAsync(bytes, Ct);
        Assert.Equal(WidgetTestKit.Png, bytes.ToArray());

        var audit = Assert.Single(await AuditAsync(server, "contact.exported"));
        Assert.Equal(data.ContactId.ToString(), audit.TargetId);

        // An agent may not export; an unknown contact is 404.
        await Security.SecurityFixtures.CreateUserAsync(server, "agent@test.local", "agent");
        using var agent = await Security.SecurityFixtures.SignInAsync(server, "agent@test.local");
        Assert.Equal(HttpStatusCode.Forbidden, (await agent.GetAsync($"/api/v1/contacts/{data.ContactId}/export", Ct)).StatusCode);
        Assert.Equal("contact_not_found", await WidgetTestKit.ProblemCodeAsync(await admin.GetAsync($"/api/v1/contacts/{Guid.NewGuid()}/export", Ct)));
    }

    [Theory]
    [BothStores]
    public async Task Erase_ClosesTheOpenConversation_AnonymisesMessages_RemovesFilesTrailAndPayloads(Store store)
    {
        await using var storage = await TestStorage.CreateAsync(store);
        await using var server = await ParleyServer.StartAsync(storage, NoBackgroundRetention);
        var (admin, _) = await AgentClient.SignInAsync(server);
        using var _admin = admin;
        await using var data = await VisitorWithDataAsync(server, "call me on 13800138000");
        await using var other = await VisitorWithDataAsync(server, "someone else");
        (await admin.PatchAsJsonAsync($"/api/v1/contacts/{data.ContactId}", new { name = "Li Na", phone = "13800138000", externalId = "crm-7" }, Ct)).EnsureSuccessStatusCode();
        var file = FileOf(server, data.StorageKey);
        Assert.True(File.Exists(file));

        // The integration events of the conversation carry the text until the erasure.
        await Eventually.ValueAsync(() => Db(server, db => db.IntegrationEvents.CountAsync(e => e.DataJson.Contains("13800138000"), Ct)), n => n > 0);

        var erased = await admin.PostAsync($"/api/v1/contacts/{data.ContactId}/erase", null, Ct);
        Assert.Equal(HttpStatusCode.OK, erased.StatusCode);
        var result = (await erased.Content.ReadFromJsonAsync<ErasureResult>(Ct))!;
        Assert.Equal((1, 1, 1), (result.ConversationsClosed, result.ConversationsAnonymised, result.Files));

        Assert.False(File.Exists(file)); // the bytes, not only the row
        Assert.True(File.Exists(FileOf(server, other.StorageKey)));
        var conversation = await Db(server, db => db.Conversations.AsNoTracking().SingleAsync(c => c.Id == data.ConversationId, Ct));
        Assert.Equal(ConversationStatus.Closed, conversation.Status);
        Assert.NotNull(conversation.AnonymisedAt);
        var messages = await server.MessagesAsync(data.ConversationId);
        Assert.DoesNotContain(messages, m => m.Body.Contains("13800138000", StringComparison.Ordinal) || m.Kind != MessageKind.Event);
        Assert.Contains(messages, m => m.Body == DataLifecycle.RemovedLine);
        Assert.Contains(messages, m => m.Body.Contains("\"closed\"", StringComparison.Ordinal)); // closed first, as agents saw
        Assert.Equal(0, await Db(server, db => db.Attachments.CountAsync(a => a.ConversationId == data.ConversationId, Ct)));
        Assert.Equal(0, await Db(server, db => db.PageViews.CountAsync(p => p.ContactId == data.ContactId, Ct)));
        Assert.Empty(await Db(server, db => db.IntegrationEvents.Where(e => e.DataJson.Contains("13800138000") || e.DataJson.Contains("Li Na")).Select(e => e.Type + " " + e.ContactId + " " + e.ConversationId + " " + e.DataJson).ToListAsync(Ct)));
        Assert.Equal(0, await Db(server, db => db.AttachmentDeletions.CountAsync(Ct)));
        var contact = await Db(server, db => db.Contacts.AsNoTracking().SingleAsync(c => c.Id == data.ContactId, Ct));
        Assert.Equal((null, null, null, null, null), (contact.Name, contact.Phone, contact.ExternalId, contact.AttributesJson, contact.LastPageJson));
        Assert.NotNull(contact.ErasedAt);

        // The contact is gone for every reader; the other visitor is untouched; the audit entry names no personal data.
        Assert.Equal(HttpStatusCode.NotFound, (await admin.GetAsync($"/api/v1/contacts/{data.ContactId}", Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await admin.PostAsync($"/api/v1/contacts/{data.ContactId}/erase", null, Ct)).StatusCode);
        Assert.Contains(await server.MessagesAsync(other.ConversationId), m => m.Body == "someone else");
        var audit = Assert.Single(await AuditAsync(server, "contact.erased"));
        Assert.DoesNotContain("13800138000", audit.DetailsJson!, StringComparison.Ordinal);
        Assert.DoesNotContain("Li Na", audit.DetailsJson!, StringComparison.Ordinal);
    }

    [Theory]
    [BothStores]
    public async Task Merge_KeepsBothHistoriesUnderTheSurvivor_AndRefusesAContactOfAnotherSite(Store store)
    {
        await using var storage = await TestStorage.CreateAsync(store);
        await using var server = await ParleyServer.StartAsync(storage, NoBackgroundRetention);
        var (admin, _) = await AgentClient.SignInAsync(server);
        using var _admin = admin;
        await using var phone = await VisitorWithDataAsync(server, "from my phone", "https://shop.example/m");
        await using var laptop = await VisitorWithDataAsync(server, "from my laptop", "https://shop.example/desk");
        (await admin.PatchAsJsonAsync($"/api/v1/contacts/{laptop.ContactId}", new { email = "one@example.com", attributes = new { plan = "gold" } }, Ct)).EnsureSuccessStatusCode();
        (await admin.PatchAsJsonAsync($"/api/v1/contacts/{phone.ContactId}", new { name = "One Customer" }, Ct)).EnsureSuccessStatusCode();

        var merged = await admin.PostAsJsonAsync($"/api/v1/contacts/{phone.ContactId}/merge", new MergeContactRequest(laptop.ContactId), Ct);
        Assert.Equal(HttpStatusCode.OK, merged.StatusCode);
        var survivor = JsonNode.Parse(await merged.Content.ReadAsStringAsync(Ct))!;
        Assert.Equal(("One Customer", "one@example.com", "gold"), (survivor["name"]!.GetValue<string>(), survivor["email"]!.GetValue<string>(), survivor["attributes"]!["plan"]!.GetValue<string>()));

        // Both conversations (one had to be closed: a contact has one active conversation) and both page trails are the survivor's.
        var conversations = await Db(server, db => db.Conversations.AsNoTracking().Where(c => c.ContactId == phone.ContactId).ToListAsync(Ct));
        Assert.Equal(new[] { laptop.ConversationId, phone.ConversationId }.Order(), conversations.Select(c => c.Id).Order());
        Assert.Single(conversations, c => c.Status != ConversationStatus.Closed);
        Assert.Contains(await server.MessagesAsync(laptop.ConversationId), m => m.Body == "from my laptop");
        Assert.Equal(2, await Db(server, db => db.PageViews.CountAsync(p => p.ContactId == phone.ContactId, Ct)));
        Assert.False(await Db(server, db => db.Contacts.AnyAsync(c => c.Id == laptop.ContactId, Ct)));
        var audit = Assert.Single(await AuditAsync(server, "contact.merged"));
        Assert.Contains("before", audit.DetailsJson!, StringComparison.Ordinal);

        // Another site's contact, the contact itself and an unknown one are refused.
        var site = (await (await admin.PostAsJsonAsync("/api/v1/sites", new { name = "Other", key = "other-site" }, Ct)).Content.ReadFromJsonAsync<JsonNode>(Ct))!;
        using var anon = server.CreateHttpClient();
        var foreign = (await (await anon.PostAsJsonAsync("/api/v1/widget/session", new { siteKey = "other-site" }, Ct)).Content.ReadFromJsonAsync<JsonNode>(Ct))!["contactId"]!.GetValue<Guid>();
        Assert.NotNull(site["id"]);
        var refused = await admin.PostAsJsonAsync($"/api/v1/contacts/{phone.ContactId}/merge", new MergeContactRequest(foreign), Ct);
        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        Assert.Equal("contacts_different_sites", await WidgetTestKit.ProblemCodeAsync(refused));
        Assert.Equal("invalid_request", await WidgetTestKit.ProblemCodeAsync(await admin.PostAsJsonAsync($"/api/v1/contacts/{phone.ContactId}/merge", new MergeContactRequest(phone.ContactId), Ct)));
        Assert.Equal("contact_not_found", await WidgetTestKit.ProblemCodeAsync(await admin.PostAsJsonAsync($"/api/v1/contacts/{phone.ContactId}/merge", new MergeContactRequest(Guid.NewGuid()), Ct)));
        Assert.True(await Db(server, db => db.Contacts.AnyAsync(c => c.Id == foreign, Ct)));
    }

    [Theory]
    [BothStores]
    public async Task Retention_RemovesOldClosedConversations_AndAFailedRunResumesWithoutRemovingAnythingTwice(Store store)
    {
        await using var storage = await TestStorage.CreateAsync(store);
        var settings = new Dictionary<string, string?>(NoBackgroundRetention) { ["Parley:Retention:BatchSize"] = "1" };
        await using var server = await ParleyServer.StartAsync(storage, settings, configure: b =>
        {
            b.Services.AddSingleton(sp => new FlakyStore(sp.GetRequiredService<LocalDiskAttachmentStore>()));
            b.Services.AddSingleton<IAttachmentStore>(sp => sp.GetRequiredService<FlakyStore>());
        });
        var flaky = server.Services.GetRequiredService<FlakyStore>();
        var job = server.Services.GetRequiredService<RetentionJob>();
        var (admin, _) = await AgentClient.SignInAsync(server);
        using var _admin = admin;
        var siteId = await WidgetTestKit.SiteIdAsync(admin);

        var old = new List<VisitorData>();
        for (var i = 0; i < 3; i++)
        {
            old.Add(await VisitorWithDataAsync(server, $"old chat {i}"));
        }

        await using var recent = await VisitorWithDataAsync(server, "recent chat");
        await using var open = await VisitorWithDataAsync(server, "still open");
        foreach (var chat in old.Append(recent))
        {
            (await admin.PostAsync($"/api/v1/conversations/{chat.ConversationId}/close", null, Ct)).EnsureSuccessStatusCode();
        }

        await AgeAsync(server, old.Select(o => o.ConversationId), TimeSpan.FromDays(31));
        await AgeAsync(server, [recent.ConversationId], TimeSpan.FromDays(29));

        // Bad settings are refused; the good one is audited with before and after.
        foreach (var bad in new object[] { new { days = 0 }, new { days = 3651 }, new { days = 30, mode = "shred" } })
        {
            Assert.Equal("invalid_retention", await WidgetTestKit.ProblemCodeAsync(await admin.PutAsJsonAsync($"/api/v1/sites/{siteId}/retention", bad, Ct)));
        }

        (await admin.PutAsJsonAsync($"/api/v1/sites/{siteId}/retention", new RetentionSettingsDto(30, "delete"), Ct)).EnsureSuccessStatusCode();
        Assert.Contains("\"before\":{\"days\":null", Assert.Single(await AuditAsync(server, "site.retention_changed")).DetailsJson, StringComparison.Ordinal);

        // The second file deletion fails: the run stops after the second conversation's rows are gone, its file is owed.
        flaky.FailAtDeletion = 2;
        await Assert.ThrowsAsync<IOException>(() => job.RunOnceAsync(Ct));
        Assert.Equal(1, await Db(server, db => db.Conversations.CountAsync(c => c.Id == old[0].ConversationId || c.Id == old[1].ConversationId || c.Id == old[2].ConversationId, Ct)));
        Assert.Equal(1, await Db(server, db => db.AttachmentDeletions.CountAsync(Ct)));

        var run = await job.RunOnceAsync(Ct);
        Assert.Equal(new RetentionRun(1, 2), run); // the owed file, then the third conversation and its file
        foreach (var chat in old)
        {
            Assert.Equal(1, flaky.Deletions[chat.StorageKey]);
            Assert.False(File.Exists(FileOf(server, chat.StorageKey)));
            Assert.False(await Db(server, db => db.Conversations.AnyAsync(c => c.Id == chat.ConversationId, Ct)));
        }

        Assert.True(File.Exists(FileOf(server, recent.StorageKey)));
        Assert.True(File.Exists(FileOf(server, open.StorageKey)));
        Assert.Equal(2, (await server.MessagesAsync(recent.ConversationId)).Count(m => m.Kind != MessageKind.Event));
        var applied = await AuditAsync(server, RetentionJob.AuditAction);
        Assert.Equal(3, applied.Count); // one per batch, each committed with its batch
        Assert.Equal(old.Select(o => o.ConversationId.ToString()).Order(), applied.SelectMany(a => JsonNode.Parse(a.DetailsJson!)!["conversationIds"]!.AsArray().Select(id => id!.GetValue<string>())).Order());
        Assert.Equal(new RetentionRun(0, 0), await job.RunOnceAsync(Ct));

        // Anonymise keeps the conversation for reports and removes its content once.
        (await admin.PutAsJsonAsync($"/api/v1/sites/{siteId}/retention", new RetentionSettingsDto(7, "anonymise"), Ct)).EnsureSuccessStatusCode();
        Assert.Equal(new RetentionRun(1, 1), await job.RunOnceAsync(Ct));
        Assert.Equal(new RetentionRun(0, 0), await job.RunOnceAsync(Ct));
        Assert.True(await Db(server, db => db.Conversations.AnyAsync(c => c.Id == recent.ConversationId && c.AnonymisedAt != null, Ct)));
        Assert.DoesNotContain(await server.MessagesAsync(recent.ConversationId), m => m.Body.Contains("recent chat", StringComparison.Ordinal));
        Assert.False(File.Exists(FileOf(server, recent.StorageKey)));
        Assert.Equal(1, flaky.Deletions[recent.StorageKey]);
        Assert.True(File.Exists(FileOf(server, open.StorageKey)));
    }

    private static async Task AgeAsync(ParleyServer server, IEnumerable<Guid> ids, TimeSpan age)
    {
        var list = ids.ToList();
        var closedAt = DateTime.UtcNow - age;
        await using var scope = server.Services.CreateAsyncScope();
        await scope.ServiceProvider.GetRequiredService<ParleyDbContext>().Conversations.Where(c => list.Contains(c.Id))
            .ExecuteUpdateAsync(s => s.SetProperty(c => c.ClosedAt, closedAt), Ct);
    }
}
