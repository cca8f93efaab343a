using System.Collections.Concurrent;
using System.Net.Http.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Parley.Data;
using Parley.Server.Features.Attachments;
using Parley.Tests.Infrastructure;
using Parley.Tests.Widget;

namespace Parley.Tests.Privacy;

/// <summary>A visitor with a conversation, a message, a page trail and an attachment on disk.</summary>
internal sealed record VisitorData(VisitorClient Visitor, Guid ConversationId, Guid ContactId, string StorageKey) : IAsyncDisposable
{
    public ValueTask DisposeAsync() => Visitor.DisposeAsync();
}

internal static class PrivacyTestKit
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public static async Task<VisitorData> VisitorWithDataAsync(ParleyServer server, string message, string pageUrl = "https://shop.example/cart")
    {
        var visitor = await VisitorClient.ConnectAsync(server);
        var conversation = await visitor.StartConversationAsync();
        await visitor.SendAsync(conversation.Id, message);
        using var http = WidgetTestKit.VisitorHttp(server, visitor.Token);
        (await http.PostAsJsonAsync("/api/v1/widget/page", new { url = pageUrl, title = "Cart" }, Ct)).EnsureSuccessStatusCode();
        (await WidgetTestKit.UploadAsync(http, $"/api/v1/widget/conversations/{conversation.Id}/attachments", WidgetTestKit.Png, "receipt.png")).EnsureSuccessStatusCode();
        var attachment = await Db(server, db => db.Attachments.AsNoTracking().SingleAsync(a => a.ConversationId == conversation.Id, Ct));
        var contactId = await Db(server, db => db.Conversations.Where(c => c.Id == conversation.Id).Select(c => c.ContactId).SingleAsync(Ct));
        return new VisitorData(visitor, conversation.Id, contactId, attachment.StorageKey);
    }

    public static async Task<T> Db<T>(ParleyServer server, Func<ParleyDbContext, Task<T>> read)
    {
        await using var scope = server.Services.CreateAsyncScope();
        return await read(scope.ServiceProvider.GetRequiredService<ParleyDbContext>());
    }

    /// <summary>The file behind a key on the local disk store.</summary>
    public static string FileOf(ParleyServer server, string key) =>
        server.Services.GetRequiredService<LocalDiskAttachmentStore>().PathOf(key) ?? throw new InvalidOperationException("not a local key: " + key);

    public static Task<List<AuditEntry>> AuditAsync(ParleyServer server, string action) =>
        Db(server, db => db.AuditEntries.AsNoTracking().Where(e => e.Action == action).OrderBy(e => e.Id).ToListAsync(Ct));
}

/// <summary>
/// The local store, counting deletions per key and failing the n-th deletion once: a retention run that stops
/// half-way, as a full disk or a crash would stop it.
/// </summary>
internal sealed class FlakyStore(LocalDiskAttachmentStore inner) : IAttachmentStore
{
    public ConcurrentDictionary<string, int> Deletions { get; } = new();

    public int FailAtDeletion { get; set; } = -1;

    private int _attempts;

    public Task<string> SaveAsync(Stream content, CancellationToken cancellationToken) => inner.SaveAsync(content, cancellationToken);

    public Task<Stream?> OpenReadAsync(string key, CancellationToken cancellationToken) => inner.OpenReadAsync(key, cancellationToken);

    public async Task DeleteAsync(string key, CancellationToken cancellationToken)
    {
        if (Interlocked.Increment(ref _attempts) == FailAtDeletion)
        {
            throw new IOException("disk went away");
        }

        await inner.DeleteAsync(key, cancellationToken);
        Deletions.AddOrUpdate(key, 1, (_, n) => n + 1);
    }
}
