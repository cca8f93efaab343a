using Microsoft.OpenApi;
using Parley.Data;
using Parley.Server.Events;
using Parley.Server.Features.Adapters;
using Parley.Server.Features.Webhooks;
using Parley.Server.Infrastructure;
using Parley.Server.Messaging;
using Parley.Server.Realtime;

namespace Parley.Server.Features.Integration;

/// <summary>
/// The integration event types. Adding one is one <see cref="IntegrationSetup.AddIntegrationEvent{TEvent}"/> line
/// in <see cref="IntegrationSetup.AddIntegrationEventSources"/> plus its name here.
/// </summary>
public static class IntegrationEventTypes
{
    public const string ConversationCreated = "conversation.created";
    public const string ConversationAssigned = "conversation.assigned";
    public const string ConversationClosed = "conversation.closed";
    public const string ConversationReopened = "conversation.reopened";
    public const string ConversationQueued = "conversation.queued";
    public const string QueueOverflowed = "queue.overflowed";
    public const string ConversationTakeoverSuggested = "conversation.takeover_suggested";
    public const string MessageCreated = "message.created";
    public const string ContactUpdated = "contact.updated";
    public const string CsatSubmitted = "csat.submitted";
    public const string WebhookDisabled = "webhook.disabled";
    public const string BusinessPrefix = "business.";

    public static readonly IReadOnlyList<string> Known =
    [
        ConversationCreated, ConversationAssigned, ConversationClosed, ConversationReopened, ConversationQueued, QueueOverflowed,
        ConversationTakeoverSuggested, MessageCreated, ContactUpdated, CsatSubmitted, WebhookDisabled,
        "business.order", "business.customer", "business.ticket", "business.<custom>",
    ];
}

public static class IntegrationSetup
{
    public static IServiceCollection AddParleyIntegration(this IServiceCollection services, IConfiguration configuration)
    {
        // Business systems authenticate like everyone else: a user's personal API token (Bearer pat_...), acting as
        // that user through the access policy. Webhooks and inbound events are admin features; docs/integration.md.
        services.AddOptions<WebhookOptions>().BindConfiguration(WebhookOptions.Section).ValidateDataAnnotations().ValidateOnStart();

        services.AddSingleton<IntegrationEventSignal>();
        services.AddSingleton<IntegrationEventLog>();
        services.AddSingleton<WebhookSubscriptions>();
        services.AddHostedService(sp => sp.GetRequiredService<WebhookSubscriptions>());
        services.AddSingleton<MessageEventJournal>();
        services.AddHostedService(sp => sp.GetRequiredService<IntegrationEventLog>());
        services.AddSingleton<WebhookDispatcher>();
        services.AddScoped<WebhookService>();
        services.AddScoped<WebhookAdminNotice>();
        services.AddScoped<BusinessEventService>();
        services.AddSingleton<IDomainEventListener<ContactEventRecorded>, ContactEventFanout>();
        if (configuration.GetValue(WebhookOptions.Section + ":" + nameof(WebhookOptions.WorkerEnabled), true))
        {
            services.AddHostedService(sp => sp.GetRequiredService<WebhookDispatcher>());
        }

        services.AddGrpc(o => o.Interceptors.Add<GrpcErrorInterceptor>());
        services.Configure<Microsoft.AspNetCore.OpenApi.OpenApiOptions>("v1", o => o.AddOperationTransformer(DocumentIdempotencyKey));
        services.AddContextAdapters(configuration);
        services.AddIntegrationEventSources();
        return services;
    }

    public static IEndpointRouteBuilder MapIntegrationApi(this IEndpointRouteBuilder app)
    {
        app.MapWebhooksApi();
        app.MapEventsApi();
        app.MapContactsApi();
        app.MapContextApi();
        app.MapGrpcService<ParleyGrpcService>();
        return app;
    }

    /// <summary>Adds the optional <c>Idempotency-Key</c> header to every POST operation that honours it.</summary>
    private static Task DocumentIdempotencyKey(OpenApiOperation operation, Microsoft.AspNetCore.OpenApi.OpenApiOperationTransformerContext context, CancellationToken cancellationToken)
    {
        var description = context.Description;
        if (string.Equals(description.HttpMethod, "POST", StringComparison.OrdinalIgnoreCase)
            && IdempotencyKeys.Applies(description.RelativePath, new EndpointMetadataCollection(description.ActionDescriptor.EndpointMetadata)))
        {
            operation.Parameters ??= [];
            operation.Parameters.Add(new OpenApiParameter
            {
                Name = IdempotencyKeys.Header,
                In = ParameterLocation.Header,
                Required = false,
                Description = "Makes a retry safe: the first response for this key (per caller) is stored and replayed for the same request (Idempotent-Replayed: true); another request with the same key is 422 idempotency_key_reused. At most 200 characters.",
                Schema = new OpenApiSchema { Type = JsonSchemaType.String, MaxLength = 200 },
                Example = System.Text.Json.Nodes.JsonValue.Create("order-A-1001-shipped"),
            });
        }

        return Task.CompletedTask;
    }

    /// <summary>Which domain events become integration events (webhooks, gRPC streams). One line per event kind.</summary>
    private static void AddIntegrationEventSources(this IServiceCollection services)
    {
        // message.created is not here: the group commit stores it with the message (MessageEventJournal).
        services.AddIntegrationEvent<ConversationChanged>(e => e.Change is "created" or "closed" or "reopened"
            ? new("conversation." + e.Change, e.Conversation.Id, e.Conversation.ContactId, e.Conversation.ToSummary())
            : null); // assignment and queue changes come from routing's own events below, with their reason
        services.AddIntegrationEvent<Routing.ConversationAssigned>(e => new(IntegrationEventTypes.ConversationAssigned, e.ConversationId, null,
            new { e.ConversationId, e.AgentId, e.PreviousAgentId, e.TeamId, Reason = Name(e.Reason) }));
        services.AddIntegrationEvent<Routing.ConversationQueued>(e => new(IntegrationEventTypes.ConversationQueued, e.ConversationId, null,
            new { e.ConversationId, e.TeamId, e.Priority, e.Reason }));
        services.AddIntegrationEvent<Routing.ConversationOverflowed>(e => new(IntegrationEventTypes.QueueOverflowed, e.ConversationId, null,
            new { e.ConversationId, e.FromTeamId, e.ToTeamId, Offline = e.ToTeamId is null }));
        services.AddIntegrationEvent<Ai.TakeoverSuggested>(e => new(IntegrationEventTypes.ConversationTakeoverSuggested, e.ConversationId, null,
            new { e.ConversationId, e.TeamId, e.AssigneeId, e.Reason, e.Similarity, e.Sentiment, e.BotActive, e.RaisedAt }));
        services.AddIntegrationEvent<Csat.ConversationRated>(e => new(IntegrationEventTypes.CsatSubmitted, e.Rating.ConversationId, null, e.Rating));
        services.AddIntegrationEvent<ContactUpdated>(e => new(IntegrationEventTypes.ContactUpdated, null, e.Contact.Id, e.Contact));
    }

    private static string Name(Routing.AssignReason reason) => System.Text.Json.JsonNamingPolicy.CamelCase.ConvertName(reason.ToString());

    public static IServiceCollection AddIntegrationEvent<TEvent>(this IServiceCollection services, Func<TEvent, IntegrationEventDraft?> map) =>
        services.AddSingleton<IDomainEventListener<TEvent>>(sp => new IntegrationEventSource<TEvent>(sp.GetRequiredService<IntegrationEventLog>(), map));
}
