using System.Net;
using System.Net.Http.Json;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.Extensions.DependencyInjection;
using Parley.Server.Features.Widget;
using Parley.Server.Messaging;

namespace Parley.Tests.Infrastructure;

/// <summary>Collects pushed events and lets a test wait for a condition on them (never a fixed sleep).</summary>
public sealed class Inbox<T>
{
    private readonly List<T> _items = [];
    private readonly Lock _gate = new();
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public IReadOnlyList<T> Snapshot()
    {
        lock (_gate)
        {
            return [.. _items];
        }
    }

    public void Add(T item)
    {
        TaskCompletionSource changed;
        lock (_gate)
        {
            _items.Add(item);
            changed = _changed;
            _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        changed.TrySetResult();
    }

    public async Task<IReadOnlyList<T>> WaitUntilAsync(Func<IReadOnlyList<T>, bool> condition, TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(15));
        while (true)
        {
            Task changed;
            lock (_gate)
            {
                if (condition(_items))
                {
                    return [.. _items];
                }

                changed = _changed.Task;
            }

            try
            {
                await changed.WaitAsync(cts.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"Condition not met within the timeout; {Snapshot().Count} item(s) received.");
            }
        }
    }

    public Task<IReadOnlyList<T>> WaitForCountAsync(int count, TimeSpan? timeout = null) => WaitUntilAsync(items => items.Count >= count, timeout);
}

public static class HubFactory
{
    public static HubConnection Build(Uri baseAddress, string path, bool messagePack, Action<Microsoft.AspNetCore.Http.Connections.Client.HttpConnectionOptions> configure)
    {
        // The browsers' side of the keep-alive contract (RealtimeOptions.ClientKeepAliveSeconds), as the widget has it.
        var builder = new HubConnectionBuilder()
            .WithKeepAliveInterval(TimeSpan.FromSeconds(Parley.Server.Realtime.RealtimeOptions.ClientKeepAliveSeconds))
            .WithServerTimeout(TimeSpan.FromSeconds(Parley.Server.Realtime.RealtimeOptions.ClientServerTimeoutSeconds))
            .WithUrl(new Uri(baseAddress, path), o =>
            {
                o.Transports = Microsoft.AspNetCore.Http.Connections.HttpTransportType.WebSockets;
                o.SkipNegotiation = true;
                configure(o);
            });
        if (messagePack)
        {
            builder.AddMessagePackProtocol();
        }

        return builder.Build();
    }
}

/// <summary>A visitor as the widget is one: a REST session, then the visitor hub.</summary>
public sealed class VisitorClient : IAsyncDisposable
{
    private VisitorClient(WidgetSessionResponse session, HubConnection hub)
    {
        Session = session;
        Hub = hub;
        hub.On<MessageDto>("message", Messages.Add);
        hub.On<ConversationInfo>("conversation", ConversationEvents.Add);
    }

    public WidgetSessionResponse Session { get; }

    public string Token => Session.VisitorToken;

    public HubConnection Hub { get; }

    public Inbox<MessageDto> Messages { get; } = new();

    public Inbox<ConversationInfo> ConversationEvents { get; } = new();

    public static async Task<WidgetSessionResponse> CreateSessionAsync(ParleyServer server, string? token = null)
    {
        using var http = server.CreateHttpClient();
        var response = await http.PostAsJsonAsync("/api/v1/widget/session", new { siteKey = ParleyServer.SiteKey, visitorToken = token });
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync<WidgetSessionResponse>())!;
    }

    public static async Task<VisitorClient> ConnectAsync(ParleyServer server, string? token = null, bool messagePack = true)
    {
        var session = await CreateSessionAsync(server, token);
        var hub = HubFactory.Build(server.BaseAddress, "/hubs/visitor", messagePack, o => o.AccessTokenProvider = () => Task.FromResult<string?>(session.VisitorToken));
        var client = new VisitorClient(session, hub);
        await hub.StartAsync(TestContext.Current.CancellationToken);
        return client;
    }

    public Task<ConversationInfo> StartConversationAsync() => Hub.InvokeAsync<ConversationInfo>("StartConversation");

    public Task<SendAck> SendAsync(Guid conversationId, string body, Guid? clientId = null) =>
        Hub.InvokeAsync<SendAck>("Send", new SendRequest { ConversationId = conversationId.ToString(), ClientId = (clientId ?? Guid.NewGuid()).ToString(), Body = body });

    public Task<ReplayDto> ResumeAsync(Guid conversationId, long afterSeq) =>
        Hub.InvokeAsync<ReplayDto>("Resume", new ResumeRequest { ConversationId = conversationId.ToString(), AfterSeq = afterSeq });

    public async ValueTask DisposeAsync() => await Hub.DisposeAsync();
}

