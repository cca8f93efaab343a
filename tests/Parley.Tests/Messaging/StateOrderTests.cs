using System.Net.Http.Json;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Parley.Data;
using Parley.Server.Events;
using Parley.Server.Features.Conversations;
using Parley.Server.Messaging;
using Parley.Server.Realtime;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Messaging;

/// <summary>
/// A conversation's states reach agents in the order they were read, although they are published from several threads
/// (a commit, routing, a hand-off): a state read before a change and published after it is not pushed.
/// </summary>
public sealed class StateOrderTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public void OlderSequence_IsRefused_NewerAdmitted()
    {
        var order = new StateOrder();
        var id = Guid.NewGuid();
        Assert.True(order.Admit(id, 5, change: false));
        Assert.False(order.Admit(id, 4, change: true));
        Assert.False(order.Admit(id, 4, change: false));
        Assert.True(order.Admit(id, 6, change: false));
        Assert.True(order.Admit(Guid.NewGuid(), 1, change: false)); // another conversation is not affected
    }

    [Fact]
    public void AtTheSameSequence_ACommitsStateIsOlderThanAChangeReadAfterIt()
    {
        var order = new StateOrder();
        var id = Guid.NewGuid();

        // The commit of message 7 publishes the row as it left it; a change read afterwards goes out after it.
        Assert.True(order.Admit(id, 7, change: false));
        Assert.True(order.Admit(id, 7, change: true));

        // That commit's state arriving late (after the change) is older: refused. Two changes at 7 cannot be ordered: both go.
        Assert.False(order.Admit(id, 7, change: false));
        Assert.True(order.Admit(id, 7, change: true));

        // Commits of the same batch (one state for all its messages) all go out while no change came between.
        var other = Guid.NewGuid();
        Assert.True(order.Admit(other, 3, change: false));
        Assert.True(order.Admit(other, 3, change: false));
    }

    [Fact]
    public void PastTheBound_ItStartsOver_AndAdmits()
    {
        var order = new StateOrder();
        var first = Guid.NewGuid();
        Assert.True(order.Admit(first, 9, change: true));
        for (var i = 1; i < StateOrder.MaxTracked; i++)
        {
            order.Admit(Guid.NewGuid(), 1, change: false);
        }

        Assert.False(order.Admit(first, 8, change: false)); // still tracked
        order.Admit(Guid.NewGuid(), 1, change: false); // over the bound: forgotten
        Assert.True(order.Admit(first, 8, change: false));
    }

    [Fact]
    public async Task AStaleState_PublishedAfterAnAssignment_DoesNotUndoItInTheAgentsInbox()
    {
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage);
        await using var agent = await AgentClient.ConnectAsync(server);
        await agent.Hub.InvokeAsync("SetStatus", "away", Ct); // routing leaves the conversation to the manual assignment
        await using var visitor = await VisitorClient.ConnectAsync(server);
        var conversation = await visitor.StartConversationAsync();
        await visitor.SendAsync(conversation.Id, "hello");
        await agent.Conversations.WaitUntilAsync(items => items.Any(c => c.Id == conversation.Id && c.LastSeq >= 1));

        // The states a commit and a change read before the assignment (unassigned)...
        ConversationState stale;
        Message message;
        await using (var scope = server.Services.CreateAsyncScope())
        {
            stale = await scope.ServiceProvider.GetRequiredService<ConversationService>().LoadStateAsync(conversation.Id, Ct);
            message = await scope.ServiceProvider.GetRequiredService<ParleyDbContext>().Messages.AsNoTracking()
                .Where(m => m.ConversationId == conversation.Id).OrderByDescending(m => m.Seq).FirstAsync(Ct);
        }

        Assert.Null(stale.AssigneeId);
        (await agent.Http.PostAsJsonAsync($"/api/v1/conversations/{conversation.Id}/assign", new { userId = (Guid?)null }, Ct)).EnsureSuccessStatusCode();
        await agent.Conversations.WaitUntilAsync(items => items.Any(c => c.Id == conversation.Id && c.AssigneeId != null));

        // ...published after it, as a slow thread or another node would.
        var events = server.Services.GetRequiredService<DomainEvents>();
        events.Publish(new MessageCommitted(message, stale));
        events.Publish(new ConversationChanged(stale));

        // The next real change is pushed, and nothing between the assignment and it said "unassigned".
        await visitor.SendAsync(conversation.Id, "are you there?");
        var items = await agent.Conversations.WaitUntilAsync(items => items.Any(c => c.Id == conversation.Id && c.LastMessagePreview == "are you there?"));
        var ours = items.Where(c => c.Id == conversation.Id).ToList();
        var assignedAt = ours.FindIndex(c => c.AssigneeId != null);
        Assert.All(ours.Skip(assignedAt), c => Assert.NotNull(c.AssigneeId));
    }
}
