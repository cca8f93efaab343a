using System.ComponentModel.DataAnnotations;

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

/// <summary>Transport rules: HSTS and the per-site allowed origins (CORS, WebSocket Origin, frame-ancestors).</summary>
public static class TransportSecurity
{
    public static WebApplicationBuilder AddTransportSecurity(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<TransportOptions>().BindConfiguration(TransportOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        var options = builder.Configuration.GetSection(TransportOptions.Section).Get<TransportOptions>() ?? new TransportOptions();
        builder.Services.AddHsts(o =>
        {
            o.MaxAge = TimeSpan.FromDays(options.HstsMaxAgeDays);
            o.IncludeSubDomains = options.HstsIncludeSubDomains;
        });
        builder.Services.AddSingleton<SiteOrigins>();
        return builder;
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
}
