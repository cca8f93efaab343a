using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Protocol;
using Microsoft.Extensions.Options;
using Parley.Server.Infrastructure;

namespace Parley.Server.Realtime;

/// <summary>
/// Wraps SignalR's lifetime manager (in-memory, or Redis when scaled out) to register every connection with
/// its bounded outbound queue in <see cref="ConnectionRegistry"/>. Everything else is delegated unchanged.
/// </summary>
internal sealed class TrackingHubLifetimeManager<THub>(
    HubLifetimeManager<THub> inner,
    ConnectionRegistry registry,
    IOptions<RealtimeOptions> options,
    Features.Metrics.ParleyMetrics metrics,
    TimeProvider time,
    ILogger<ClientConnection> logger) : HubLifetimeManager<THub>
    where THub : Hub
{
    private readonly Audience _audience = typeof(THub) == typeof(AgentHub) ? Audience.Agent : Audience.Visitor;

    public override async Task OnConnectedAsync(HubConnectionContext connection)
    {
        var user = connection.User;
        var id = _audience == Audience.Agent ? user.UserId() : user.VisitorContactId();
        var site = user.VisitorSiteId() ?? Guid.Empty;
        var name = _audience == Audience.Agent ? user.FindFirst(System.Security.Claims.ClaimTypes.Name)?.Value : null;
        var client = new ClientConnection(connection, _audience, id ?? Guid.Empty, site, OutboundLimits.From(options.Value), time, logger, metrics.SlowConsumerDisconnected)
        {
            DisplayName = name,
            Actor = id is not { } principal ? null : _audience == Audience.Agent ? Actor.Agent(principal, name) : Actor.Visitor(principal, site),
        };

        // The hubs and their filters find the connection's state here (ClientConnection.Of) before any invocation:
        // SignalR calls the lifetime manager before the hub's OnConnectedAsync.
        connection.Features.Set(client);
        registry.Add(client);
        await inner.OnConnectedAsync(connection);
    }

    public override async Task OnDisconnectedAsync(HubConnectionContext connection)
    {
        registry.Remove(connection.ConnectionId);
        await inner.OnDisconnectedAsync(connection);
    }

    public override Task SendAllAsync(string methodName, object?[] args, CancellationToken cancellationToken = default) =>
        inner.SendAllAsync(methodName, args, cancellationToken);

    public override Task SendAllExceptAsync(string methodName, object?[] args, IReadOnlyList<string> excludedConnectionIds, CancellationToken cancellationToken = default) =>
        inner.SendAllExceptAsync(methodName, args, excludedConnectionIds, cancellationToken);

    public override Task SendConnectionAsync(string connectionId, string methodName, object?[] args, CancellationToken cancellationToken = default) =>
        inner.SendConnectionAsync(connectionId, methodName, args, cancellationToken);

    public override Task SendConnectionsAsync(IReadOnlyList<string> connectionIds, string methodName, object?[] args, CancellationToken cancellationToken = default) =>
        inner.SendConnectionsAsync(connectionIds, methodName, args, cancellationToken);

    public override Task SendGroupAsync(string groupName, string methodName, object?[] args, CancellationToken cancellationToken = default) =>
        inner.SendGroupAsync(groupName, methodName, args, cancellationToken);

    public override Task SendGroupsAsync(IReadOnlyList<string> groupNames, string methodName, object?[] args, CancellationToken cancellationToken = default) =>
        inner.SendGroupsAsync(groupNames, methodName, args, cancellationToken);

    public override Task SendGroupExceptAsync(string groupName, string methodName, object?[] args, IReadOnlyList<string> excludedConnectionIds, CancellationToken cancellationToken = default) =>
        inner.SendGroupExceptAsync(groupName, methodName, args, excludedConnectionIds, cancellationToken);

    public override Task SendUserAsync(string userId, string methodName, object?[] args, CancellationToken cancellationToken = default) =>
        inner.SendUserAsync(userId, methodName, args, cancellationToken);

    public override Task SendUsersAsync(IReadOnlyList<string> userIds, string methodName, object?[] args, CancellationToken cancellationToken = default) =>
        inner.SendUsersAsync(userIds, methodName, args, cancellationToken);

    public override Task AddToGroupAsync(string connectionId, string groupName, CancellationToken cancellationToken = default) =>
        inner.AddToGroupAsync(connectionId, groupName, cancellationToken);

    public override Task RemoveFromGroupAsync(string connectionId, string groupName, CancellationToken cancellationToken = default) =>
        inner.RemoveFromGroupAsync(connectionId, groupName, cancellationToken);

    public override Task<T> InvokeConnectionAsync<T>(string connectionId, string methodName, object?[] args, CancellationToken cancellationToken) =>
        inner.InvokeConnectionAsync<T>(connectionId, methodName, args, cancellationToken);

    public override Task SetConnectionResultAsync(string connectionId, CompletionMessage result) =>
        inner.SetConnectionResultAsync(connectionId, result);

    public override bool TryGetReturnType(string invocationId, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out Type? type) =>
        inner.TryGetReturnType(invocationId, out type);
}
