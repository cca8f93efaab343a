using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace Parley.Server.Features.Attachments;

public static class AttachmentsSetup
{
    /// <summary>The local disk store by default; with <c>Parley:Attachments:Store = s3</c> the bucket, and a readiness check for it.</summary>
    public static IServiceCollection AddAttachments(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<AttachmentOptions>().BindConfiguration(AttachmentOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<IValidateOptions<AttachmentOptions>, AttachmentOptionsValidator>();
        services.AddSingleton<LocalDiskAttachmentStore>();

        // Read eagerly: the store decides which services exist at all.
        var options = configuration.GetSection(AttachmentOptions.Section).Get<AttachmentOptions>() ?? new AttachmentOptions();
        if (options.Store == AttachmentStoreKind.S3)
        {
            services.AddSingleton<S3AttachmentStore>();
            services.TryAddSingleton<IAttachmentStore>(sp => sp.GetRequiredService<S3AttachmentStore>()); // a test may wrap it
            services.AddHealthChecks().Add(new HealthCheckRegistration(
                "attachments",
                sp => new S3AttachmentStoreHealthCheck(sp.GetRequiredService<S3AttachmentStore>()),
                options.S3.ReadinessRequiresBucket ? HealthStatus.Unhealthy : HealthStatus.Degraded,
                ["ready"]));
        }
        else
        {
            services.TryAddSingleton<IAttachmentStore>(sp => sp.GetRequiredService<LocalDiskAttachmentStore>()); // a test may wrap it
        }

        services.AddScoped<AttachmentService>();
        return services;
    }
}
