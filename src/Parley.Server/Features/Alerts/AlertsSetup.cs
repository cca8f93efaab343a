namespace Parley.Server.Features.Alerts;

/// <summary>Alerts to people: rules evaluated in-process, notices to webhook, Slack, WeCom and DingTalk channels (docs/operations.md).</summary>
public static class AlertsSetup
{
    public static IServiceCollection AddAlerts(this IServiceCollection services)
    {
        services.AddOptions<AlertsOptions>().BindConfiguration(AlertsOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<AlertSignals>();
        services.AddSingleton<AlertSender>();
        services.AddHostedService(sp => sp.GetRequiredService<AlertSender>());
        services.AddSingleton<AlertEvaluator>();
        services.AddHostedService(sp => sp.GetRequiredService<AlertEvaluator>());
        services.AddScoped<AlertService>();
        return services;
    }
}
