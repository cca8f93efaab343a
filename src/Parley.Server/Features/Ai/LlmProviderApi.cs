using System.Security.Claims;
using System.Security.Cryptography;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Parley.Data;
using Parley.Server.Events;
using Parley.Server.Features.Knowledge;
using Parley.Server.Infrastructure;

namespace Parley.Server.Features.Ai;

/// <summary>The LLM provider as admins see it: never the API key itself, only whether one is set and its last four characters.</summary>
/// <param name="Source">appsettings (nothing saved in the console yet: <c>Parley:Ai:Llm</c>) or console.</param>
public sealed record LlmProviderDto(
    bool Enabled,
    string? BaseUrl,
    string ChatModel,
    string? EmbeddingModel,
    int TimeoutMilliseconds,
    int MaxOutputTokens,
    long DailyTokenBudgetPerSite,
    bool ApiKeySet,
    string? ApiKeyLast4,
    string Source,
    DateTime? UpdatedAt);

/// <summary>New provider settings. An omitted (null) field keeps its current value; an empty string clears baseUrl, embeddingModel or apiKey.</summary>
/// <param name="BaseUrl">http or https, including the version path (<c>http://127.0.0.1:11434/v1</c>); at most 500 characters, no user name or password in it.</param>
/// <param name="ChatModel">1 to 200 characters.</param>
/// <param name="EmbeddingModel">Embeddings model for dense retrieval, at most 200 characters; empty for none.</param>
/// <param name="TimeoutMilliseconds">500 to 60000: the whole call, then the offline engine answers.</param>
/// <param name="MaxOutputTokens">16 to 8000.</param>
/// <param name="DailyTokenBudgetPerSite">0 (unlimited) to 10,000,000,000 tokens per site and UTC day, across the cluster.</param>
/// <param name="ApiKey">Write-only, at most 500 characters without spaces; stored encrypted with the key ring.</param>
public sealed record LlmProviderRequest(
    bool? Enabled = null,
    string? BaseUrl = null,
    string? ChatModel = null,
    string? EmbeddingModel = null,
    int? TimeoutMilliseconds = null,
    int? MaxOutputTokens = null,
    long? DailyTokenBudgetPerSite = null,
    string? ApiKey = null);

/// <summary>
/// The LLM provider settings admins change in the console (docs/ai.md "LLM provider"): stored in one row of
/// <see cref="AiProviderSettings"/> over the appsettings defaults, the API key encrypted with the Data Protection key
/// ring, applied at once on this node and, through <see cref="KnowledgeChanged"/> (<see cref="KnowledgeChangeKind.ProviderChanged"/>),
/// on every other node without a restart.
/// </summary>
public static class LlmProviderApi
{
    private const string ProtectorPurpose = "Parley.AiProvider.ApiKey.v1";

