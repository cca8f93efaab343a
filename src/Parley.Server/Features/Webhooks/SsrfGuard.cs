using System.Net;
using System.Net.Sockets;

namespace Parley.Server.Features.Webhooks;

/// <summary>Thrown when an outbound request would reach an address the SSRF guard refuses.</summary>
public sealed class TargetForbiddenException(string message) : Exception(message);

/// <summary>
/// Server-side request forgery guard for requests whose URL an admin or integrator chose. Host names are
/// resolved here and the connection is made to the checked address itself (see <see cref="ConnectAsync"/>),
/// so a DNS answer cannot change between the check and the connect (rebinding).
/// </summary>
public static class SsrfGuard
{
    private static readonly (IPAddress Network, int Prefix)[] ForbiddenV4 =
    [
        (IPAddress.Parse("0.0.0.0"), 8),        // "this" network
        (IPAddress.Parse("10.0.0.0"), 8),       // private
        (IPAddress.Parse("100.64.0.0"), 10),    // carrier-grade NAT
        (IPAddress.Parse("127.0.0.0"), 8),      // loopback
        (IPAddress.Parse("169.254.0.0"), 16),   // link-local, cloud metadata (169.254.169.254)
        (IPAddress.Parse("172.16.0.0"), 12),    // private
        (IPAddress.Parse("192.0.0.0"), 24),     // IETF protocol assignments
        (IPAddress.Parse("192.168.0.0"), 16),   // private
        (IPAddress.Parse("198.18.0.0"), 15),    // benchmarking
        (IPAddress.Parse("224.0.0.0"), 4),      // multicast
        (IPAddress.Parse("240.0.0.0"), 4),      // reserved, broadcast
    ];

    private static readonly (IPAddress Network, int Prefix)[] ForbiddenV6 =
    [
        (IPAddress.Parse("::"), 128),           // unspecified
        (IPAddress.Parse("::1"), 128),          // loopback
        (IPAddress.Parse("fc00::"), 7),         // unique local (includes fd00:ec2::254 metadata)
        (IPAddress.Parse("fe80::"), 10),        // link-local
        (IPAddress.Parse("ff00::"), 8),         // multicast
        (IPAddress.Parse("64:ff9b::"), 96),     // NAT64 can reach private IPv4
    ];

    /// <summary>
    /// Refused even where the operator allows private targets: link-local (cloud metadata at 169.254.169.254 and
    /// fe80::), Alibaba Cloud's metadata 100.100.100.200 and AWS's IPv6 metadata fd00:ec2::254. No webhook or
    /// adapter has a reason to call them, and they hand out the host's credentials.
    /// </summary>
    private static readonly (IPAddress Network, int Prefix)[] AlwaysForbidden =
    [
        (IPAddress.Parse("169.254.0.0"), 16),
        (IPAddress.Parse("100.100.100.200"), 32),
        (IPAddress.Parse("fe80::"), 10),
        (IPAddress.Parse("fd00:ec2::254"), 128),
    ];

    /// <summary>Set on a request sent through a permissive handler when its connection went to a private address.</summary>
    public static readonly HttpRequestOptionsKey<bool> ConnectedToPrivate = new("parley.ssrf.private");

    /// <summary>Whether <paramref name="address"/> is a link-local or metadata address, refused whatever the settings.</summary>
    public static bool IsAlwaysForbidden(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        foreach (var (network, prefix) in AlwaysForbidden)
        {
            if (network.AddressFamily == address.AddressFamily && new IPNetwork(network, prefix).Contains(address))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Whether connecting to <paramref name="address"/> is refused unless private targets are allowed.</summary>
    public static bool IsForbidden(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        var ranges = address.AddressFamily == AddressFamily.InterNetwork ? ForbiddenV4 : ForbiddenV6;
        foreach (var (network, prefix) in ranges)
        {
            if (new IPNetwork(network, prefix).Contains(address))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Resolves <paramref name="host"/> and returns its addresses, refusing forbidden ones unless allowed.</summary>
    public static async Task<IPAddress[]> ResolveAsync(string host, bool allowPrivate, CancellationToken cancellationToken)
    {
        var addresses = IPAddress.TryParse(host.Trim('[', ']'), out var literal)
            ? [literal]
            : await Dns.GetHostAddressesAsync(host, cancellationToken);
        if (addresses.Length == 0)
        {
            throw new TargetForbiddenException($"'{host}' does not resolve.");
        }

        if (addresses.FirstOrDefault(IsAlwaysForbidden) is { } metadata)
        {
            throw new TargetForbiddenException($"'{host}' resolves to {metadata}, a link-local or cloud metadata address (always refused).");
        }

        if (!allowPrivate && addresses.FirstOrDefault(IsForbidden) is { } forbidden)
        {
            // One forbidden answer is enough to refuse: a host must not mix public and internal addresses.
            throw new TargetForbiddenException($"'{host}' resolves to {forbidden}, a loopback, private, link-local or reserved address.");
        }

        return addresses;
    }

    /// <summary>A <see cref="SocketsHttpHandler.ConnectCallback"/> that connects only to checked addresses.</summary>
    public static Func<SocketsHttpConnectionContext, CancellationToken, ValueTask<Stream>> ConnectCallback(bool allowPrivate) => async (context, cancellationToken) =>
    {
        var addresses = await ResolveAsync(context.DnsEndPoint.Host, allowPrivate, cancellationToken);
        var (stream, address) = await ConnectAsync(addresses, context.DnsEndPoint.Port, cancellationToken);
        if (IsForbidden(address))
        {
            // The caller must not show what an internal service answered (the delivery log would be a full-read SSRF).
            context.InitialRequestMessage.Options.Set(ConnectedToPrivate, true);
        }

        return stream;
    };

    private static async ValueTask<(Stream Stream, IPAddress Address)> ConnectAsync(IPAddress[] addresses, int port, CancellationToken cancellationToken)
    {
        Exception? last = null;
        foreach (var address in addresses)
        {
            var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                await socket.ConnectAsync(new IPEndPoint(address, port), cancellationToken);
                return (new NetworkStream(socket, ownsSocket: true), address);
            }
            catch (SocketException ex)
            {
                socket.Dispose();
                last = ex;
            }
        }

        throw new HttpRequestException($"Could not connect to any address of the target: {last?.Message}", last);
    }

    /// <summary>An HTTP handler for admin-chosen URLs: guarded connects, no redirects (a redirect could point inside), no proxy.</summary>
    /// <remarks>
    /// With private targets allowed, connections are not pooled: <see cref="ConnectedToPrivate"/> is set when a
    /// connection opens, so every request must open its own for the mark to describe it.
    /// </remarks>
    public static SocketsHttpHandler CreateHandler(bool allowPrivate) => new()
    {
        ConnectCallback = ConnectCallback(allowPrivate),
        AllowAutoRedirect = false,
        UseProxy = false,
        UseCookies = false,
        PooledConnectionLifetime = allowPrivate ? TimeSpan.Zero : TimeSpan.FromMinutes(2),
        ConnectTimeout = TimeSpan.FromSeconds(10),
    };
}
