using System.Collections.Concurrent;
using System.Security.Claims;
using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Parley.Adapters;
using Parley.Data;
using Parley.Server.Features.Access;
using Parley.Server.Infrastructure;
using Parley.Server.Messaging;

namespace Parley.Server.Features.Adapters;

/// <summary>How one adapter answered: ok, cached, stale (last good answer after a failure), timeout, error or circuit_open.</summary>
public sealed record ContextSourceStatus(string Name, string Status, string? Error = null);

public sealed record ContextResponse(Guid ContactId, IReadOnlyList<ContextCard> Cards, IReadOnlyList<ContextSourceStatus> Sources);

/// <summary>
/// Queries every adapter for a contact in parallel, each under its own timeout, cache and circuit breaker, so a
/// slow or broken system costs the panel at most its timeout and never fails the others.
/// </summary>
public sealed partial class ContextService(IEnumerable<IContextAdapter> adapters, IOptions<AdapterOptions> options, AdapterHealth health, TimeProvider time, ILogger<ContextService> logger)
{
    private readonly ConcurrentDictionary<string, Breaker> _breakers = new(StringComparer.OrdinalIgnoreCase);
    private readonly ConcurrentDictionary<(string Adapter, Guid Contact), CacheEntry> _cache = new();

    public async Task<ContextResponse> QueryAsync(ContactInfo contact, CancellationToken cancellationToken)
    {
        var results = await Task.WhenAll(Adapters.Select(a => RunAsync(a, contact, cancellationToken)));
        return new ContextResponse(contact.Id, results.SelectMany(r => r.Cards).ToList(), results.Select(r => r.Status).ToList());
    }

    /// <summary>The configured adapters, in order.</summary>
    public IReadOnlyList<IContextAdapter> Adapters { get; } = [.. adapters];

    /// <summary>Whether this node's circuit breaker currently skips the adapter.</summary>
    public bool IsCircuitOpen(string adapter) => _breakers.TryGetValue(adapter, out var breaker) && breaker.IsOpen(time.GetUtcNow());

    internal AdapterPolicy PolicyOf(IContextAdapter adapter) => adapter is HttpContextAdapter http ? http.Options.Policy : options.Value.Defaults;

