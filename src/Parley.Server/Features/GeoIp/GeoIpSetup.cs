namespace Parley.Server.Features.GeoIp;

public static class GeoIpSetup
{
    public static IServiceCollection AddGeoIp(this IServiceCollection services)
    {
        services.AddOptions<GeoIpOptions>().BindConfiguration(GeoIpOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<GeoIpLocator>();
        services.AddHostedService<GeoIpStartup>();
        return services;
    }

    /// <summary>Opens the database at start rather than on the first visitor, so the log tells the operator which one is in use.</summary>
    private sealed class GeoIpStartup : IHostedService
    {
        public GeoIpStartup(GeoIpLocator locator) => _ = locator.Enabled; // being constructed is the work

        public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
