using System.Threading.RateLimiting;
using Microsoft.Extensions.Options;
using Parley.Server.Events;
using Parley.Server.Features.Metrics;
using Parley.Server.Features.Transcripts;
using Parley.Server.Infrastructure;

namespace Parley.Server.Features.Widget;

public static class WidgetSetup
{
    /// <summary>Visitor sessions and the widget API, with the per-IP limits on what anonymous visitors can reach.</summary>
    public static IServiceCollection AddWidget(this IServiceCollection services)
    {
        services.AddOptions<WidgetOptions>().BindConfiguration(WidgetOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<VisitorSendLimiter>();
        services.AddSingleton<VisitorActionLimits>();
        services.AddSingleton<IAnonymousRateLimits, InProcessAnonymousRateLimits>(); // scale-out: Redis
        services.AddSingleton<IConfigureOptions<Microsoft.AspNetCore.RateLimiting.RateLimiterOptions>, ConfigureAnonymousLimits>();
        services.AddRateLimiter(_ => { });
        return services;
    }

    /// <summary>What the widget offers besides chatting: profile and pre-chat fields, page trail, transcripts, agent availability.</summary>
    public static IServiceCollection AddWidgetFeatures(this IServiceCollection services)
    {
        services.AddOptions<SmtpOptions>().BindConfiguration(SmtpOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddScoped<TranscriptMailer>();
        services.AddScoped<VisitorProfiles>();
        services.AddScoped<WidgetSessionFacts>();
        services.AddSingleton<IAgentAvailability, ConnectedAgentsAvailability>();
        services.AddSingleton<IDomainEventListener<VisitorPageChanged>, VisitorPageFanout>();
        return services;
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
