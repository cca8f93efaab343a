using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace Parley.LoadTest;

/// <summary>The server under test: REST calls for sessions and sign-in, and hub connections spread over source addresses.</summary>
internal sealed class Target : IDisposable
{
    private readonly HttpMessageInvoker[] _invokers;
    private readonly HttpClient _http;
    private int _next;

    public Target(Options options)
    {
        BaseUrl = options.BaseUrl;
        SiteKey = options.SiteKey;
        Sources = options.Sources;
        _invokers = Sources.Select(HubClient.CreateInvoker).ToArray();
        _http = new HttpClient(new SocketsHttpHandler { UseCookies = false, MaxConnectionsPerServer = 64 }) { BaseAddress = BaseUrl, Timeout = TimeSpan.FromSeconds(60) };
    }

    public Uri BaseUrl { get; }

    public string SiteKey { get; }

    public IPAddress[] Sources { get; }

    public Uri VisitorHub(string token) => new UriBuilder(BaseUrl) { Scheme = "ws", Path = "/hubs/visitor", Query = "access_token=" + Uri.EscapeDataString(token) }.Uri;

    public Uri AgentHub => new UriBuilder(BaseUrl) { Scheme = "ws", Path = "/hubs/agent" }.Uri;

    /// <summary>The next source address's invoker (round robin).</summary>
    public HttpMessageInvoker NextInvoker() => _invokers[(int)((uint)Interlocked.Increment(ref _next) % (uint)_invokers.Length)];

    public HttpMessageInvoker InvokerFor(int index) => _invokers[index % _invokers.Length];

    public async Task<string> CreateVisitorAsync(CancellationToken cancellationToken)
    {
        using var response = await _http.PostAsJsonAsync("/api/v1/widget/session", new { siteKey = SiteKey }, cancellationToken);
        response.EnsureSuccessStatusCode();
        using var doc = await JsonDocument.ParseAsync(await response.Content.ReadAsStreamAsync(cancellationToken), cancellationToken: cancellationToken);
        return doc.RootElement.GetProperty("visitorToken").GetString()!;
    }

    /// <summary>Creates <paramref name="count"/> visitor tokens with bounded parallelism.</summary>
    public async Task<string[]> CreateVisitorsAsync(int count, CancellationToken cancellationToken)
    {
        var tokens = new string[count];
        await Parallel.ForAsync(0, count, new ParallelOptions { MaxDegreeOfParallelism = 32, CancellationToken = cancellationToken }, async (i, ct) =>
            tokens[i] = await CreateVisitorAsync(ct));
        return tokens;
    }

    /// <summary>Signs in and returns the <c>parley.session=...</c> cookie pair for the agent hub.</summary>
    public async Task<string> LoginAsync(string email, string password, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/auth/login") { Content = JsonContent.Create(new { email, password }) };
        request.Headers.Add("X-Parley-Csrf", "1");
        using var response = await _http.SendAsync(request, cancellationToken);
        response.EnsureSuccessStatusCode();
        foreach (var header in response.Headers.GetValues("Set-Cookie"))
        {
            if (header.StartsWith("parley.session=", StringComparison.Ordinal))
            {
                return header.Split(';')[0];
            }
        }

        throw new InvalidOperationException("login returned no parley.session cookie");
    }

    /// <summary>GET /health/ready: true when the server reports Healthy (not Degraded, e.g. by its load governor).</summary>
    public async Task<bool> IsHealthyAsync(CancellationToken cancellationToken)
    {
        try
        {
            using var response = await _http.GetAsync("/health/ready", cancellationToken);
            var body = await response.Content.ReadAsStringAsync(cancellationToken);
            return response.IsSuccessStatusCode && body.Contains("Healthy", StringComparison.Ordinal) && !body.Contains("Degraded", StringComparison.Ordinal);
        }
        catch (HttpRequestException)
        {
            return false;
        }
    }

    public Task<HubClient> ConnectVisitorAsync(string token, string name, InvocationHandler? handler, CancellationToken cancellationToken, HttpMessageInvoker? invoker = null) =>
        HubClient.ConnectAsync(VisitorHub(token), invoker ?? NextInvoker(), null, name, handler, cancellationToken);

    public Task<HubClient> ConnectAgentAsync(string cookie, string name, InvocationHandler? handler, CancellationToken cancellationToken) =>
        HubClient.ConnectAsync(AgentHub, NextInvoker(), cookie, name, handler, cancellationToken);

    public void Dispose()
    {
        foreach (var invoker in _invokers)
        {
            invoker.Dispose();
        }

        _http.Dispose();
    }
}
