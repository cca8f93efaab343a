using System.Security.Claims;
using System.Security.Cryptography;
using Microsoft.EntityFrameworkCore;
using Parley.Data;

namespace Parley.Server.Infrastructure;

/// <summary>Marks an endpoint outside <c>/api/v1</c> whose POSTs honour the <c>Idempotency-Key</c> header.</summary>
public sealed class IdempotentEndpointMetadata;

/// <summary>Marks a POST endpoint whose responses must not be stored (they carry secrets), so it ignores the header.</summary>
public sealed class NotIdempotentEndpointMetadata;

/// <summary>
/// <c>Idempotency-Key</c> for every POST of the REST API (<c>/api/v1/...</c>) except those whose response carries a
/// secret that must not be stored in clear (sign-in, account management and API tokens under <c>/api/v1/auth</c>,
/// visitor sessions, password resets, webhook secret rotation, and endpoints marked
/// <see cref="WithoutIdempotencyKey{TBuilder}"/>), plus endpoints marked <see cref="WithIdempotencyKey{TBuilder}"/>.
/// The first request with a key runs and its response (status, type, body) is stored per caller; a retry with the same key
/// and the same request gets the stored response again, a different request with a reused key gets 422
/// (<c>idempotency_key_reused</c>), and a retry while the first is still running gets 409
/// (<c>idempotency_in_progress</c>). Server errors (5xx) are not stored, so the retry runs again.
/// </summary>
public static partial class IdempotencyKeys
{
    public const string Header = "Idempotency-Key";

