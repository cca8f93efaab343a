using BenchmarkDotNet.Attributes;
using Microsoft.AspNetCore.Builder;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Parley.Data;
using Parley.Server;
using Parley.Server.Messaging;

namespace Parley.Benchmarks;

/// <summary>
/// The write path end to end: <see cref="MessageWriter.WriteAsync"/> against a temp SQLite file through a started
/// Parley host. (<c>GroupCommit</c> itself is internal and visible to Parley.Tests only, so it is measured through
/// the public writer.) Single = one message, one commit; Concurrent = N senders at once, shared commits.
/// </summary>
[MemoryDiagnoser]
public class GroupCommitBenchmarks
{
    private WebApplication _app = null!;
    private MessageWriter _writer = null!;
    private string _dir = null!;
    private Guid[] _conversations = [];

    [Params("Full", "Normal")]
    public string Synchronous { get; set; } = "Full";

    [GlobalSetup]
    public async Task SetupAsync()
    {
        _dir = Path.Combine(Path.GetTempPath(), "parley-bdn-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_dir);
        _app = ParleyApp.Create(
            ["--urls=http://127.0.0.1:0"],
            b => b.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["Parley:Database:DataDirectory"] = _dir,
                ["Parley:Database:SqliteSynchronous"] = Synchronous,
                ["Parley:Bootstrap:SiteKey"] = "bench",
                ["Logging:LogLevel:Default"] = "Warning",
            }));
        await _app.StartAsync();
        _writer = _app.Services.GetRequiredService<MessageWriter>();

        using var scope = _app.Services.CreateScope();
        var db = scope.ServiceProvider.GetRequiredService<ParleyDbContext>();
        var site = await db.Sites.FirstAsync();
        var now = DateTime.UtcNow;
        _conversations = new Guid[64];
        for (var i = 0; i < _conversations.Length; i++)
        {
            var contact = new Contact { Id = Guid.CreateVersion7(), SiteId = site.Id, Name = "c" + i, CreatedAt = now, LastSeenAt = now };
            var conversation = new Conversation { Id = Guid.CreateVersion7(), SiteId = site.Id, ContactId = contact.Id, Status = ConversationStatus.Open, CreatedAt = now, UpdatedAt = now, LastMessageAt = now };
            db.Contacts.Add(contact);
            db.Conversations.Add(conversation);
            _conversations[i] = conversation.Id;
        }

        await db.SaveChangesAsync();
    }

    [GlobalCleanup]
    public async Task CleanupAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    private WriteCommand Command(int i) =>
        new(_conversations[i % _conversations.Length], Guid.NewGuid(), SenderKind.Visitor, null, null, MessageKind.Text, "hello from the benchmark, how are you today?");

    [Benchmark(Description = "WriteAsync, 1 sender (one commit per message)")]
    public Task<WriteResult> SingleAsync() => _writer.WriteAsync(Command(0));

    [Benchmark(OperationsPerInvoke = 256, Description = "WriteAsync, 256 concurrent senders (group commit), per message")]
    public Task ConcurrentAsync() => Task.WhenAll(Enumerable.Range(0, 256).Select(i => _writer.WriteAsync(Command(i))));
}
