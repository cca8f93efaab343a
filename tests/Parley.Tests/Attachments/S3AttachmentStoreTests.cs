using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Parley.Server.Features.Attachments;
using Parley.Server.Features.Privacy;
using Parley.Tests.Infrastructure;
using Parley.Tests.Widget;
using static Parley.Tests.Privacy.PrivacyTestKit;

namespace Parley.Tests.Attachments;

/// <summary>#21: attachments in an S3-compatible bucket (a real s3rver on loopback), through the real REST endpoints.</summary>
public sealed class S3AttachmentStoreTests(S3Server s3) : IClassFixture<S3Server>
{
    private static readonly Dictionary<string, string?> NoBackgroundRetention = new() { ["Parley:Retention:Enabled"] = "false" };

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [BothStores]
    public async Task Uploads_GoToTheBucket_DownloadByteIdentical_AndAMissingObjectIsTheSame404AsOnDisk(Store store)
    {
        var bucket = await s3.CreateBucketAsync();
        await using var storage = await TestStorage.CreateAsync(store);
        var settings = new Dictionary<string, string?>(s3.Settings(bucket, prefix: "parley/")) { ["Parley:Attachments:MaxBytes"] = (7 * 1024 * 1024).ToString(System.Globalization.CultureInfo.InvariantCulture) };
        await using var server = await ParleyServer.StartAsync(storage, settings);
        Assert.IsType<S3AttachmentStore>(server.Services.GetRequiredService<IAttachmentStore>());
        var (admin, _) = await AgentClient.SignInAsync(server);
        using var _admin = admin;
        var visitor = await VisitorClient.ConnectAsync(server);
        await using var _visitor = visitor;
        var chat = (await visitor.StartConversationAsync()).Id;

        // A visitor's small image (one PUT) and an agent's 6 MiB PDF (a multipart upload: two parts).
        using var visitorHttp = WidgetTestKit.VisitorHttp(server, visitor.Token);
        (await WidgetTestKit.UploadAsync(visitorHttp, $"/api/v1/widget/conversations/{chat}/attachments", WidgetTestKit.Png, "photo.png")).EnsureSuccessStatusCode();
        var pdf = new byte[(6 * 1024 * 1024) + 12345];
        Random.Shared.NextBytes(pdf);
        "%PDF-1.7\n"u8.CopyTo(pdf);
        (await WidgetTestKit.UploadAsync(admin, $"/api/v1/conversations/{chat}/attachments", pdf, "manual.pdf")).EnsureSuccessStatusCode();

        var attachments = await Db(server, db => db.Attachments.AsNoTracking().Where(a => a.ConversationId == chat).OrderBy(a => a.Size).ToListAsync(Ct));
        Assert.Equal(2, attachments.Count);
        Assert.Equal(attachments.Select(a => "parley/" + a.StorageKey).Order(), (await s3.KeysAsync(bucket)).Order());
        Assert.False(Directory.Exists(Path.Combine(storage.DataDirectory, "attachments"))); // nothing on disk

        var urls = (await server.MessagesAsync(chat)).Where(m => m.Kind == Parley.Data.MessageKind.Attachment)
            .Select(m => JsonSerializer.Deserialize<AttachmentInfo>(m.Body, JsonSerializerOptions.Web)!).ToDictionary(i => i.Name, i => i.Url);
        using var anonymous = server.CreateHttpClient();
        var image = await anonymous.GetAsync(urls["photo.png"], Ct);
        Assert.Equal(HttpStatusCode.OK, image.StatusCode);
        Assert.Equal("inline", image.Content.Headers.ContentDisposition?.DispositionType); // the head re-check works on a bucket's stream
        Assert.Equal(WidgetTestKit.Png, await image.Content.ReadAsByteArrayAsync(Ct));
        var document = await admin.GetAsync(urls["manual.pdf"], Ct);
        Assert.Equal("application/pdf", document.Content.Headers.ContentType?.MediaType);
        Assert.Equal(pdf, await document.Content.ReadAsByteArrayAsync(Ct));

        // Over MaxBytes: refused as on disk, and no object (nor a finished multipart upload) is left behind.
        var tooLarge = await WidgetTestKit.UploadAsync(admin, $"/api/v1/conversations/{chat}/attachments", new byte[8 * 1024 * 1024].Select((_, i) => (byte)('a' + (i % 26))).ToArray(), "big.txt");
        Assert.Equal("attachment_too_large", await WidgetTestKit.ProblemCodeAsync(tooLarge));
        Assert.Equal(2, (await s3.KeysAsync(bucket)).Count);

        // The object removed behind Parley's back: the same answer as a missing file on disk.
        await s3.Client.DeleteObjectAsync(bucket, "parley/" + attachments[1].StorageKey, Ct);
        var missing = await admin.GetAsync(urls["manual.pdf"], Ct);
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        Assert.Equal("attachment_not_found", await WidgetTestKit.ProblemCodeAsync(missing));
        var store3 = server.Services.GetRequiredService<IAttachmentStore>();
        Assert.Null(await store3.OpenReadAsync(attachments[1].StorageKey, Ct));
        Assert.Null(await store3.OpenReadAsync("../../etc/passwd", Ct));
        await store3.DeleteAsync(attachments[1].StorageKey, Ct); // already gone: not an error
    }

