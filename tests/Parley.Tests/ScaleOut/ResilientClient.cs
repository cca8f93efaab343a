using System.Net;
using System.Net.Http.Json;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Client;
using Parley.Server.Features.Widget;
using Parley.Server.Messaging;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.ScaleOut;

/// <summary>
/// A client that follows docs/protocol.md exactly as the web clients do: it applies pushed messages strictly in
/// seq order (ignoring what it has, buffering ahead of a gap and resuming to fill it), and when its node goes
/// away it connects to another one, resumes every conversation from its last seq, and retries unacknowledged
/// sends with the same client id. What it applied is what a user would see.
/// </summary>
public sealed class ResilientClient : IAsyncDisposable
{
    private readonly TestCluster _cluster;
    private readonly bool _visitor;
    private readonly string? _token;
    private readonly CookieContainer? _cookies;
    private readonly SemaphoreSlim _connectGate = new(1, 1);
    private readonly Lock _gate = new();
    private readonly Dictionary<Guid, ConversationLog> _logs = [];
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private HubConnection? _hub;
    private volatile bool _disposed;
    private readonly List<Action<HubConnection>> _handlers = [];

    private ResilientClient(TestCluster cluster, bool visitor, string? token, CookieContainer? cookies)
    {
        _cluster = cluster;
        _visitor = visitor;
        _token = token;
        _cookies = cookies;
    }

    public NodeProcess? Node { get; private set; }

    public int Reconnects { get; private set; }

    /// <summary>Pushed messages whose seq the client already had (dropped by the seq rule).</summary>
    public int RepeatedPushes { get; private set; }

    public static async Task<ResilientClient> VisitorAsync(TestCluster cluster, NodeProcess node)
    {
        using var http = new HttpClient { BaseAddress = node.BaseAddress };
        var response = await http.PostAsJsonAsync("/api/v1/widget/session", new { siteKey = ParleyServer.SiteKey });
        response.EnsureSuccessStatusCode();
        var session = (await response.Content.ReadFromJsonAsync<WidgetSessionResponse>())!;
        var client = new ResilientClient(cluster, visitor: true, session.VisitorToken, null);
        await client.ConnectToAsync(node);
        return client;
    }

    /// <summary>A second connection of the same visitor (another tab), to <paramref name="node"/>.</summary>
    public static async Task<ResilientClient> SameVisitorAsync(ResilientClient visitor, NodeProcess node)
    {
        var client = new ResilientClient(visitor._cluster, visitor: true, visitor._token, null);
        await client.ConnectToAsync(node);
        return client;
    }

    public static async Task<ResilientClient> AgentAsync(TestCluster cluster, NodeProcess node)
    {
        var cookies = new CookieContainer();
        using (var http = new HttpClient(new HttpClientHandler { CookieContainer = cookies }) { BaseAddress = node.BaseAddress })
        {
            http.DefaultRequestHeaders.Add("X-Parley-Csrf", "1");
            var response = await http.PostAsJsonAsync("/api/v1/auth/login", new { email = ParleyServer.AdminEmail, password = ParleyServer.AdminPassword });
            response.EnsureSuccessStatusCode();
        }

        var client = new ResilientClient(cluster, visitor: false, null, cookies);
        await client.ConnectToAsync(node);
        return client;
    }

    public async Task<Guid> StartConversationAsync()
    {
        var info = await WithRetryAsync(hub => hub.InvokeAsync<ConversationInfo>("StartConversation"));
        lock (_gate)
        {
            _logs.TryAdd(info.Id, new ConversationLog());
        }

        return info.Id;
    }

    /// <summary>Join (agent) or resume (visitor) a conversation from the start and follow it.</summary>
    public async Task FollowAsync(Guid conversationId)
    {
        lock (_gate)
        {
            _logs.TryAdd(conversationId, new ConversationLog());
        }

        await ResumeAsync(conversationId);
    }

    /// <summary>Handles a hub event on this and every later connection.</summary>
    public void On<T>(string target, Action<T> handler)
    {
        _handlers.Add(hub => hub.On(target, handler));
        if (_hub is { } hub)
        {
            hub.On(target, handler);
        }
    }

    /// <summary>Calls a hub method that returns nothing, retrying on another node if need be.</summary>
    public Task InvokeAsync(string method, object argument) =>
        WithRetryAsync(async hub =>
        {
            await hub.InvokeAsync(method, argument);
            return true;
        });

