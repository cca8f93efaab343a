using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.HttpOverrides;
using Microsoft.Extensions.Options;
using Parley.Server.Data;
using Parley.Server.Features.Access;
using Parley.Server.Features.Ai;
using Parley.Server.Features.Alerts;
using Parley.Server.Features.Attachments;
using Parley.Server.Features.Auth;
using Parley.Server.Features.Console;
using Parley.Server.Features.Conversations;
using Parley.Server.Features.Csat;
using Parley.Server.Features.GeoIp;
using Parley.Server.Features.Integration;
using Parley.Server.Features.Knowledge;
using Parley.Server.Features.Metrics;
using Parley.Server.Features.Privacy;
using Parley.Server.Features.Reports;
using Parley.Server.Features.Sites;
using Parley.Server.Features.Supervision;
using Parley.Server.Features.Users;
using Parley.Server.Features.Web;
using Parley.Server.Features.Widget;
using Parley.Server.Infrastructure;
using Parley.Server.Messaging;
using Parley.Server.Realtime;
using Parley.Server.Routing;
using Parley.Server.ScaleOut;
using Scalar.AspNetCore;

namespace Parley.Server;

/// <summary>Builds the one Parley application. Program.cs runs it; tests start real instances of it on loopback ports.</summary>
public static class ParleyApp
{
    public static WebApplication Create(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = DefaultContentRoot(args) });
        configure?.Invoke(builder);

        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddProblemDetails();
        builder.Services.AddOpenApi(o => o.AddDocumentTransformer((document, _, _) =>
        {
            document.Info.Title = "Parley API";
            document.Info.Version = "v1";
            document.Info.Description = "REST API of Parley, the self-hosted live chat. Realtime hubs are described in docs/protocol.md.";
            return Task.CompletedTask;
        }));
        builder.Services.AddHealthChecks();
        builder.AddNetworkOptions();
        builder.AddParleyMetrics();
        builder.AddParleyTracing();

        builder.AddParleyData();
        builder.AddParleyAuth();
        builder.AddParleyAccess();
        builder.AddTransportSecurity();
        builder.AddParleyMessaging();
        builder.AddParleyRealtime();
        builder.AddWidget();
        builder.AddWidgetFeatures();
        builder.AddGeoIp();
        builder.AddAttachments();
        builder.AddCsat();
        builder.AddParleyRouting();
        builder.AddSupervision();
        builder.Services.AddScoped<ConversationService>();
        builder.AddConsoleFeatures();
        builder.AddParleyIntegration();
        builder.AddKnowledge();
        builder.AddPrivacy();
        builder.AddAi();
        builder.AddReports();
        builder.AddAlerts();
        builder.AddParleyScaleOut(); // after the features: with Redis it swaps node-local services for cluster-wide ones

        var app = builder.Build();

        // Forwarded headers are honoured only when the operator names the proxies; with an empty list the middleware
        // is not used at all (with empty trust lists it would still accept X-Forwarded-For).
        if (app.Configuration.GetSection("Parley:Network:KnownProxies").Get<string[]>() is { Length: > 0 })
        {
            app.UseForwardedHeaders();
        }
        app.UseMetricsGuard();
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        app.UseTransportSecurity();
        app.UseParleyWebAssets();
        app.UseRateLimiter();
        app.UseAuthentication();
        app.UseAuthorization();
        app.UsePasswordChangeGate();
        app.UseApiTokenScopes();
        app.UseCsrfHeaderCheck();
        app.UseIdempotencyKeys();

        app.MapHealthChecks("/health/live", new HealthCheckOptions { Predicate = _ => false });
        app.MapHealthChecks("/health/ready", new HealthCheckOptions { Predicate = c => c.Tags.Contains("ready") });
        app.MapParleyMetrics();
        var web = app.Configuration.GetSection(WebOptions.Section).Get<WebOptions>() ?? new WebOptions();
        if (WebOptions.Enabled(web.OpenApi, app.Environment))
        {
            app.MapOpenApi();
        }

        if (WebOptions.Enabled(web.Scalar, app.Environment))
        {
            app.MapScalarApiReference();
        }

        app.MapAuthApi();
        app.MapWidgetApi();
        app.MapWidgetFeaturesApi();
        app.MapAttachmentsApi();
        app.MapCsatApi();
        app.MapSitesApi();
        app.MapUsersApi();
        app.MapAuditApi();
        app.MapConversationsApi();
        app.MapConsoleApi();
        app.MapIntegrationApi();
        app.MapRoutingApis();
        app.MapSupervisionApi();
        app.MapKnowledgeApi();
        app.MapPrivacyApi();
        app.MapAiApi();
        app.MapReportsApi();
        app.MapAlertsApi();
        app.MapParleyHubs();
        return app;
    }

    /// <summary>Applies pending migrations (and the unattended bootstrap) without starting the server.</summary>
    public static async Task MigrateAsync(string[] args)
    {
        await using var app = Create(args, b => b.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["Parley:Database:ApplyMigrations"] = "true" }));
        var initializer = app.Services.GetServices<IHostedService>().OfType<DatabaseInitializer>().Single();
        await initializer.StartAsync(CancellationToken.None);
    }

    /// <summary>
    /// The content root (appsettings.json, wwwroot) defaults to the working directory. A published Parley started
    /// from elsewhere (`/opt/parley/Parley.Server`, a service unit) would then miss both, so fall back to the
    /// folder the executable lives in. An explicit --contentRoot always wins.
    /// </summary>
    private static string? DefaultContentRoot(string[] args)
    {
        if (args.Any(a => a.StartsWith("--contentRoot", StringComparison.OrdinalIgnoreCase)))
        {
            return null;
        }

        var cwd = Directory.GetCurrentDirectory();
        var published = AppContext.BaseDirectory;
        return !File.Exists(Path.Combine(cwd, "appsettings.json")) && File.Exists(Path.Combine(published, "appsettings.json"))
            ? published
            : null;
    }

    private static void AddWidget(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<WidgetOptions>().BindConfiguration(WidgetOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddSingleton<VisitorSendLimiter>();
        builder.Services.AddSingleton<VisitorActionLimits>();
        builder.Services.AddSingleton<IAnonymousRateLimits, InProcessAnonymousRateLimits>(); // scale-out: Redis
        builder.Services.AddSingleton<IConfigureOptions<Microsoft.AspNetCore.RateLimiting.RateLimiterOptions>, ConfigureAnonymousLimits>();
        builder.Services.AddRateLimiter(_ => { });
    }

    /// <summary>Forwarded headers are honoured only from proxies the operator lists (Parley:Network:KnownProxies).</summary>
    private static void AddNetworkOptions(this WebApplicationBuilder builder)
    {
        var proxies = builder.Configuration.GetSection("Parley:Network:KnownProxies").Get<string[]>() ?? [];
        builder.Services.Configure<ForwardedHeadersOptions>(o =>
        {
            o.ForwardedHeaders = ForwardedHeaders.XForwardedFor | ForwardedHeaders.XForwardedProto;
            // Nothing is trusted by default, loopback included (a spoofed X-Forwarded-For from a co-located client
            // would otherwise pick its own rate-limit bucket). Both network lists are cleared: the obsolete one still
            // holds 127.0.0.0/8 by default.
            o.KnownProxies.Clear();
            o.KnownIPNetworks.Clear();
#pragma warning disable CS0618, ASPDEPR005
            o.KnownNetworks.Clear();
#pragma warning restore CS0618, ASPDEPR005
            foreach (var proxy in proxies)
            {
                if (System.Net.IPNetwork.TryParse(proxy, out var network))
                {
                    o.KnownIPNetworks.Add(network);
                }
                else if (System.Net.IPAddress.TryParse(proxy, out var address))
                {
                    o.KnownProxies.Add(address);
                }
            }
        });
    }

    /// <summary>Fixed-window limits per client IP for what anonymous visitors can reach.</summary>
    private sealed class ConfigureAnonymousLimits(IOptions<WidgetOptions> widget, IAnonymousRateLimits limits, ParleyMetrics metrics) : IConfigureOptions<Microsoft.AspNetCore.RateLimiting.RateLimiterOptions>
    {
        public void Configure(Microsoft.AspNetCore.RateLimiting.RateLimiterOptions options)
        {
            options.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
            options.OnRejected = async (context, cancellationToken) =>
            {
                metrics.RateLimited(context.HttpContext.GetEndpoint()?.Metadata.GetMetadata<Microsoft.AspNetCore.RateLimiting.EnableRateLimitingAttribute>()?.PolicyName ?? "endpoint");
                await Problems.Create(ErrorCatalogue.RateLimited, "Too many requests; retry later.").ExecuteAsync(context.HttpContext);
            };
            options.AddPolicy(WidgetApi.SessionRateLimit, http => PerIp(http, WidgetApi.SessionRateLimit, widget.Value.SessionsPerMinutePerIp));
            options.AddPolicy(WidgetApi.ConnectRateLimit, http => PerIp(http, WidgetApi.ConnectRateLimit, widget.Value.ConnectsPerMinutePerIp));
            options.AddPolicy(WidgetApi.UploadRateLimit, http => PerIp(http, WidgetApi.UploadRateLimit, widget.Value.UploadsPerMinutePerIp));
            options.AddPolicy(WidgetApi.OfflineRateLimit, http => PerIp(http, WidgetApi.OfflineRateLimit, widget.Value.OfflineMessagesPerHourPerIp, TimeSpan.FromHours(1)));
            options.AddPolicy(WidgetApi.TranscriptRateLimit, http => PerIp(http, WidgetApi.TranscriptRateLimit, widget.Value.TranscriptsPerHourPerIp, TimeSpan.FromHours(1)));
        }

        private RateLimitPartition<string> PerIp(HttpContext http, string policy, int permits, TimeSpan? window = null) =>
            limits.Partition(policy, http.Connection.RemoteIpAddress?.ToString() ?? "unknown", permits, window ?? TimeSpan.FromMinutes(1));
    }
}
