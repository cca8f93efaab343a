using System.Security.Claims;
using System.Security.Cryptography;
using Microsoft.EntityFrameworkCore;
using Parley.Data;

namespace Parley.Server.Infrastructure;

/// <summary>Marks an endpoint whose POSTs honour the <c>Idempotency-Key</c> header.</summary>
public sealed class IdempotentEndpointMetadata;

/// <summary>
/// <c>Idempotency-Key</c> for POST endpoints marked with <see cref="WithIdempotencyKey{TBuilder}"/>: the first
/// request with a key runs and its response (status, type, body) is stored per caller; a retry with the same key
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

    public static IApplicationBuilder UseIdempotencyKeys(this IApplicationBuilder app) => app.Use(async (context, next) =>
    {
        var key = context.Request.Headers[Header].ToString();
        if (!HttpMethods.IsPost(context.Request.Method) || key.Length == 0 || context.GetEndpoint()?.Metadata.GetMetadata<IdempotentEndpointMetadata>() is null)
        {
            await next(context);
            return;
        }

        await HandleAsync(context, key, next);
    });

    private static async Task HandleAsync(HttpContext context, string key, RequestDelegate next)
    {
        if (key.Length > 200)
        {
            await Problems.Create(StatusCodes.Status400BadRequest, "idempotency_key_invalid", "Idempotency-Key is longer than 200 characters.").ExecuteAsync(context);
            return;
        }

        var user = context.User;
        var scope = user.FindFirstValue(ClaimTypes.NameIdentifier) ?? user.FindFirstValue(ParleyClaims.ContactId) ?? "anonymous";
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
            await Problems.Create(StatusCodes.Status422UnprocessableEntity, "idempotency_key_reused", "This Idempotency-Key was used for a different request.").ExecuteAsync(context);
            return;
        }

        if (record.StatusCode == 0)
        {
            await Problems.Create(StatusCodes.Status409Conflict, "idempotency_in_progress", "A request with this Idempotency-Key is still being processed; retry later.").ExecuteAsync(context);
            return;
        }

        context.Response.StatusCode = record.StatusCode;
        context.Response.ContentType = record.ContentType;
        context.Response.Headers["Idempotent-Replayed"] = "true";
        await context.Response.WriteAsync(record.ResponseBody, context.RequestAborted);
    }
}