    public static TBuilder WithIdempotencyKey<TBuilder>(this TBuilder builder)
        where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new IdempotentEndpointMetadata());

    public static TBuilder WithoutIdempotencyKey<TBuilder>(this TBuilder builder)
        where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new NotIdempotentEndpointMetadata());

    /// <summary>Paths whose responses carry secrets (tokens, session state, passwords, signing secrets).</summary>
    private static readonly string[] SecretPrefixes = ["/api/v1/auth", "/api/v1/setup", "/api/v1/widget/session"];

    /// <summary>Whether a POST to this endpoint honours <c>Idempotency-Key</c> (also used to document the header).</summary>
    public static bool Applies(string? path, EndpointMetadataCollection metadata)
    {
        if (metadata.GetMetadata<NotIdempotentEndpointMetadata>() is not null)
        {
            return false;
        }

        if (metadata.GetMetadata<IdempotentEndpointMetadata>() is not null)
        {
            return true;
        }

        path = "/" + (path ?? "").Trim('/');
        return path.StartsWith("/api/v1/", StringComparison.OrdinalIgnoreCase)
            && !string.Equals(path, "/api/v1/users", StringComparison.OrdinalIgnoreCase) // answers a temporary password
            && !SecretPrefixes.Any(p => path.StartsWith(p, StringComparison.OrdinalIgnoreCase))
            && !path.EndsWith("/password", StringComparison.OrdinalIgnoreCase)
            && !path.EndsWith("/rotate-secret", StringComparison.OrdinalIgnoreCase);
    }

    public static IApplicationBuilder UseIdempotencyKeys(this IApplicationBuilder app) => app.Use((context, next) =>
    {
        // Not async: a request without a key passes with next's own task (no state machine kept for a WebSocket's life).
        if (!HttpMethods.IsPost(context.Request.Method))
        {
            return next(context);
        }

        var key = context.Request.Headers[Header].ToString();
        return key.Length == 0 || context.GetEndpoint() is not RouteEndpoint endpoint || !Applies(endpoint.RoutePattern.RawText, endpoint.Metadata)
            ? next(context)
            : HandleAsync(context, key, next);
    });

    private static async Task HandleAsync(HttpContext context, string key, RequestDelegate next)
    {
        if (key.Length > 200)
        {
            await Problems.Create(ErrorCatalogue.IdempotencyKeyInvalid, "Idempotency-Key is longer than 200 characters.").ExecuteAsync(context);
            return;
        }

        // Keys are per caller; an anonymous request has no caller to keep its key apart from others', so it just runs.
        var user = context.User;
        if ((user.FindFirstValue(ClaimTypes.NameIdentifier) ?? user.FindFirstValue(ParleyClaims.ContactId)) is not { } scope)
        {
            await next(context);
            return;
        }

        context.Request.EnableBuffering();
        using var hasher = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hasher.AppendData(System.Text.Encoding.UTF8.GetBytes($"{context.Request.Method} {context.Request.Path}{context.Request.QueryString}\n"));
        var buffer = new byte[16 * 1024];
        int read;
        while ((read = await context.Request.Body.ReadAsync(buffer, context.RequestAborted)) > 0)
        {
            hasher.AppendData(buffer, 0, read);
        }

        context.Request.Body.Position = 0;
        var hash = Convert.ToHexString(hasher.GetHashAndReset());

        var db = context.RequestServices.GetRequiredService<ParleyDbContext>();
        var now = context.RequestServices.GetRequiredService<TimeProvider>().GetUtcNow().UtcDateTime;
        var existing = await db.IdempotencyRecords.AsNoTracking().FirstOrDefaultAsync(r => r.Scope == scope && r.Key == key, context.RequestAborted);
        if (existing is null)
        {
            db.IdempotencyRecords.Add(new IdempotencyRecord { Scope = scope, Key = key, RequestHash = hash, StatusCode = 0, ResponseBody = "", CreatedAt = now });
            try
            {
                await db.SaveChangesAsync(context.RequestAborted);
            }
            catch (DbUpdateException)
            {
                existing = await db.IdempotencyRecords.AsNoTracking().FirstOrDefaultAsync(r => r.Scope == scope && r.Key == key, context.RequestAborted);
            }
            finally
            {
                db.ChangeTracker.Clear();
            }
        }

        if (existing is not null)
        {
            await ReplayAsync(context, existing, hash);
            return;
        }

        var original = context.Response.Body;
        await using var captured = new MemoryStream();
        context.Response.Body = captured;
        var stored = false;
        try
        {
            await next(context);
            var status = context.Response.StatusCode;
            if (status < 500)
            {
                var body = System.Text.Encoding.UTF8.GetString(captured.ToArray());
                await db.IdempotencyRecords.Where(r => r.Scope == scope && r.Key == key).ExecuteUpdateAsync(s => s
                    .SetProperty(r => r.StatusCode, status)
                    .SetProperty(r => r.ContentType, context.Response.ContentType)
                    .SetProperty(r => r.ResponseBody, body), CancellationToken.None);
                stored = true;
            }
        }
        finally
        {
            if (!stored)
            {
                await db.IdempotencyRecords.Where(r => r.Scope == scope && r.Key == key && r.StatusCode == 0).ExecuteDeleteAsync(CancellationToken.None);
            }

            context.Response.Body = original;
            captured.Position = 0;
            await captured.CopyToAsync(original, CancellationToken.None);
        }
    }

    private static async Task ReplayAsync(HttpContext context, IdempotencyRecord record, string hash)
    {
        if (record.RequestHash != hash)
        {
            await Problems.Create(ErrorCatalogue.IdempotencyKeyReused, "This Idempotency-Key was used for a different request.").ExecuteAsync(context);
            return;
        }

        if (record.StatusCode == 0)
        {
            await Problems.Create(ErrorCatalogue.IdempotencyInProgress, "A request with this Idempotency-Key is still being processed; retry later.").ExecuteAsync(context);
            return;
        }

        context.Response.StatusCode = record.StatusCode;
        context.Response.ContentType = record.ContentType;
        context.Response.Headers["Idempotent-Replayed"] = "true";
        await context.Response.WriteAsync(record.ResponseBody, context.RequestAborted);
    }
}
