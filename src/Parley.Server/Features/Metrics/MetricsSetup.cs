using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;
using OpenTelemetry.Metrics;
using Parley.Server.Infrastructure;

namespace Parley.Server.Features.Metrics;

public static class MetricsSetup
{
    public static WebApplicationBuilder AddParleyMetrics(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<MetricsOptions>().BindConfiguration(MetricsOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddSingleton<ParleyMetrics>();
        builder.Services.AddOptions<GovernorOptions>().BindConfiguration(GovernorOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddSingleton<LoadGovernor>();
        builder.Services.AddSingleton<VisitorAdmission>();
        builder.Services.AddSingleton<InboxSummaryCoalescer>();
        builder.Services.AddHealthChecks().Add(new Microsoft.Extensions.Diagnostics.HealthChecks.HealthCheckRegistration("load", sp => sp.GetRequiredService<LoadGovernor>(), null, ["ready"]));
        builder.Services.AddHostedService<LoadBanner>();
        builder.Services.AddSingleton<OperationsSampler>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<OperationsSampler>());
        builder.Services.AddOpenTelemetry().WithMetrics(m => m
            .AddMeter(ParleyMetrics.MeterName, Features.Ai.LlmProvider.MeterName, "System.Runtime", "Microsoft.AspNetCore.Hosting", "Microsoft.AspNetCore.Server.Kestrel", "Microsoft.AspNetCore.Http.Connections")
            .AddPrometheusExporter());

        var management = builder.Configuration.GetSection(MetricsOptions.Section).Get<MetricsOptions>();
        if (management?.ManagementPort is { } port)
        {
            builder.WebHost.UseSetting(WebHostDefaults.ServerUrlsKey, $"{ServerUrls(builder.Configuration)};http://{management.ManagementHost}:{port}");
        }

        return builder;
    }

    /// <summary>
    /// Serves <c>/metrics</c> to the management port or the scrape token only, and nothing but <c>/metrics</c> and
    /// <c>/health/*</c> on the management port. Runs first, before any page or API middleware.
    /// </summary>
    public static WebApplication UseMetricsGuard(this WebApplication app)
    {
        var options = app.Services.GetRequiredService<IOptions<MetricsOptions>>().Value;
        var token = options.Token is { Length: > 0 } t ? Encoding.UTF8.GetBytes("Bearer " + t) : null;
        // Not async: a request that passes returns next's task as it is, so a long-lived one (a hub's WebSocket) keeps
        // no state machine of this middleware alive for its whole life (docs/benchmarks.md, memory per connection).
        app.Use((context, next) =>
        {
            var path = context.Request.Path;
            var metrics = path.StartsWithSegments("/metrics", StringComparison.OrdinalIgnoreCase);
            if (options.ManagementPort is { } port && context.Connection.LocalPort == port)
            {
                if (metrics || path.StartsWithSegments("/health", StringComparison.OrdinalIgnoreCase))
                {
                    return next(context);
                }

                context.Response.StatusCode = StatusCodes.Status404NotFound;
                return Task.CompletedTask;
            }

            if (metrics && !Presents(context, token))
            {
                context.Response.Headers.WWWAuthenticate = "Bearer";
                return Problems.Create(ErrorCatalogue.Unauthorized, "Metrics are served on the management port or with the metrics token (Parley:Metrics).").ExecuteAsync(context);
            }

            return next(context);
        });
        return app;
    }

    public static WebApplication MapParleyMetrics(this WebApplication app)
    {
        app.MapPrometheusScrapingEndpoint("/metrics");
        app.MapGroup("/api/v1/system").RequireAuthorization(ParleyClaims.AgentPolicy).WithTags("System")
            .MapGet("/load", (LoadGovernor governor) => TypedResults.Ok(LoadStateEvent.Of(governor.State)))
            .WithName("GetLoadState")
            .WithSummary("This node's load governor state and what it sheds (the console's banner)")
            .WithDescription("state is normal, pressure or overload; shedding lists the optional features skipped now, in the documented order. Changes are pushed to agents as the loadState hub event.");
        return app;
    }

    private static bool Presents(HttpContext context, byte[]? token)
    {
        if (token is null)
        {
            return false;
        }

        var header = context.Request.Headers.Authorization.ToString();
        return CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(header), token);
    }

    /// <summary>
    /// The addresses Kestrel would bind without the management port (URLS, else HTTP_PORTS/HTTPS_PORTS as the
    /// container images set them, else ASP.NET Core's default), so adding the management port keeps them.
    /// </summary>
    private static string ServerUrls(ConfigurationManager configuration)
    {
        if (configuration[WebHostDefaults.ServerUrlsKey] is { Length: > 0 } urls)
        {
            return urls;
        }

        static IEnumerable<string> Ports(string? list, string scheme) =>
            (list ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(p => $"{scheme}://*:{p}");
        var fromPorts = Ports(configuration[WebHostDefaults.HttpPortsKey], "http").Concat(Ports(configuration[WebHostDefaults.HttpsPortsKey], "https")).ToList();
        return fromPorts.Count > 0 ? string.Join(';', fromPorts) : "http://localhost:5000";
    }
}
