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
        return await ConnectAsync(addresses, context.DnsEndPoint.Port, cancellationToken);
    };

    private static async ValueTask<Stream> ConnectAsync(IPAddress[] addresses, int port, CancellationToken cancellationToken)
    {
        Exception? last = null;
        foreach (var address in addresses)
        {
            var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                await socket.ConnectAsync(new IPEndPoint(address, port), cancellationToken);
                return new NetworkStream(socket, ownsSocket: true);
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
    public static SocketsHttpHandler CreateHandler(bool allowPrivate) => new()
    {
        ConnectCallback = ConnectCallback(allowPrivate),
        AllowAutoRedirect = false,
        UseProxy = false,
        UseCookies = false,
        PooledConnectionLifetime = TimeSpan.FromMinutes(2),
        ConnectTimeout = TimeSpan.FromSeconds(10),
    };
}