    public static IEndpointRouteBuilder MapLlmProviderApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/v1/ai/provider").WithTags("AI").RequireAuthorization(ParleyClaims.AdminPolicy).WithParleyErrors();
        api.MapGet("/", GetAsync).WithName("GetLlmProvider")
            .WithSummary("The LLM provider settings in effect (admins); the API key only as set or not and its last four characters");
        api.MapPut("/", PutAsync).WithName("PutLlmProvider")
            .WithSummary("Change the LLM provider settings (admins; audited, effective on every node without a restart)")
            .WithDescription("Omitted fields keep their value; an empty string clears baseUrl, embeddingModel or apiKey. invalid_settings names the first bad value "
                + "(baseUrl http/https, timeoutMilliseconds 500–60000, maxOutputTokens 16–8000, dailyTokenBudgetPerSite ≥ 0, a chat model, a base URL when enabled).");
        api.MapPost("/test", TestAsync).WithName("TestLlmProvider")
            .WithSummary("Call the provider with a tiny prompt under its time budget and report ok or the error (admins; audited)")
            .WithDescription("Tests the saved settings with the body's fields over them (the same body as PutLlmProvider, nothing is saved); "
                + "the embeddings model too when one is named. Always 200: {ok, latencyMilliseconds, error, message}.");
        return app;
    }

    /// <summary>The settings in effect: the saved row over the appsettings defaults (the key decrypted).</summary>
    public static LlmOptions Effective(LlmOptions defaults, AiProviderSettings? row, IDataProtectionProvider protection)
    {
        var options = defaults.Clone();
        if (row is null)
        {
            return options;
        }

        options.Enabled = row.Enabled;
        options.BaseUrl = row.BaseUrl;
        options.ChatModel = row.ChatModel;
        options.EmbeddingModel = row.EmbeddingModel;
        options.TimeoutMilliseconds = row.TimeoutMilliseconds;
        options.MaxOutputTokens = row.MaxOutputTokens;
        options.DailyTokenBudgetPerSite = row.DailyTokenBudgetPerSite;
        options.ApiKey = row.ApiKeyProtected switch
        {
            null => defaults.ApiKey,
            "" => null,
            var protectedKey => Unprotect(protection, protectedKey),
        };
        return options;
    }

    /// <summary>Loads the settings in effect from the store (the live server calls this at start and on every change).</summary>
    public static async Task<LlmOptions> LoadAsync(ParleyDbContext db, LlmOptions defaults, IDataProtectionProvider protection, CancellationToken cancellationToken) =>
        Effective(defaults, await db.AiProviderSettings.AsNoTracking().FirstOrDefaultAsync(s => s.Id == AiProviderSettings.SingletonId, cancellationToken), protection);

    internal static async Task<Ok<LlmProviderDto>> GetAsync(ParleyDbContext db, IOptions<LlmOptions> defaults, IDataProtectionProvider protection, CancellationToken cancellationToken)
    {
        var row = await db.AiProviderSettings.AsNoTracking().FirstOrDefaultAsync(s => s.Id == AiProviderSettings.SingletonId, cancellationToken);
        return TypedResults.Ok(Dto(Effective(defaults.Value, row, protection), row));
    }

    internal static async Task<Ok<LlmProviderDto>> PutAsync(
        LlmProviderRequest? request, ParleyDbContext db, IOptions<LlmOptions> defaults, IDataProtectionProvider protection, LlmProvider llm,
        DomainEvents events, Access.AuditLog audit, TimeProvider time, ClaimsPrincipal user, CancellationToken cancellationToken)
    {
        request ??= new LlmProviderRequest();
        var row = await db.AiProviderSettings.FirstOrDefaultAsync(s => s.Id == AiProviderSettings.SingletonId, cancellationToken);
        var current = Effective(defaults.Value, row, protection);
        var before = Dto(current, row);
        var next = Validated(Apply(current, request));

        if (row is null)
        {
            row = new AiProviderSettings { ChatModel = next.ChatModel };
            db.AiProviderSettings.Add(row);
        }

        row.Enabled = next.Enabled;
        row.BaseUrl = next.BaseUrl;
        row.ChatModel = next.ChatModel;
        row.EmbeddingModel = next.EmbeddingModel;
        row.TimeoutMilliseconds = next.TimeoutMilliseconds;
        row.MaxOutputTokens = next.MaxOutputTokens;
        row.DailyTokenBudgetPerSite = next.DailyTokenBudgetPerSite;
        if (request.ApiKey is not null)
        {
            // Write-only: a key typed now replaces the stored one (or the appsettings key, which applies until then).
            row.ApiKeyProtected = request.ApiKey.Length == 0 ? "" : protection.CreateProtector(ProtectorPurpose).Protect(request.ApiKey);
        }

        row.UpdatedAt = time.GetUtcNow().UtcDateTime;
        row.UpdatedBy = user.UserId();
        await db.SaveChangesAsync(cancellationToken);

        var after = Dto(next, row);
        await audit.RecordAsync(user, "ai.provider_updated", "ai_provider", "llm", new { before, after }, cancellationToken);
        llm.Configure(next); // this node at once; the others through the relay
        events.Publish(new KnowledgeChanged(null, KnowledgeChangeKind.ProviderChanged));
        return TypedResults.Ok(after);
    }

    internal static async Task<Ok<LlmTestResult>> TestAsync(
        LlmProviderRequest? request, ParleyDbContext db, IOptions<LlmOptions> defaults, IDataProtectionProvider protection, LlmProvider llm,
        Access.AuditLog audit, ClaimsPrincipal user, CancellationToken cancellationToken)
    {
        var current = await LoadAsync(db, defaults.Value, protection, cancellationToken);
        var candidate = Validated(Apply(current, request ?? new LlmProviderRequest()), requireEnabled: false);
        var result = await llm.TestAsync(candidate, cancellationToken);
        await audit.RecordAsync(user, "ai.provider_tested", "ai_provider", "llm", new { baseUrl = candidate.BaseUrl, ok = result.Ok, error = result.Error }, cancellationToken);
        return TypedResults.Ok(result);
    }

    internal static LlmOptions Apply(LlmOptions current, LlmProviderRequest request)
    {
        var next = current.Clone();
        next.Enabled = request.Enabled ?? current.Enabled;
        next.BaseUrl = request.BaseUrl is null ? current.BaseUrl : request.BaseUrl.Trim() is { Length: > 0 } url ? url : null;
        next.ChatModel = request.ChatModel?.Trim() ?? current.ChatModel;
        next.EmbeddingModel = request.EmbeddingModel is null ? current.EmbeddingModel : request.EmbeddingModel.Trim() is { Length: > 0 } model ? model : null;
        next.TimeoutMilliseconds = request.TimeoutMilliseconds ?? current.TimeoutMilliseconds;
        next.MaxOutputTokens = request.MaxOutputTokens ?? current.MaxOutputTokens;
        next.DailyTokenBudgetPerSite = request.DailyTokenBudgetPerSite ?? current.DailyTokenBudgetPerSite;
        next.ApiKey = request.ApiKey is null ? current.ApiKey : request.ApiKey.Length == 0 ? null : request.ApiKey;
        return next;
    }

    /// <summary>Throws <see cref="ParleyException"/> (invalid_settings) naming the first bad value.</summary>
    internal static LlmOptions Validated(LlmOptions o, bool requireEnabled = true)
    {
        static ParleyException Bad(string text) => new(ErrorCatalogue.InvalidSettings, text);
        if (o.BaseUrl is { } url)
        {
            if (url.Length > AiProviderSettings.MaxUrlLength || !Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https")
                || !string.IsNullOrEmpty(uri.UserInfo) || TextInput.IndexOfForbidden(url, multiline: false) >= 0)
            {
                throw Bad($"baseUrl must be an http or https URL of at most {AiProviderSettings.MaxUrlLength} characters, without a user name or password.");
            }
        }
        else if (o.Enabled && requireEnabled)
        {
            throw Bad("baseUrl is required while the provider is enabled.");
        }

        if (string.IsNullOrWhiteSpace(o.ChatModel) || o.ChatModel.Length > AiProviderSettings.MaxModelLength || TextInput.IndexOfForbidden(o.ChatModel, multiline: false) >= 0)
        {
            throw Bad($"chatModel must be 1 to {AiProviderSettings.MaxModelLength} characters.");
        }

        if (o.EmbeddingModel is { } embed && (embed.Length > AiProviderSettings.MaxModelLength || TextInput.IndexOfForbidden(embed, multiline: false) >= 0))
        {
            throw Bad($"embeddingModel must be at most {AiProviderSettings.MaxModelLength} characters.");
        }

        if (o.TimeoutMilliseconds is < 500 or > 60_000)
        {
            throw Bad("timeoutMilliseconds must be between 500 and 60000.");
        }

        if (o.MaxOutputTokens is < 16 or > 8000)
        {
            throw Bad("maxOutputTokens must be between 16 and 8000.");
        }

        if (o.DailyTokenBudgetPerSite is < 0 or > 10_000_000_000)
        {
            throw Bad("dailyTokenBudgetPerSite must be between 0 (unlimited) and 10000000000.");
        }

        if (o.ApiKey is { } key && (key.Length > AiProviderSettings.MaxApiKeyLength || key.Any(char.IsWhiteSpace) || TextInput.IndexOfForbidden(key, multiline: false) >= 0))
        {
            throw Bad($"apiKey must be at most {AiProviderSettings.MaxApiKeyLength} characters without spaces.");
        }

        return o;
    }

    private static LlmProviderDto Dto(LlmOptions o, AiProviderSettings? row) =>
        new(o.Enabled, o.BaseUrl, o.ChatModel, o.EmbeddingModel, o.TimeoutMilliseconds, o.MaxOutputTokens, o.DailyTokenBudgetPerSite,
            !string.IsNullOrEmpty(o.ApiKey) || row?.ApiKeyProtected is { Length: > 0 },
            o.ApiKey is { Length: >= 8 } key ? key[^4..] : null,
            row is null ? "appsettings" : "console",
            row?.UpdatedAt);

    /// <summary>A key that no longer decrypts (the key ring was replaced) counts as no key; the admin enters it again.</summary>
    private static string? Unprotect(IDataProtectionProvider protection, string protectedKey)
    {
        try
        {
            return protection.CreateProtector(ProtectorPurpose).Unprotect(protectedKey);
        }
        catch (CryptographicException)
        {
            return null;
        }
    }
}
