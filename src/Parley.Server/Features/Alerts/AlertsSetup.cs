namespace Parley.Server.Features.Alerts;

/// <summary>Alerts to people: rules evaluated in-process, notices to webhook, Slack, WeCom and DingTalk channels (docs/operations.md).</summary>
public static class AlertsSetup
{
    public static WebApplicationBuilder AddAlerts(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<AlertsOptions>().BindConfiguration(AlertsOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddSingleton<AlertSignals>();
        builder.Services.AddSingleton<AlertSender>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<AlertSender>());
        builder.Services.AddSingleton<AlertEvaluator>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<AlertEvaluator>());
        builder.Services.AddScoped<AlertService>();
        return builder;
    }
}
