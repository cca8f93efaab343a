using Parley.Adapters;

namespace Parley.Server.Features.Adapters;

public static class AdaptersSetup
{
    public static IServiceCollection AddContextAdapters(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<AdapterOptions>().BindConfiguration(AdapterOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        var configured = configuration.GetSection(AdapterOptions.Section).Get<AdapterOptions>() ?? new AdapterOptions();
        foreach (var http in configured.Http)
        {
            var adapterOptions = http;
            services.AddSingleton<IContextAdapter>(_ => new HttpContextAdapter(adapterOptions, HttpContextAdapter.CreateClient(adapterOptions)));
        }

        services.AddSingleton<AdapterHealth>();
        services.AddSingleton<ContextService>();
        return services;
    }
}
