using Microsoft.AspNetCore.Diagnostics.HealthChecks;
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

        // One Add<Feature>() per feature (<Feature>Setup.cs). Metrics takes the builder: it adds the management port to the host's URLs.
        var services = builder.Services;
        var configuration = builder.Configuration;
        builder.AddParleyMetrics();
        services.AddParleyTracing(configuration);

        services.AddParleyData(configuration);
        services.AddParleyAuth(configuration);
        services.AddParleyAccess(configuration);
        services.AddParleyMessaging();
        services.AddParleyRealtime(configuration);
        services.AddWidget();
        services.AddWidgetFeatures();
        services.AddGeoIp();
        services.AddAttachments(configuration);
        services.AddCsat();
        services.AddParleyRouting();
        services.AddSupervision();
        services.AddConversations();
        services.AddConsoleFeatures();
        services.AddParleyIntegration(configuration);
        services.AddKnowledge();
        services.AddPrivacy();
        services.AddAi();
        services.AddReports();
        services.AddAlerts();
        services.AddParleyScaleOut(configuration); // after the features: with Redis it swaps node-local services for cluster-wide ones

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
}
