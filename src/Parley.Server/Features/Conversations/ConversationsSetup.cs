namespace Parley.Server.Features.Conversations;

public static class ConversationsSetup
{
    /// <summary>The conversation lifecycle (start, assign, close, reopen, transfer) shared by hubs and REST.</summary>
    public static IServiceCollection AddConversations(this IServiceCollection services)
    {
        services.AddScoped<ConversationService>();
        return services;
    }
}
