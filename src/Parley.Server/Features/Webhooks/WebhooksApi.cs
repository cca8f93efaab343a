using Microsoft.AspNetCore.Http.HttpResults;
using Parley.Server.Features.Integration;
using Parley.Server.Infrastructure;

namespace Parley.Server.Features.Webhooks;

public static class WebhooksApi
{
    public static IEndpointRouteBuilder MapWebhooksApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/v1/webhooks")
            .WithTags("Webhooks")
            .RequireAuthorization(ParleyClaims.AdminPolicy)
            .WithParleyErrors();

        api.MapGet("/", ListAsync).WithName("ListWebhooks").WithSummary("Webhook endpoints");
        api.MapGet("/event-types", () => TypedResults.Ok(IntegrationEventTypes.Known)).WithName("ListWebhookEventTypes")
            .WithSummary("Event types an endpoint can subscribe to")
            .WithDescription("Subscribe with exact names, \"prefix.*\" (e.g. \"conversation.*\") or \"*\" for everything.");
        api.MapPost("/", CreateAsync).WithName("CreateWebhook").WithIdempotencyKey()
            .WithSummary("Create a webhook endpoint")
            .WithDescription("The response carries the signing secret (whsec_...). Loopback and private targets are refused unless the server allows private targets (Parley:Webhooks:AllowPrivateTargets); link-local and cloud metadata addresses always are.");
        api.MapGet("/{id:guid}", GetAsync).WithName("GetWebhook").WithSummary("One webhook endpoint");
        api.MapPatch("/{id:guid}", UpdateAsync).WithName("UpdateWebhook")
            .WithSummary("Change an endpoint; enabled=true re-enables one the server disabled");
        api.MapDelete("/{id:guid}", DeleteAsync).WithName("DeleteWebhook").WithSummary("Delete an endpoint and its delivery log");
        api.MapPost("/{id:guid}/rotate-secret", RotateAsync).WithName("RotateWebhookSecret").WithSummary("Replace the signing secret");
        api.MapGet("/{id:guid}/deliveries", DeliveriesAsync).WithName("ListWebhookDeliveries")
            .WithSummary("Delivery log, newest first")
            .WithDescription("Pass nextCursor back as cursor for the next page; limit is at most 200.");
        api.MapGet("/{id:guid}/deliveries/{deliveryId:long}", DeliveryAsync).WithName("GetWebhookDelivery")
            .WithSummary("One delivery with every attempt's request and (truncated) response");
        api.MapPost("/{id:guid}/deliveries/{deliveryId:long}/redeliver", RedeliverAsync).WithName("RedeliverWebhook")
            .WithSummary("Send the delivery's event again (a new delivery, same webhook-id)");
        return app;
    }

    internal static async Task<Ok<List<WebhookEndpointDto>>> ListAsync(WebhookService service, CancellationToken cancellationToken) =>
        TypedResults.Ok(await service.ListAsync(cancellationToken));

    internal static async Task<Created<WebhookEndpointDto>> CreateAsync(CreateWebhookRequest request, WebhookService service, CancellationToken cancellationToken)
    {
        var created = await service.CreateAsync(request, cancellationToken);
        return TypedResults.Created($"/api/v1/webhooks/{created.Id}", created);
    }

    internal static async Task<Ok<WebhookEndpointDto>> GetAsync(Guid id, WebhookService service, CancellationToken cancellationToken) =>
        TypedResults.Ok(await service.GetAsync(id, cancellationToken));

    internal static async Task<Ok<WebhookEndpointDto>> UpdateAsync(Guid id, UpdateWebhookRequest request, WebhookService service, CancellationToken cancellationToken) =>
        TypedResults.Ok(await service.UpdateAsync(id, request, cancellationToken));

    internal static async Task<NoContent> DeleteAsync(Guid id, WebhookService service, CancellationToken cancellationToken)
    {
        await service.DeleteAsync(id, cancellationToken);
        return TypedResults.NoContent();
    }

    internal static async Task<Ok<WebhookEndpointDto>> RotateAsync(Guid id, WebhookService service, CancellationToken cancellationToken) =>
        TypedResults.Ok(await service.RotateSecretAsync(id, cancellationToken));

    internal static async Task<Ok<Page<WebhookDeliveryDto>>> DeliveriesAsync(Guid id, WebhookService service, CancellationToken cancellationToken, string? cursor = null, int limit = 50)
    {
        var (items, next) = await service.DeliveriesAsync(id, cursor, limit, cancellationToken);
        return TypedResults.Ok(new Page<WebhookDeliveryDto>(items, next));
    }

    internal static async Task<Ok<WebhookDeliveryDto>> DeliveryAsync(Guid id, long deliveryId, WebhookService service, CancellationToken cancellationToken) =>
        TypedResults.Ok(await service.DeliveryAsync(id, deliveryId, cancellationToken));

    internal static async Task<Accepted<WebhookDeliveryDto>> RedeliverAsync(Guid id, long deliveryId, WebhookService service, CancellationToken cancellationToken)
    {
        var delivery = await service.RedeliverAsync(id, deliveryId, cancellationToken);
        return TypedResults.Accepted($"/api/v1/webhooks/{id}/deliveries/{delivery.Id}", delivery);
    }
}
