using Parley.Server.Events;

namespace Parley.Server.Features.Csat;

public static class CsatSetup
{
    public static IServiceCollection AddCsat(this IServiceCollection services)
    {
        services.AddScoped<CsatService>();
        services.AddSingleton<IDomainEventListener<ConversationRated>, RatingFanout>();
        return services;
    }
}
