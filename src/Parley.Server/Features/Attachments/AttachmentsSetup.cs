using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Parley.Server.Features.Attachments;

public static class AttachmentsSetup
{
    public static IServiceCollection AddAttachments(this IServiceCollection services)
    {
        services.AddOptions<AttachmentOptions>().BindConfiguration(AttachmentOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<LocalDiskAttachmentStore>();
        services.TryAddSingleton<IAttachmentStore>(sp => sp.GetRequiredService<LocalDiskAttachmentStore>()); // a test may wrap it
        services.AddScoped<AttachmentService>();
        return services;
    }
}