    private async Task<(IReadOnlyList<ContextCard> Cards, ContextSourceStatus Status)> RunAsync(IContextAdapter adapter, ContactInfo contact, CancellationToken cancellationToken)
    {
        var policy = PolicyOf(adapter);
        var now = time.GetUtcNow();
        var key = (adapter.Name, contact.Id);
        _cache.TryGetValue(key, out var cached);
        if (cached is not null && now - cached.At < policy.CacheFor)
        {
            return (cached.Cards, new ContextSourceStatus(adapter.Name, "cached"));
        }

        var breaker = _breakers.GetOrAdd(adapter.Name, _ => new Breaker());
        if (!breaker.Allow(now, policy))
        {
            return Degraded(adapter, cached, now, policy, "circuit_open", "Skipped after repeated failures.");
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(policy.Timeout);
        try
        {
            var cards = (await adapter.QueryAsync(contact, timeout.Token)).Select(WithSafeLink).ToList();
            breaker.Succeeded();
            _cache[key] = new CacheEntry(cards, now);
            TrimCache(now);
            await health.SucceededAsync(adapter.Name, cancellationToken);
            return (cards, new ContextSourceStatus(adapter.Name, "ok"));
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            breaker.Failed(now, policy);
            LogFailed(logger, adapter.Name, "timeout");
            await health.FailedAsync(adapter.Name, "timeout", $"No answer within {policy.Timeout.TotalSeconds:0.#} s.", cancellationToken);
            return Degraded(adapter, cached, now, policy, "timeout", $"No answer within {policy.Timeout.TotalSeconds:0.#} s.");
        }
        catch (Exception ex) when (ex is HttpRequestException or JsonException or Webhooks.TargetForbiddenException or InvalidOperationException or IOException)
        {
            breaker.Failed(now, policy);
            LogFailed(logger, adapter.Name, ex.Message);
            await health.FailedAsync(adapter.Name, "error", ex.Message, cancellationToken);
            return Degraded(adapter, cached, now, policy, "error", ex.Message);
        }
    }

    private static (IReadOnlyList<ContextCard>, ContextSourceStatus) Degraded(IContextAdapter adapter, CacheEntry? cached, DateTimeOffset now, AdapterPolicy policy, string status, string error) =>
        cached is not null && now - cached.At < policy.StaleFor
            ? (cached.Cards, new ContextSourceStatus(adapter.Name, "stale", $"{status}: {error}"))
            : ([], new ContextSourceStatus(adapter.Name, status, error));

    private void TrimCache(DateTimeOffset now)
    {
        if (_cache.Count < 10_000)
        {
            return;
        }

        foreach (var (key, entry) in _cache)
        {
            if (now - entry.At > TimeSpan.FromHours(1))
            {
                _cache.TryRemove(key, out _);
            }
        }
    }

    /// <summary>
    /// A card's link comes from another system's data; only an absolute http(s) URL is kept, so a <c>javascript:</c> or
    /// <c>data:</c> link never reaches the console (where only the CSP would stop it).
    /// </summary>
    internal static ContextCard WithSafeLink(ContextCard card) =>
        card.Url is null || (Uri.TryCreate(card.Url.Trim(), UriKind.Absolute, out var uri) && uri.Scheme is "https" or "http")
            ? card
            : card with { Url = null };

    private sealed record CacheEntry(IReadOnlyList<ContextCard> Cards, DateTimeOffset At);

    /// <summary>Closed → open after N consecutive failures → one trial after the break (half-open) → closed on success.</summary>
    private sealed class Breaker
    {
        private readonly Lock _gate = new();
        private int _failures;
        private DateTimeOffset? _openUntil;
        private bool _trialRunning;

        public bool Allow(DateTimeOffset now, AdapterPolicy policy)
        {
            lock (_gate)
            {
                if (_openUntil is null)
                {
                    return true;
                }

                if (now < _openUntil || _trialRunning)
                {
                    return false;
                }

                _trialRunning = true;
                return true;
            }
        }

        public bool IsOpen(DateTimeOffset now)
        {
            lock (_gate)
            {
                return _openUntil is { } until && (now < until || _trialRunning);
            }
        }

        public void Succeeded()
        {
            lock (_gate)
            {
                _failures = 0;
                _openUntil = null;
                _trialRunning = false;
            }
        }

        public void Failed(DateTimeOffset now, AdapterPolicy policy)
        {
            lock (_gate)
            {
                _failures++;
                _trialRunning = false;
                if (_failures >= policy.FailureThreshold)
                {
                    _openUntil = now + policy.BreakFor;
                }
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Context adapter {Adapter} failed: {Error}")]
    private static partial void LogFailed(ILogger logger, string adapter, string error);
}

public static class ContextApi
{
    public static IEndpointRouteBuilder MapContextApi(this IEndpointRouteBuilder app)
    {
        app.MapGroup("/api/v1/conversations").WithTags("Context").RequireAuthorization(ParleyClaims.AgentPolicy).WithParleyErrors()
            .MapGet("/{id:guid}/context", GetAsync).WithName("GetConversationContext")
            .WithSummary("Cards from the configured context adapters (orders, tickets, ...) for the conversation's contact")
            .WithDescription("Each source reports ok, cached, stale (last good answer after a failure), timeout, error or circuit_open; a failing source never fails the request.");
        app.MapAdaptersApi();
        return app;
    }

    internal static async Task<Ok<ContextResponse>> GetAsync(Guid id, ParleyDbContext db, AccessPolicy access, ClaimsPrincipal user, ContextService service, CancellationToken cancellationToken)
    {
        await access.RequireConversationAsync(Actor.Agent(user), id, ConversationAction.Read, cancellationToken);
        var contact = await (from c in db.Conversations.AsNoTracking()
                             join ct in db.Contacts.AsNoTracking() on c.ContactId equals ct.Id
                             where c.Id == id
                             select ct).FirstOrDefaultAsync(cancellationToken) ?? throw ParleyException.NotFound();
        return TypedResults.Ok(await service.QueryAsync(ToInfo(contact), cancellationToken));
    }

    internal static ContactInfo ToInfo(Contact contact)
    {
        var attributes = new Dictionary<string, string>();
        if (contact.AttributesJson is { Length: > 0 } json)
        {
            using var doc = JsonDocument.Parse(json);
            if (doc.RootElement.ValueKind == JsonValueKind.Object)
            {
                foreach (var p in doc.RootElement.EnumerateObject())
                {
                    attributes[p.Name] = p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString()! : p.Value.GetRawText();
                }
            }
        }

        return new ContactInfo(contact.Id, contact.ExternalId, contact.Name, contact.Email, contact.Phone, attributes);
    }
}
