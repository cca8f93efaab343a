using System.ComponentModel.DataAnnotations;
using Microsoft.AspNetCore.HttpOverrides;

namespace Parley.Server.Features.Access;

/// <summary>HSTS and the agent hub's allowed origins (<c>Parley:Transport</c>).</summary>
public sealed class TransportOptions
{
    public const string Section = "Parley:Transport";

    /// <summary>
    /// Send <c>Strict-Transport-Security</c> on HTTPS responses (directly or, behind a configured proxy, by
    /// <c>X-Forwarded-Proto</c>). Null (the default) turns it on outside the Development environment.
    /// </summary>
    public bool? Hsts { get; set; }

    [Range(1, 3650)]
    public int HstsMaxAgeDays { get; set; } = 365;

    public bool HstsIncludeSubDomains { get; set; }

    /// <summary>
    /// Origins besides Parley's own that may open cookie-authenticated connections to the agent hub
    /// (<c>scheme://host[:port]</c>), e.g. a console served from another host. Empty by default: a page of another
    /// origin of the same site (www next to chat.) must not ride the console's SameSite cookie into <c>/hubs/agent</c>.
    /// </summary>
    public string[] ConsoleOrigins { get; set; } = [];
}

/// <summary>Transport rules: HSTS, the per-site allowed origins (CORS, WebSocket Origin, frame-ancestors), trusted proxies.</summary>
public static class TransportSecurity
{
    internal static IServiceCollection AddTransportSecurity(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<TransportOptions>().BindConfiguration(TransportOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        var options = configuration.GetSection(TransportOptions.Section).Get<TransportOptions>() ?? new TransportOptions();
        services.AddHsts(o =>
        {
            o.MaxAge = TimeSpan.FromDays(options.HstsMaxAgeDays);
            o.IncludeSubDomains = options.HstsIncludeSubDomains;
        });
        services.AddSingleton<SiteOrigins>();
        AddKnownProxies(services, configuration);
        return services;
    }

    /// <summary>Runs after the forwarded headers (so the scheme is the client's) and before the endpoints.</summary>
    public static WebApplication UseTransportSecurity(this WebApplication app)
    {
        var hsts = app.Configuration.GetSection(TransportOptions.Section).Get<TransportOptions>()?.Hsts ?? !app.Environment.IsDevelopment();
        if (hsts)
        {
            app.UseHsts(); // only on HTTPS requests; localhost names are excluded
        }

        app.UseMiddleware<SiteOriginsMiddleware>();
        app.UseMiddleware<ConsoleOriginsMiddleware>();
        return app;
    }

    /// <summary>Forwarded headers are honoured only from proxies the operator lists (Parley:Network:KnownProxies).</summary>
    private static void AddKnownProxies(IServiceCollection services, IConfiguration configuration)
    {
        var proxies = configuration.GetSection("Parley:Network:KnownProxies").Get<string[]>() ?? [];
        services.Configure<ForwardedHeadersOptions>(o =>
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
}
