using System.Security.Claims;
using System.Text.Json;
using Google.Protobuf;
using Microsoft.AspNetCore.Http.HttpResults;
using Parley.Server.Infrastructure;

namespace Parley.Server.Features.Integration;

public static class EventsApi
{
    public const string ProtobufContentType = "application/x-protobuf";

    public static IEndpointRouteBuilder MapEventsApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/v1/events")
            .WithTags("Business events")
            .RequireAuthorization(ParleyClaims.AdminPolicy)
            .WithParleyErrors();

        api.MapPost("/", PostAsync).WithName("PostBusinessEvent").WithIdempotencyKey()
            .Accepts<BusinessEventRequest>("application/json", ProtobufContentType)
            .WithSummary("Record a business event (order, customer, ticket, custom) on a contact's timeline")
            .WithDescription("""
                JSON: {"event_type":"ORDER","contact":{"external_id":"c-42"},"data":{"order_id":"A-1001","status":"shipped"},"occurred_at":"2026-11-25T10:00:00Z"}.
                The contact is found by external_id, then email, then phone; with site_key an unknown contact is created.
                Also accepts Content-Type application/x-protobuf with a parley.v1.BusinessEvent message (proto/parley.proto).
                Agents viewing one of the contact's conversations get it live (hub event contactEvent); webhooks and gRPC
                subscribers get business.<type>. Send an Idempotency-Key header to make retries safe.
                """);
        return app;
    }

    internal static async Task<Results<Created<BusinessEventReply>, ProblemHttpResult>> PostAsync(HttpRequest request, BusinessEventService service, ClaimsPrincipal user, CancellationToken cancellationToken)
    {
        BusinessEventRequest? body;
        try
        {
            if (request.ContentType?.StartsWith(ProtobufContentType, StringComparison.OrdinalIgnoreCase) == true)
            {
                using var buffer = new MemoryStream();
                await request.Body.CopyToAsync(buffer, cancellationToken);
                body = ProtoMapping.ToRequest(Parley.Grpc.BusinessEvent.Parser.ParseFrom(buffer.ToArray()));
            }
            else if (request.HasJsonContentType())
            {
                body = await request.ReadFromJsonAsync<BusinessEventRequest>(cancellationToken);
            }
            else
            {
                return Problems.Create(ErrorCatalogue.UnsupportedMediaType, $"Send application/json or {ProtobufContentType}.");
            }
        }
        catch (Exception ex) when (ex is JsonException or InvalidProtocolBufferException)
        {
            return Problems.Create(ErrorCatalogue.InvalidRequest, "The body is not a valid business event.", ex.Message);
        }

        if (body is null)
        {
            return Problems.Create(ErrorCatalogue.InvalidRequest, "The body is empty.");
        }

        var reply = await service.RecordAsync(body, user, cancellationToken);
        return TypedResults.Created($"/api/v1/contacts/{reply.ContactId}/events", reply);
    }
}

/// <summary>Conversions between the gRPC/protobuf contract and the core's request types.</summary>
internal static class ProtoMapping
{
    public static BusinessEventRequest ToRequest(Parley.Grpc.BusinessEvent message)
    {
        JsonElement? data = message.Data is null ? null : JsonSerializer.Deserialize<JsonElement>(JsonFormatter.Default.Format(message.Data));
        return new BusinessEventRequest(
            message.EventType,
            message.Contact is null ? null : new ContactRefInput(message.Contact.ExternalId, message.Contact.Email, message.Contact.Phone),
            data,
            message.OccurredAt?.ToDateTimeOffset(),
            string.IsNullOrEmpty(message.SiteKey) ? null : message.SiteKey);
    }
}
