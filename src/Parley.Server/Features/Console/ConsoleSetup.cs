using Parley.Server.Events;
using Parley.Server.Messaging;

namespace Parley.Server.Features.Console;

public static class ConsoleSetup
{
    public static IServiceCollection AddConsoleFeatures(this IServiceCollection services)
    {
        services.AddOptions<ConsoleOptions>().BindConfiguration(ConsoleOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddScoped<Conversations.ConversationScope>();
        services.AddScoped<CannedReplyService>();
        services.AddScoped<LabelService>();
        services.AddScoped<ConsoleConversationActions>();
        services.AddScoped<ContactProfileService>();
        services.AddScoped<MessageSearch>();
        services.AddSingleton<MessageSearchIndexer>();
        services.AddHostedService(sp => sp.GetRequiredService<MessageSearchIndexer>());
        services.AddSingleton<SnoozeWaker>();
        services.AddHostedService(sp => sp.GetRequiredService<SnoozeWaker>());
        services.AddSingleton<IDomainEventListener<MessageCommitted>>(sp => sp.GetRequiredService<SnoozeWaker>());
        return services;
    }
}