    [Theory]
    [BothStores]
    public async Task ExportErasureAndRetention_ReadAndRemoveTheObjectsInTheBucket(Store store)
    {
        var bucket = await s3.CreateBucketAsync();
        await using var storage = await TestStorage.CreateAsync(store);
        await using var server = await ParleyServer.StartAsync(storage, new Dictionary<string, string?>(s3.Settings(bucket).Concat(NoBackgroundRetention)));
        var (admin, _) = await AgentClient.SignInAsync(server);
        using var _admin = admin;
        await using var erased = await VisitorWithDataAsync(server, "erase me");
        await using var old = await VisitorWithDataAsync(server, "an old chat");
        await using var kept = await VisitorWithDataAsync(server, "still open");
        Assert.Equal(new[] { erased.StorageKey, old.StorageKey, kept.StorageKey }.Order(), (await s3.KeysAsync(bucket)).Order());

        // Export streams the file out of the bucket into the zip.
        using var export = await admin.GetAsync($"/api/v1/contacts/{erased.ContactId}/export", Ct);
        Assert.Equal(HttpStatusCode.OK, export.StatusCode);
        await using var zip = new System.IO.Compression.ZipArchive(new MemoryStream(await export.Content.ReadAsByteArrayAsync(Ct)));
        var entry = Assert.Single(zip.Entries, e => e.FullName != "contact.json");
        await using var bytes = new MemoryStream();
        await entry.Open().CopyToAsync(bytes, Ct);
        Assert.Equal(WidgetTestKit.Png, bytes.ToArray());

        // Erasure removes the contact's object, not the others.
        var erasure = await admin.PostAsync($"/api/v1/contacts/{erased.ContactId}/erase", null, Ct);
        Assert.Equal(1, (await erasure.Content.ReadFromJsonAsync<ErasureResult>(Ct))!.Files);
        Assert.Equal(new[] { old.StorageKey, kept.StorageKey }.Order(), (await s3.KeysAsync(bucket)).Order());

        // Retention (delete after 30 days) removes the old closed conversation's object.
        (await admin.PostAsync($"/api/v1/conversations/{old.ConversationId}/close", null, Ct)).EnsureSuccessStatusCode();
        await using (var scope = server.Services.CreateAsyncScope())
        {
            var closedAt = DateTime.UtcNow - TimeSpan.FromDays(31);
            await scope.ServiceProvider.GetRequiredService<Parley.Data.ParleyDbContext>().Conversations.Where(c => c.Id == old.ConversationId)
                .ExecuteUpdateAsync(s => s.SetProperty(c => c.ClosedAt, closedAt), Ct);
        }

        var siteId = await WidgetTestKit.SiteIdAsync(admin);
        (await admin.PutAsJsonAsync($"/api/v1/sites/{siteId}/retention", new RetentionSettingsDto(30, "delete"), Ct)).EnsureSuccessStatusCode();
        Assert.Equal(new RetentionRun(1, 1), await server.Services.GetRequiredService<RetentionJob>().RunOnceAsync(Ct));
        Assert.Equal([kept.StorageKey], await s3.KeysAsync(bucket));
    }

    [Fact]
    public async Task HealthCheck_IsHealthyWithTheBucket_DegradedOrUnhealthyWhenTheEndpointIsUnreachable()
    {
        var bucket = await s3.CreateBucketAsync();
        await using (var storage = await TestStorage.CreateAsync(Store.Sqlite))
        await using (var server = await ParleyServer.StartAsync(storage, s3.Settings(bucket)))
        {
            using var http = server.CreateHttpClient();
            Assert.Equal("Healthy", await http.GetStringAsync("/health/ready", Ct));
        }

        var closed = new TcpListener(IPAddress.Loopback, 0);
        closed.Start();
        var deadPort = ((IPEndPoint)closed.LocalEndpoint).Port;
        closed.Stop();
        var unreachable = new Dictionary<string, string?>(s3.Settings(bucket)) { ["Parley:Attachments:S3:ServiceUrl"] = $"http://127.0.0.1:{deadPort}" };
        await using (var storage = await TestStorage.CreateAsync(Store.Sqlite))
        await using (var server = await ParleyServer.StartAsync(storage, unreachable))
        {
            using var http = server.CreateHttpClient();
            var ready = await http.GetAsync("/health/ready", Ct);
            Assert.Equal((HttpStatusCode.OK, "Degraded"), (ready.StatusCode, await ready.Content.ReadAsStringAsync(Ct)));
        }

        unreachable["Parley:Attachments:S3:ReadinessRequiresBucket"] = "true";
        await using (var storage = await TestStorage.CreateAsync(Store.Sqlite))
        await using (var server = await ParleyServer.StartAsync(storage, unreachable))
        {
            using var http = server.CreateHttpClient();
            var ready = await http.GetAsync("/health/ready", Ct);
            Assert.Equal((HttpStatusCode.ServiceUnavailable, "Unhealthy"), (ready.StatusCode, await ready.Content.ReadAsStringAsync(Ct)));
        }
    }

    [Fact]
    public async Task AnS3StoreWithoutBucketOrEndpoint_StopsTheServerAtStart_NamingTheSettings()
    {
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        var error = await Assert.ThrowsAsync<OptionsValidationException>(() =>
            ParleyServer.StartAsync(storage, new Dictionary<string, string?> { ["Parley:Attachments:Store"] = "s3", ["Parley:Attachments:S3:ServiceUrl"] = "minio:9000" }));
        Assert.Contains("Parley:Attachments:S3:Bucket is required", error.Message);
        Assert.Contains("Parley:Attachments:S3:ServiceUrl must be an absolute http(s) URL", error.Message);
    }
}