    /// <summary>Calls a hub method without arguments and returns its answer, retrying on another node if need be.</summary>
    public Task<T> InvokeAsync<T>(string method) => WithRetryAsync(hub => hub.InvokeAsync<T>(method));

    /// <summary>Sends until acknowledged, reconnecting (to another node if need be) and retrying with the same client id.</summary>
    public Task<SendAck> SendAsync(Guid conversationId, string body, Guid clientId) =>
        WithRetryAsync(hub => hub.InvokeAsync<SendAck>("Send", new SendRequest { ConversationId = conversationId.ToString(), ClientId = clientId.ToString(), Body = body }));

    public IReadOnlyList<MessageDto> Applied(Guid conversationId)
    {
        lock (_gate)
        {
            return _logs.TryGetValue(conversationId, out var log) ? [.. log.Applied] : [];
        }
    }

    /// <summary>Waits (bounded) until the client has applied every one of <paramref name="clientIds"/> in the conversation.</summary>
    public async Task WaitForAsync(Guid conversationId, IReadOnlyCollection<Guid> clientIds, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        while (true)
        {
            Task changed;
            lock (_gate)
            {
                var have = _logs[conversationId].Applied.Select(m => m.ClientId).ToHashSet();
                if (clientIds.All(have.Contains))
                {
                    return;
                }

                changed = _changed.Task;
            }

            try
            {
                await changed.WaitAsync(cts.Token);
            }
            catch (OperationCanceledException)
            {
                var have = Applied(conversationId).Select(m => m.ClientId).ToHashSet();
                throw new TimeoutException($"{(_visitor ? "visitor" : "agent")} on {Node?.Name}: {clientIds.Count(have.Contains)}/{clientIds.Count} messages applied after {timeout}.");
            }
        }
    }

    private async Task<T> WithRetryAsync<T>(Func<HubConnection, Task<T>> call)
    {
        for (var attempt = 0; ; attempt++)
        {
            var hub = await EnsureConnectedAsync();
            try
            {
                return await call(hub);
            }
            catch (Exception ex) when (attempt < 50 && IsTransient(ex, hub))
            {
                // The node went away (killed or draining) or said "unavailable": reconnect and repeat.
                await Task.Yield();
            }
        }
    }

    /// <summary>Anything but an application error: a broken connection, a refused connect, or "unavailable: ...".</summary>
    private static bool IsTransient(Exception ex, HubConnection hub) =>
        hub.State != HubConnectionState.Connected
        || ex is not HubException
        || ex.Message.Contains("unavailable:", StringComparison.Ordinal);

    private async Task<HubConnection> EnsureConnectedAsync()
    {
        await _connectGate.WaitAsync();
        try
        {
            if (_hub is { State: HubConnectionState.Connected } hub)
            {
                return hub;
            }

            for (var attempt = 0; attempt < 100; attempt++)
            {
                var node = _cluster.NextNode(Node);
                try
                {
                    await ConnectCoreAsync(node);
                    Reconnects++;
                    break;
                }
                catch (Exception ex) when (ex is HttpRequestException or IOException or System.Net.WebSockets.WebSocketException or InvalidOperationException or TimeoutException)
                {
                    await Task.Delay(100);
                }
            }

            foreach (var conversationId in Followed())
            {
                await ResumeCoreAsync(_hub!, conversationId);
            }

            return _hub!;
        }
        finally
        {
            _connectGate.Release();
        }
    }

    private async Task ConnectToAsync(NodeProcess node)
    {
        await _connectGate.WaitAsync();
        try
        {
            await ConnectCoreAsync(node);
        }
        finally
        {
            _connectGate.Release();
        }
    }

