using System.Net;
using System.Net.Http.Json;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Parley.Data;
using Parley.Server.Features.Auth;
using Parley.Server.Messaging;
using Parley.Server.Routing;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Routing;

/// <summary>Agents with their own accounts and capacities, and visitors that listen to their queue status.</summary>
public static class RoutingHarness
{
    public const string AgentPassword = "Agent-Password-1";

    public static async Task<Guid> CreateAgentAsync(ParleyServer server, string email, int capacity = 20, UserRole role = UserRole.Agent)
    {
        await using var scope = server.Services.CreateAsyncScope();
        var accounts = scope.ServiceProvider.GetRequiredService<UserAccounts>();
        var user = await accounts.CreateAsync(email, AgentPassword, email.Split('@')[0], role, TestContext.Current.CancellationToken);
        var db = scope.ServiceProvider.GetRequiredService<ParleyDbContext>();
        await db.Users.Where(u => u.Id == user.Id).ExecuteUpdateAsync(s => s.SetProperty(u => u.Capacity, capacity), TestContext.Current.CancellationToken);
        return user.Id;
    }

    public static async Task<RoutedAgent> ConnectAgentAsync(ParleyServer server, string email, Guid id)
    {
        var (http, cookies) = await AgentClient.SignInAsync(server, email, AgentPassword);
        var hub = HubFactory.Build(server.BaseAddress, "/hubs/agent", messagePack: true, o => o.Cookies = cookies);
        var agent = new RoutedAgent(id, http, hub);
        await hub.StartAsync(TestContext.Current.CancellationToken);
        return agent;
    }

    public static async Task<RoutedVisitor> ConnectVisitorAsync(ParleyServer server)
    {
        var client = await VisitorClient.ConnectAsync(server);
        var visitor = new RoutedVisitor(client);
        visitor.Conversation = await client.StartConversationAsync();
        return visitor;
    }

    /// <summary>The conversations' rows as stored (assignee, queue fields), read from the real database.</summary>
    public static async Task<List<Conversation>> ConversationsAsync(ParleyServer server)
    {
        await using var scope = server.Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<ParleyDbContext>().Conversations.AsNoTracking().ToListAsync(TestContext.Current.CancellationToken);
    }

    /// <summary>Waits (on a condition, with a timeout) until the stored conversations satisfy <paramref name="condition"/>.</summary>
    public static async Task<List<Conversation>> WaitForStoreAsync(ParleyServer server, Func<List<Conversation>, bool> condition, TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(30));
        while (true)
        {
            var rows = await ConversationsAsync(server);
            if (condition(rows))
            {
                return rows;
            }

            if (cts.IsCancellationRequested)
            {
                throw new TimeoutException("The store did not reach the expected routing state in time.");
            }

            // Polling the database is the condition here (routing runs in the background); short, bounded.
            await Task.Delay(50, TestContext.Current.CancellationToken);
        }
    }

    public static async Task<HttpResponseMessage> PostAsync(HttpClient http, string path, object? body = null) =>
        await http.PostAsJsonAsync(path, body ?? new { }, TestContext.Current.CancellationToken);

    public static async Task<string?> ErrorCodeAsync(HttpResponseMessage response)
    {
        var problem = await response.Content.ReadFromJsonAsync<Dictionary<string, object?>>(TestContext.Current.CancellationToken);
        return problem?.GetValueOrDefault("code")?.ToString();
    }

    public static Dictionary<string, string?> FastRouting(double graceSeconds = 0.5) => new()
    {
        ["Parley:Routing:SweepIntervalSeconds"] = "0.2",
        ["Parley:Presence:OfflineGraceSeconds"] = graceSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };
}

public sealed class RoutedAgent : IAsyncDisposable
{
    public RoutedAgent(Guid id, HttpClient http, HubConnection hub)
    {
        Id = id;
        Http = http;
        Hub = hub;
        hub.On<OfferDto>("offer", Offers.Add);
    }

    public Guid Id { get; }

    public HttpClient Http { get; }

    public HubConnection Hub { get; }

    public Inbox<OfferDto> Offers { get; } = new();

    public async ValueTask DisposeAsync()
    {
        await Hub.DisposeAsync();
        Http.Dispose();
    }
}

public sealed class RoutedVisitor : IAsyncDisposable
{
    public RoutedVisitor(VisitorClient client)
    {
        Client = client;
        client.Hub.On<QueueStatus>("queue", Queue.Add);
    }

    public VisitorClient Client { get; }

    public ConversationInfo Conversation { get; set; } = null!;

    public Inbox<QueueStatus> Queue { get; } = new();

    public QueueStatus? Latest => Queue.Snapshot() is { Count: > 0 } s ? s[^1] : null;

    public ValueTask DisposeAsync() => Client.DisposeAsync();
}
