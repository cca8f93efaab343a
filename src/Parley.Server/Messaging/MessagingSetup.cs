using Parley.Server.Events;

namespace Parley.Server.Messaging;

public static class MessagingSetup
{
    public static IServiceCollection AddParleyMessaging(this IServiceCollection services)
    {
        services.AddOptions<MessagingOptions>().BindConfiguration(MessagingOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<DomainEvents>();
        services.AddSingleton<GroupCommit>();
        services.AddSingleton(sp => new MessageWriter(
            sp.GetRequiredService<GroupCommit>(),
            sp.GetRequiredService<DomainEvents>(),
            sp.GetRequiredService<Microsoft.Extensions.Options.IOptions<MessagingOptions>>(),
            sp.GetRequiredService<Features.Metrics.ParleyMetrics>(),
            sp.GetRequiredService<Features.Metrics.LoadGovernor>(),
            sp.GetRequiredService<ILogger<MessageWriter>>()));
        services.AddHostedService(sp => sp.GetRequiredService<MessageWriter>());
        services.AddSingleton<MessageSender>();
        services.AddScoped<MessageService>();
        return services;
    }
}