/// <summary>An agent as the console is one: cookie sign-in over REST, then the agent hub with that cookie.</summary>
public sealed class AgentClient : IAsyncDisposable
{
    private AgentClient(HttpClient http, HubConnection hub)
    {
        Http = http;
        Hub = hub;
        hub.On<MessageDto>("message", Messages.Add);
        hub.On<ConversationSummary>("conversationUpdated", Conversations.Add);
        hub.On<ConversationSummary[]>("conversationsUpdated", batch =>
        {
            SummaryBatches.Add(batch);
            foreach (var summary in batch)
            {
                Conversations.Add(summary);
            }
        });
    }

    public HttpClient Http { get; }

    public HubConnection Hub { get; }

    public Inbox<MessageDto> Messages { get; } = new();

    /// <summary>Every inbox summary received, one by one (<c>conversationUpdated</c>) or in batches (<c>conversationsUpdated</c>).</summary>
    public Inbox<ConversationSummary> Conversations { get; } = new();

    /// <summary>The <c>conversationsUpdated</c> batches (under Pressure), as received.</summary>
    public Inbox<ConversationSummary[]> SummaryBatches { get; } = new();

    public static async Task<(HttpClient Http, CookieContainer Cookies)> SignInAsync(ParleyServer server, string email = ParleyServer.AdminEmail, string password = ParleyServer.AdminPassword)
    {
        var cookies = new CookieContainer();
        var http = new HttpClient(new HttpClientHandler { CookieContainer = cookies }) { BaseAddress = server.BaseAddress };
        http.DefaultRequestHeaders.Add("X-Parley-Csrf", "1");
        var response = await http.PostAsJsonAsync("/api/v1/auth/login", new { email, password });
        response.EnsureSuccessStatusCode();
        return (http, cookies);
    }

    public static Task<AgentClient> ConnectAsync(ParleyServer server, bool messagePack = false) =>
        ConnectAsAsync(server, ParleyServer.AdminEmail, ParleyServer.AdminPassword, messagePack);

    /// <summary>Signs in as the given user (agent, supervisor, ...) and opens the agent hub with that session.</summary>
    public static async Task<AgentClient> ConnectAsAsync(ParleyServer server, string email, string password, bool messagePack = false)
    {
        var (http, cookies) = await SignInAsync(server, email, password);
        var hub = HubFactory.Build(server.BaseAddress, "/hubs/agent", messagePack, o => o.Cookies = cookies);
        var client = new AgentClient(http, hub);
        await hub.StartAsync(TestContext.Current.CancellationToken);
        return client;
    }

    public Task<ReplayDto> JoinAsync(Guid conversationId, long afterSeq = 0) =>
        Hub.InvokeAsync<ReplayDto>("Join", new ResumeRequest { ConversationId = conversationId.ToString(), AfterSeq = afterSeq });

    public Task<SendAck> SendAsync(Guid conversationId, string body, Guid? clientId = null, bool note = false) =>
        Hub.InvokeAsync<SendAck>("Send", new SendRequest { ConversationId = conversationId.ToString(), ClientId = (clientId ?? Guid.NewGuid()).ToString(), Body = body, Note = note });

    public async ValueTask DisposeAsync()
    {
        await Hub.DisposeAsync();
        Http.Dispose();
    }
}
