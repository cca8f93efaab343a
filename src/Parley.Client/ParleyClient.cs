using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Runtime.CompilerServices;
using System.Text.Json;
using Grpc.Core;
using Grpc.Net.Client;
using Parley.Grpc;

namespace Parley.Client;

/// <summary>
/// Client for Parley's REST API and gRPC event stream. One instance holds one REST <see cref="HttpClient"/> and
/// one <see cref="GrpcChannel"/> (each with its own pooled connections); create it once and reuse it (it is
/// thread-safe). Safe calls are retried with exponential backoff and jitter:
/// GETs, POSTs carrying an idempotency key (the client adds one per call) and message sends (idempotent by
/// client id).
/// </summary>
public sealed class ParleyClient : IDisposable
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);
    private readonly ParleyClientOptions _options;
    private readonly HttpMessageHandler _handler;
    private readonly HttpClient _http;
    private readonly GrpcChannel _channel;

    /// <summary>Creates a client.</summary>
    /// <param name="options">Server address, key and retry policy.</param>
    public ParleyClient(ParleyClientOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options;
        _handler = new SocketsHttpHandler
        {
            PooledConnectionLifetime = TimeSpan.FromMinutes(5),
            EnableMultipleHttp2Connections = true,
            KeepAlivePingDelay = TimeSpan.FromSeconds(30),
            KeepAlivePingTimeout = TimeSpan.FromSeconds(10),
        };
        _http = new HttpClient(_handler, disposeHandler: false) { BaseAddress = options.BaseAddress, Timeout = options.RequestTimeout };
        _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", options.ApiToken);
        var grpcAddress = options.GrpcAddress ?? options.BaseAddress;
        var credentials = CallCredentials.FromInterceptor((_, metadata) =>
        {
            metadata.Add("authorization", "Bearer " + options.ApiToken);
            return Task.CompletedTask;
        });
        _channel = GrpcChannel.ForAddress(grpcAddress, new GrpcChannelOptions
        {
            // The channel keeps its own handler: given ours it installs a load-balancing connect callback that
            // breaks plain REST requests on the same pool. Both still live (and are disposed) with this client.
            DisposeHttpClient = true,
            Credentials = ChannelCredentials.Create(grpcAddress.Scheme == Uri.UriSchemeHttps ? ChannelCredentials.SecureSsl : ChannelCredentials.Insecure, credentials),
            UnsafeUseInsecureChannelCallCredentials = grpcAddress.Scheme != Uri.UriSchemeHttps,
        });
        Grpc = new ParleyService.ParleyServiceClient(_channel);
    }

    /// <summary>The generated gRPC client on the shared channel, for calls this wrapper does not cover.</summary>
    public ParleyService.ParleyServiceClient Grpc { get; }

    /// <summary>Records a business event on a contact's timeline (REST). Retries are safe: one idempotency key per call.</summary>
    /// <param name="businessEvent">The event.</param>
    /// <param name="idempotencyKey">Your own key (e.g. your event id) to make retries across processes safe too.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The stored event.</returns>
    public Task<BusinessEventReply> PublishEventAsync(BusinessEvent businessEvent, string? idempotencyKey = null, CancellationToken cancellationToken = default)
    {
        var key = idempotencyKey ?? Guid.NewGuid().ToString("N");
        return SendAsync<BusinessEventReply>(() =>
        {
            var request = new HttpRequestMessage(HttpMethod.Post, "api/v1/events") { Content = JsonContent.Create(businessEvent, options: Json) };
            request.Headers.Add("Idempotency-Key", key);
            return request;
        }, cancellationToken);
    }

    /// <summary>Sends a message into a conversation (REST). Retried safely: the client id makes it idempotent.</summary>
    /// <param name="conversationId">The conversation.</param>
    /// <param name="body">Text of the message.</param>
    /// <param name="note">Store as an internal note agents see and visitors do not.</param>
    /// <param name="clientId">Your id for the message; generated when omitted.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The acknowledgement with id and sequence number.</returns>
    public Task<SendAck> SendMessageAsync(Guid conversationId, string body, bool note = false, Guid? clientId = null, CancellationToken cancellationToken = default)
    {
        var id = clientId ?? Guid.NewGuid();
        return SendAsync<SendAck>(
            () => new HttpRequestMessage(HttpMethod.Post, $"api/v1/conversations/{conversationId}/messages") { Content = JsonContent.Create(new { clientId = id, body, note }, options: Json) },
            cancellationToken);
    }

    /// <summary>
    /// Sends an automated reply as a bot (REST): visitors see <paramref name="botName"/> and a bot marker instead of an
    /// agent. Needs the same right as replying. Retried safely: the client id makes it idempotent.
    /// </summary>
    /// <param name="conversationId">The conversation.</param>
    /// <param name="body">Text of the message.</param>
    /// <param name="botName">The name visitors see (at most 100 characters); "Bot" when null or empty.</param>
    /// <param name="clientId">Your id for the message; generated when omitted.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The acknowledgement with id and sequence number.</returns>
    public Task<SendAck> SendBotMessageAsync(Guid conversationId, string body, string? botName = null, Guid? clientId = null, CancellationToken cancellationToken = default)
    {
        var id = clientId ?? Guid.NewGuid();
        return SendAsync<SendAck>(
            () => new HttpRequestMessage(HttpMethod.Post, $"api/v1/conversations/{conversationId}/messages") { Content = JsonContent.Create(new { clientId = id, body, asBot = true, botName }, options: Json) },
            cancellationToken);
    }

    /// <summary>One contact with its attributes.</summary>
    /// <param name="contactId">Contact id.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The contact.</returns>
    public Task<Contact> GetContactAsync(Guid contactId, CancellationToken cancellationToken = default) =>
        SendAsync<Contact>(() => new HttpRequestMessage(HttpMethod.Get, $"api/v1/contacts/{contactId}"), cancellationToken);

    /// <summary>Finds contacts by your customer id or e-mail, one page at a time.</summary>
    /// <param name="externalId">Filter by external id.</param>
    /// <param name="email">Filter by e-mail.</param>
    /// <param name="cursor">The previous page's <see cref="Page{T}.NextCursor"/>.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>A page of contacts.</returns>
    public Task<Page<Contact>> ListContactsAsync(string? externalId = null, string? email = null, string? cursor = null, CancellationToken cancellationToken = default)
    {
        var query = new List<string>();
        if (externalId is not null)
        {
            query.Add("externalId=" + Uri.EscapeDataString(externalId));
        }

        if (email is not null)
        {
            query.Add("email=" + Uri.EscapeDataString(email));
        }

        if (cursor is not null)
        {
            query.Add("cursor=" + Uri.EscapeDataString(cursor));
        }

        var path = "api/v1/contacts" + (query.Count > 0 ? "?" + string.Join('&', query) : "");
        return SendAsync<Page<Contact>>(() => new HttpRequestMessage(HttpMethod.Get, path), cancellationToken);
    }

    /// <summary>Sets or removes (null values) custom attributes of a contact.</summary>
    /// <param name="contactId">Contact id.</param>
    /// <param name="attributes">Attributes to merge.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The updated contact.</returns>
    public Task<Contact> UpdateAttributesAsync(Guid contactId, IReadOnlyDictionary<string, object?> attributes, CancellationToken cancellationToken = default) =>
        SendAsync<Contact>(() => new HttpRequestMessage(HttpMethod.Patch, $"api/v1/contacts/{contactId}") { Content = JsonContent.Create(new { attributes }, options: Json) }, cancellationToken);

    /// <summary>
    /// Streams integration events over gRPC, starting after <paramref name="fromEventId"/>. When the stream
    /// breaks (network, server restart) it reconnects with backoff from the last event it yielded, so a consumer
    /// sees every event once and in order. Store the last id you processed to resume across process restarts.
    /// </summary>
    /// <param name="topics">"conversation", "message", "business", exact types or "*"; empty means all.</param>
    /// <param name="fromEventId">Resume point (0 = from the start of the retained log).</param>
    /// <param name="cancellationToken">Ends the stream.</param>
    /// <returns>The events.</returns>
    public async IAsyncEnumerable<ParleyEvent> SubscribeAsync(IEnumerable<string>? topics = null, long fromEventId = 0, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var request = new SubscribeRequest { FromEventId = fromEventId };
        request.Topics.AddRange(topics ?? []);
        var failures = 0;
        while (!cancellationToken.IsCancellationRequested)
        {
            using var call = Grpc.Subscribe(request, cancellationToken: cancellationToken);
            var stream = call.ResponseStream;
            while (true)
            {
                bool more;
                try
                {
                    more = await stream.MoveNext(cancellationToken).ConfigureAwait(false);
                }
                catch (RpcException ex) when (IsTransient(ex.StatusCode) && !cancellationToken.IsCancellationRequested)
                {
                    break;
                }

                if (!more)
                {
                    break;
                }

                failures = 0;
                var e = stream.Current;
                request.FromEventId = e.Id;
                yield return new ParleyEvent(
                    e.Id, e.Type, Guid.TryParse(e.ConversationId, out var c) ? c : null, Guid.TryParse(e.ContactId, out var ct) ? ct : null,
                    JsonDocument.Parse(e.DataJson).RootElement.Clone(), e.CreatedAt.ToDateTime());
            }

            await Task.Delay(Backoff(failures++), cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Disposes the channel and the shared connection pool.</summary>
    public void Dispose()
    {
        _channel.Dispose();
        _http.Dispose();
        _handler.Dispose();
    }

    private async Task<T> SendAsync<T>(Func<HttpRequestMessage> build, CancellationToken cancellationToken)
    {
        for (var attempt = 0; ; attempt++)
        {
            using var request = build();
            HttpResponseMessage response;
            try
            {
                response = await _http.SendAsync(request, cancellationToken).ConfigureAwait(false);
            }
            catch (HttpRequestException) when (attempt < _options.MaxRetries)
            {
                await Task.Delay(Backoff(attempt), cancellationToken).ConfigureAwait(false);
                continue;
            }

            using (response)
            {
                if (response.IsSuccessStatusCode)
                {
                    return (await response.Content.ReadFromJsonAsync<T>(Json, cancellationToken).ConfigureAwait(false))!;
                }

                if (IsTransient(response.StatusCode) && attempt < _options.MaxRetries)
                {
                    var delay = response.Headers.RetryAfter?.Delta is { } after && after < _options.MaxBackoff ? after : Backoff(attempt);
                    await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
                    continue;
                }

                throw await ErrorAsync(response, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private static bool IsTransient(HttpStatusCode status) =>
        status is HttpStatusCode.RequestTimeout or HttpStatusCode.TooManyRequests or HttpStatusCode.BadGateway
            or HttpStatusCode.ServiceUnavailable or HttpStatusCode.GatewayTimeout or HttpStatusCode.InternalServerError;

    private static bool IsTransient(StatusCode status) => status is StatusCode.Unavailable or StatusCode.Internal or StatusCode.Unknown or StatusCode.DeadlineExceeded or StatusCode.Aborted;

    private TimeSpan Backoff(int attempt)
    {
        var exponential = _options.InitialBackoff * Math.Pow(2, Math.Min(attempt, 16));
        var capped = exponential < _options.MaxBackoff ? exponential : _options.MaxBackoff;
        return capped * (0.5 + (Random.Shared.NextDouble() / 2)); // "equal jitter": between half and the full delay
    }

    private static async Task<ParleyApiException> ErrorAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        string? code = null;
        var message = $"HTTP {(int)response.StatusCode}";
        try
        {
            using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false));
            code = doc.RootElement.TryGetProperty("code", out var c) ? c.GetString() : null;
            message = doc.RootElement.TryGetProperty("detail", out var d) && d.GetString() is { } detail ? detail
                : doc.RootElement.TryGetProperty("title", out var t) && t.GetString() is { } title ? title : message;
        }
        catch (JsonException)
        {
        }

        return new ParleyApiException((int)response.StatusCode, code, message);
    }
}
