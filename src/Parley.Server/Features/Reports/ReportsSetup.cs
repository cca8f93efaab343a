using Parley.Server.Events;
using Parley.Server.Features.Csat;
using Parley.Server.Realtime;

namespace Parley.Server.Features.Reports;

public static class ReportsSetup
{
    public static IServiceCollection AddReports(this IServiceCollection services)
    {
        services.AddOptions<ReportsOptions>().BindConfiguration(ReportsOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddScoped<ReportService>();
        services.AddSingleton<ReportRollupMaterialiser>();
        services.AddHostedService(sp => sp.GetRequiredService<ReportRollupMaterialiser>());
        services.AddSingleton<ConversationFactsRefresher>();
        services.AddHostedService(sp => sp.GetRequiredService<ConversationFactsRefresher>());
        services.AddSingleton<IDomainEventListener<ConversationChanged>>(sp => sp.GetRequiredService<ConversationFactsRefresher>());
        services.AddSingleton<IDomainEventListener<ConversationRated>>(sp => sp.GetRequiredService<ConversationFactsRefresher>());
        return services;
    }
}
