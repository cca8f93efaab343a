using System.Net;
using System.Net.Http.Json;
using Microsoft.AspNetCore.SignalR.Client;
using Parley.Data;
using Parley.Server.Features.Supervision;
using Parley.Server.Messaging;
using Parley.Tests.Infrastructure;
using Parley.Tests.Widget;

namespace Parley.Tests.Security;

/// <summary>Supervisor abilities: whisper to the assigned agent (never to the visitor) and take over, through AccessPolicy.</summary>
public sealed class SupervisorTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [BothStores]
    public async Task Supervisor_WhispersToTheAgent_NotTheVisitor_ThenTakesOver_AndTheAgentIsTold(Store store)
    {
        await using var storage = await TestStorage.CreateAsync(store);
        await using var server = await ParleyServer.StartAsync(storage);
        var sales = await server.CreateTeamAsync("Sales");
        var billing = await server.CreateTeamAsync("Billing");
        await server.CreateUserAsync("amy@test.local", "agent", sales);
        var sueUser = await server.CreateUserAsync("sue@test.local", "supervisor", sales);
        await server.CreateUserAsync("bob@test.local", "supervisor", billing);
        var (visitor, chat) = await server.VisitorInTeamAsync(sales, "I want a refund");
        await using var _ = visitor;
        using var sue = await server.SignInAsync("sue@test.local");
        using var bob = await server.SignInAsync("bob@test.local");

        // Nobody holds it yet (no agent is online for routing): there is no one to whisper to.
        var early = await sue.PostAsJsonAsync($"/api/v1/conversations/{chat}/whisper", new WhisperRequest(Guid.NewGuid().ToString(), "psst"), Ct);
        Assert.Equal(HttpStatusCode.Conflict, early.StatusCode);
        Assert.Equal("no_assignee", await WidgetTestKit.ProblemCodeAsync(early));

        await using var amy = await AgentClient.ConnectAsAsync(server, "amy@test.local", SecurityFixtures.Password);
        var whispers = new Inbox<WhisperEvent>();
        var takenOver = new Inbox<TakenOverEvent>();
        amy.Hub.On<WhisperEvent>("whisper", whispers.Add);
        amy.Hub.On<TakenOverEvent>("takenOver", takenOver.Add);

        (await amy.Http.PostAsJsonAsync($"/api/v1/conversations/{chat}/assign", new { }, Ct)).EnsureSuccessStatusCode();

        // The whisper reaches Amy (who is not even watching the conversation) and is stored as a note.
        var whisper = await sue.PostAsJsonAsync($"/api/v1/conversations/{chat}/whisper", new WhisperRequest(Guid.NewGuid().ToString(), "Offer the 10% coupon first"), Ct);
        whisper.EnsureSuccessStatusCode();
        var pushed = (await whispers.WaitForCountAsync(1))[0];
        Assert.Equal((chat, "Offer the 10% coupon first", sueUser.Id), (pushed.ConversationId, pushed.Body, pushed.FromUserId));
        var stored = (await server.MessagesAsync(chat)).Single(m => m.Body == "Offer the 10% coupon first");
        Assert.Equal(MessageKind.Note, stored.Kind);

        // The visitor never sees it: not live (the next visible message arrives, the whisper did not) and not in a replay.
        await amy.SendAsync(chat, "We can offer you a coupon.");
        await visitor.Messages.WaitUntilAsync(m => m.Any(x => x.Body == "We can offer you a coupon."));
        Assert.DoesNotContain(visitor.Messages.Snapshot(), m => m.Body == "Offer the 10% coupon first");
        Assert.DoesNotContain((await visitor.ResumeAsync(chat, 0)).Messages, m => m.Body == "Offer the 10% coupon first");

        // Agents cannot whisper or take over; another department's supervisor cannot even see the conversation.
        var agentWhisper = await amy.Http.PostAsJsonAsync($"/api/v1/conversations/{chat}/whisper", new WhisperRequest(Guid.NewGuid().ToString(), "x"), Ct);
        Assert.Equal(HttpStatusCode.Forbidden, agentWhisper.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await amy.Http.PostAsync($"/api/v1/conversations/{chat}/take-over", null, Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await bob.PostAsJsonAsync($"/api/v1/conversations/{chat}/whisper", new WhisperRequest(Guid.NewGuid().ToString(), "x"), Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await bob.PostAsync($"/api/v1/conversations/{chat}/take-over", null, Ct)).StatusCode);

        // Sue takes over: she holds it now, Amy is told, and Amy cannot simply take it back.
        var taken = await sue.PostAsync($"/api/v1/conversations/{chat}/take-over", null, Ct);
        taken.EnsureSuccessStatusCode();
        Assert.Equal(sueUser.Id, (await taken.Content.ReadFromJsonAsync<ConversationSummary>(Ct))!.AssigneeId);
        var told = (await takenOver.WaitForCountAsync(1))[0];
        Assert.Equal((chat, sueUser.Id), (told.ConversationId, told.ByUserId));
        Assert.Equal(HttpStatusCode.Forbidden, (await amy.Http.PostAsJsonAsync($"/api/v1/conversations/{chat}/assign", new { }, Ct)).StatusCode);
    }
}