    private async Task ConnectCoreAsync(NodeProcess node)
    {
        if (_hub is not null)
        {
            await _hub.DisposeAsync();
            _hub = null;
        }

        var hub = HubFactory.Build(node.BaseAddress, _visitor ? "/hubs/visitor" : "/hubs/agent", messagePack: true, o =>
        {
            if (_visitor)
            {
                o.AccessTokenProvider = () => Task.FromResult(_token);
            }
            else
            {
                o.Cookies = _cookies!;
            }
        });
        hub.On<MessageDto>("message", m => OnPushed(hub, m));
        foreach (var register in _handlers)
        {
            register(hub);
        }

        // Like the web clients' automatic reconnect: a closed connection (node killed or draining) is replaced at once.
        hub.Closed += error =>
        {
            if (!_disposed)
            {
                _ = Task.Run(ReconnectInBackgroundAsync);
            }

            return Task.CompletedTask;
        };
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try
        {
            await hub.StartAsync(cts.Token);
        }
        catch
        {
            await hub.DisposeAsync();
            throw;
        }

        _hub = hub;
        Node = node;
    }

    private List<Guid> Followed()
    {
        lock (_gate)
        {
            return [.. _logs.Keys];
        }
    }

    private async Task ResumeAsync(Guid conversationId)
    {
        try
        {
            var hub = await EnsureConnectedAsync();
            await ResumeCoreAsync(hub, conversationId);
        }
        catch (Exception ex) when (ex is not TimeoutException)
        {
            // The connection broke meanwhile; the reconnect resumes every conversation anyway.
        }
    }

    private async Task ResumeCoreAsync(HubConnection hub, Guid conversationId)
    {
        long after;
        lock (_gate)
        {
            after = _logs[conversationId].LastSeq;
        }

        var replay = await hub.InvokeAsync<ReplayDto>(_visitor ? "Resume" : "Join", new ResumeRequest { ConversationId = conversationId.ToString(), AfterSeq = after });
        Assert.False(replay.Truncated, "replay truncated: more than the replay limit missed");
        foreach (var message in replay.Messages)
        {
            Apply(hub, message, fromReplay: true);
        }
    }

    private void OnPushed(HubConnection hub, MessageDto message) => Apply(hub, message, fromReplay: false);

    private void Apply(HubConnection hub, MessageDto message, bool fromReplay)
    {
        var conversationId = message.ConversationId;
        var gap = false;
        TaskCompletionSource changed;
        lock (_gate)
        {
            if (!_logs.TryGetValue(conversationId, out var log))
            {
                return;
            }

            log.Check(message);
            if (message.Seq <= log.LastSeq)
            {
                RepeatedPushes += fromReplay ? 0 : 1;
                return;
            }

            if (message.Seq == log.LastSeq + 1)
            {
                log.Append(message);
            }
            else
            {
                log.Ahead[message.Seq] = message;
                gap = !log.ResumePending;
                log.ResumePending = true;
            }

            changed = _changed;
            _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        changed.TrySetResult();
        if (gap)
        {
            _ = Task.Run(async () =>
            {
                await ResumeAsync(conversationId);
                lock (_gate)
                {
                    _logs[conversationId].ResumePending = false;
                }
            });
        }
    }

    private async Task ReconnectInBackgroundAsync()
    {
        try
        {
            await EnsureConnectedAsync();
        }
        catch (Exception) when (_disposed)
        {
            // Test over.
        }
    }

    public async ValueTask DisposeAsync()
    {
        _disposed = true;
        if (_hub is not null)
        {
            await _hub.DisposeAsync();
        }
    }

    /// <summary>What a client shows for one conversation: applied messages, contiguous by seq.</summary>
    private sealed class ConversationLog
    {
        private readonly Dictionary<long, Guid> _seen = [];

        public List<MessageDto> Applied { get; } = [];

        public SortedDictionary<long, MessageDto> Ahead { get; } = [];

        public long LastSeq { get; private set; }

        public bool ResumePending { get; set; }

        public void Append(MessageDto message)
        {
            Applied.Add(message);
            LastSeq = message.Seq;
            while (Ahead.Remove(LastSeq + 1, out var next))
            {
                Applied.Add(next);
                LastSeq = next.Seq;
            }

            foreach (var stale in Ahead.Keys.Where(k => k <= LastSeq).ToList())
            {
                Ahead.Remove(stale);
            }
        }

        /// <summary>One seq must always carry the same message, however often it is pushed or replayed.</summary>
        public void Check(MessageDto message)
        {
            if (_seen.TryGetValue(message.Seq, out var clientId))
            {
                Assert.True(clientId == message.ClientId, $"seq {message.Seq} delivered as {clientId} and as {message.ClientId}");
            }
            else
            {
                _seen[message.Seq] = message.ClientId;
            }
        }
    }
}
