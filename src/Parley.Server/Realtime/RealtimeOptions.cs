using System.ComponentModel.DataAnnotations;

namespace Parley.Server.Realtime;

public sealed class RealtimeOptions
{
    public const string Section = "Parley:Realtime";

    /// <summary>
    /// Events a connection may have waiting to be written before it can be treated as too slow: above this, a
    /// connection whose socket has not drained for <see cref="SlowConsumerSeconds"/> is closed (it resumes by replay).
    /// </summary>
    [Range(16, 1_000_000)]
    public int OutboundQueueLimit { get; set; } = 1024;

    /// <summary>
    /// How long a write may wait for the client's socket to drain, with more than <see cref="OutboundQueueLimit"/>
    /// events queued behind it, before the client counts as not reading.
    /// </summary>
    [Range(0.1, 600)]
    public double SlowConsumerSeconds { get; set; } = 10;

    /// <summary>
    /// Events waiting at which a connection is closed even though it reads (the server fell this far behind it): the
    /// memory bound of one connection's queue (the events themselves are shared between connections).
    /// </summary>
    [Range(16, 10_000_000)]
    public int OutboundQueueHardLimit { get; set; } = 16_384;

    /// <summary>Largest inbound hub frame; a larger one closes that connection.</summary>
    [Range(1024, 16 * 1024 * 1024)]
    public int MaxReceiveMessageBytes { get; set; } = 64 * 1024;

    /// <summary>
    /// Hub calls one connection may have in flight. Above 1 a client can pipeline sends (and pings keep flowing
    /// while they commit); a connection's sends still reach the writer in the order they arrived, because the
    /// hub enqueues them before its first await.
    /// </summary>
    [Range(1, 1024)]
    public int MaxParallelInvocationsPerClient { get; set; } = 16;

    /// <summary>
    /// The same for visitors' connections (the widget sends one message at a time; a client that pipelines more is
    /// read as earlier calls finish). Kept low because every call read is work done at once: when a spike of visitors
    /// each pipelines a window of sends, the server parses only this many per connection and the rest wait, unread,
    /// in the sockets, so agents' calls do not queue behind thousands of parsed visitor sends (docs/operations.md,
    /// Overload).
    /// </summary>
    [Range(1, 1024)]
    public int VisitorMaxParallelInvocationsPerClient { get; set; } = 4;

    /// <summary>
    /// The browsers' side of the keep-alive contract (web/packages/shared/src/hub.ts, <c>KEEP_ALIVE_MS</c> and
    /// <c>SERVER_TIMEOUT_MS</c>; KeepAliveContractTests fails on drift): a widget or console pings after this long
    /// without sending anything, and gives the server up after <see cref="ClientServerTimeoutSeconds"/> of silence.
    /// </summary>
    public const int ClientKeepAliveSeconds = 30;

    /// <inheritdoc cref="ClientKeepAliveSeconds"/>
    public const int ClientServerTimeoutSeconds = 60;

    /// <summary>
    /// The server pings a connection it has written nothing to for this long. At most half the clients' server timeout
    /// (<see cref="ClientServerTimeoutSeconds"/>), so one late ping never costs a reconnect. Every ping is a socket
    /// write: with 15 s an idle server with 5,000 connections spent 5.6 % of a core, with 30 s 3.9 % (docs/benchmarks.md).
    /// </summary>
    [Range(1, ClientServerTimeoutSeconds / 2)]
    public int KeepAliveSeconds { get; set; } = 30;

    /// <summary>
    /// A connection that sent nothing (not even a ping) for this long is closed: at least twice the clients' keep-alive
    /// (<see cref="ClientKeepAliveSeconds"/>). It is also how long an agent whose browser vanished without closing its
    /// socket (a lost network, a killed laptop) still counts as connected.
    /// </summary>
    [Range(2 * ClientKeepAliveSeconds, 600)]
    public int ClientTimeoutSeconds { get; set; } = 60;
}
