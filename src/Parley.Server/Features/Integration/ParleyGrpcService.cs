using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Microsoft.AspNetCore.Authorization;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Parley.Data;
using Parley.Grpc;
using Parley.Server.Features.Access;
using Parley.Server.Features.Auth;
using Parley.Server.Features.Webhooks;
using Parley.Server.Infrastructure;
using Parley.Server.Messaging;

namespace Parley.Server.Features.Integration;

/// <summary>
/// The gRPC transport (proto/parley.proto). It calls the same handlers as REST and the hubs: business events go
/// through <see cref="BusinessEventService"/>, messages through <see cref="MessageService"/>, and the event stream
/// reads the durable integration log that webhooks deliver from. Callers are console users (a personal API token):
/// what they may see and do is decided by the <see cref="AccessPolicy"/>, and each method needs the token scope of
/// the REST area it mirrors.
/// </summary>
[Authorize(Policy = ParleyClaims.AgentPolicy)]
internal sealed class ParleyGrpcService(IServiceScopeFactory scopes, IntegrationEventSignal signal, IOptions<WebhookOptions> options) : ParleyService.ParleyServiceBase
{
    private const int PageSize = 500;

    [ApiTokenScope("conversations", write: false)]
    public override async Task Subscribe(SubscribeRequest request, IServerStreamWriter<Event> responseStream, ServerCallContext context)
    {
        var topics = request.Topics.Where(t => !string.IsNullOrWhiteSpace(t)).Select(t => t.Trim()).ToArray();
        var after = Math.Max(0, request.FromEventId);
        var actor = Actor.Agent(context.GetHttpContext().User);
        var cancellationToken = context.CancellationToken;
        while (!cancellationToken.IsCancellationRequested)
        {
            // Wait handle first, then read: an event stored in between wakes the next wait instead of being missed.
            var woken = signal.WaitAsync(cancellationToken);
            List<IntegrationEvent> page;
            HashSet<long> visible;
            await using (var scope = scopes.CreateAsyncScope())
            {
                var db = scope.ServiceProvider.GetRequiredService<ParleyDbContext>();
                page = await db.IntegrationEvents.AsNoTracking().Where(e => e.Id > after).OrderBy(e => e.Id).Take(PageSize).ToListAsync(cancellationToken);
                // Checked per page, so a changed role, department or deactivation applies to the open stream too.
                visible = await VisibleAsync(scope.ServiceProvider.GetRequiredService<AccessPolicy>(), actor, page, cancellationToken);
            }

            foreach (var evt in page)
            {
                after = evt.Id;
                if (visible.Contains(evt.Id) && Matches(topics, evt.Type))
                {
                    await responseStream.WriteAsync(ToMessage(evt), cancellationToken);
                }
            }

            if (page.Count < PageSize)
            {
                // Other nodes' events arrive without a local signal; the poll interval bounds their delay.
                try
                {
                    await Task.WhenAny(woken, Task.Delay(options.Value.PollInterval, cancellationToken));
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    [ApiTokenScope("events", write: true)]
    [Authorize(Policy = ParleyClaims.AdminPolicy)] // like POST /api/v1/events: contacts are found and created across all sites
    public override async Task<PublishEventReply> PublishEvent(BusinessEvent request, ServerCallContext context)
    {
        await using var scope = scopes.CreateAsyncScope();
        var service = scope.ServiceProvider.GetRequiredService<BusinessEventService>();
        var reply = await service.RecordAsync(ProtoMapping.ToRequest(request), context.GetHttpContext().User, context.CancellationToken);
        return new PublishEventReply { Id = reply.Id, ContactId = reply.ContactId.ToString(), EventId = reply.EventId };
    }

    [ApiTokenScope("conversations", write: true)]
    public override async Task<SendMessageReply> SendMessage(SendMessageRequest request, ServerCallContext context)
    {
        await using var scope = scopes.CreateAsyncScope();
        var messages = scope.ServiceProvider.GetRequiredService<MessageService>();
        var ack = await messages.SendAsync(
            Actor.Agent(context.GetHttpContext().User),
            new SendRequest { ConversationId = request.ConversationId, ClientId = request.ClientId, Body = request.Body, Note = request.Note, AsBot = request.AsBot, BotName = request.BotName },
            context.CancellationToken);
        return new SendMessageReply
        {
            ConversationId = ack.ConversationId.ToString(),
            ClientId = ack.ClientId.ToString(),
            Id = ack.Id,
            Seq = ack.Seq,
            CreatedAt = Timestamp.FromDateTime(ack.CreatedAt),
            Duplicate = ack.Duplicate,
        };
    }

    /// <summary>
    /// The events of <paramref name="page"/> the actor may see: those of a conversation the access policy shows them,
    /// contact events (business events, profile changes) of a contact with such a conversation, and the rest only
    /// for users who see all departments.
    /// </summary>
    private static async Task<HashSet<long>> VisibleAsync(AccessPolicy access, Actor actor, List<IntegrationEvent> page, CancellationToken cancellationToken)
    {
        var scope = await access.ScopeAsync(actor, cancellationToken);
        if (scope.SeesAllDepartments || page.Count == 0)
        {
            return page.Select(e => e.Id).ToHashSet();
        }

        var conversationIds = page.Where(e => e.ConversationId is not null).Select(e => e.ConversationId!.Value).Distinct().ToList();
        var contactIds = page.Where(e => e.ConversationId is null && e.ContactId is not null).Select(e => e.ContactId!.Value).Distinct().ToList();
        var conversations = (await (await access.ConversationsAsync(actor, cancellationToken)).Where(c => conversationIds.Contains(c.Id)).Select(c => c.Id).ToListAsync(cancellationToken)).ToHashSet();
        var contacts = contactIds.Count == 0 ? [] : (await (await access.ContactsAsync(actor, cancellationToken)).Where(c => contactIds.Contains(c.Id)).Select(c => c.Id).ToListAsync(cancellationToken)).ToHashSet();
        return page.Where(e => e.ConversationId is { } c ? conversations.Contains(c) : e.ContactId is { } ct && contacts.Contains(ct)).Select(e => e.Id).ToHashSet();
    }

    /// <summary>A topic matches its exact type, every type under it ("conversation" → "conversation.closed"), or "*".</summary>
    internal static bool Matches(string[] topics, string type)
    {
        if (topics.Length == 0)
        {
            return true;
        }

        foreach (var topic in topics)
        {
            if (topic == "*" || string.Equals(topic, type, StringComparison.OrdinalIgnoreCase)
                || (type.Length > topic.Length && type[topic.Length] == '.' && type.StartsWith(topic, StringComparison.OrdinalIgnoreCase)))
            {
                return true;
            }
        }

        return false;
    }

    private static Event ToMessage(IntegrationEvent evt) => new()
    {
        Id = evt.Id,
        Type = evt.Type,
        ConversationId = evt.ConversationId?.ToString() ?? "",
        ContactId = evt.ContactId?.ToString() ?? "",
        DataJson = evt.DataJson,
        CreatedAt = Timestamp.FromDateTime(evt.CreatedAt),
    };
}

/// <summary>Maps the core's expected failures to gRPC statuses; the detail is "code: text" like hub errors.</summary>
internal sealed class GrpcErrorInterceptor : Interceptor
{
    public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            return await continuation(request, context);
        }
        catch (Exception ex) when (Map(ex) is { } rpc)
        {
            throw rpc;
        }
    }

    public override async Task ServerStreamingServerHandler<TRequest, TResponse>(TRequest request, IServerStreamWriter<TResponse> responseStream, ServerCallContext context, ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            await continuation(request, responseStream, context);
        }
        catch (Exception ex) when (Map(ex) is { } rpc)
        {
            throw rpc;
        }
    }

    private static RpcException? Map(Exception ex) => ex switch
    {
        ParleyException p => new RpcException(new Status(p.Status switch
        {
            StatusCodes.Status404NotFound => StatusCode.NotFound,
            StatusCodes.Status401Unauthorized => StatusCode.Unauthenticated,
            StatusCodes.Status403Forbidden => StatusCode.PermissionDenied,
            StatusCodes.Status409Conflict => StatusCode.FailedPrecondition,
            StatusCodes.Status413PayloadTooLarge => StatusCode.ResourceExhausted,
            StatusCodes.Status429TooManyRequests => StatusCode.ResourceExhausted,
            _ => StatusCode.InvalidArgument,
        }, p.Error.HubText(p.Message))),
        StoreUnavailableException s => new RpcException(new Status(StatusCode.Unavailable, ErrorCatalogue.Unavailable.HubText(s.Message))),
        _ => null,
    };
}
