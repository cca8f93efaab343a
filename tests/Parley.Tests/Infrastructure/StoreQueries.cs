using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Parley.Data;

namespace Parley.Tests.Infrastructure;

/// <summary>Reads the real store behind a running server, to assert what was (or was not) persisted.</summary>
public static class StoreQueries
{
    public static async Task<List<Message>> MessagesAsync(this ParleyServer server, Guid conversationId)
    {
        await using var scope = server.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ParleyDbContext>();
        return await db.Messages.AsNoTracking().Where(m => m.ConversationId == conversationId).OrderBy(m => m.Seq).ToListAsync();
    }

    public static async Task<int> TotalMessagesAsync(this ParleyServer server)
    {
        await using var scope = server.Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<ParleyDbContext>().Messages.CountAsync();
    }
}
