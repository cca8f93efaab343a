using System.Text.Json;
using System.Text.Json.Serialization;
using Parley.Data;
using Parley.Server.Features.Webhooks;
using Parley.Server.Messaging;

namespace Parley.Server.Features.Integration;

/// <summary>
/// The integration event that is one-to-one with a committed message, <c>message.created</c>: stored by the group commit
/// in the message's own transaction (Messaging/GroupCommit.Events.cs), not by <see cref="IntegrationEventLog"/>'s loop.
/// This class holds what the commit needs from the integration side: which messages have an event, the payload, the
/// subscribed endpoints (in memory) and the wake-up of webhook workers and gRPC streams after the commit.
/// </summary>
public sealed class MessageEventJournal(WebhookSubscriptions subscriptions, IntegrationEventSignal signal)
{
    public const string Type = IntegrationEventTypes.MessageCreated;

    public WebhookSubscriptions Subscriptions => subscriptions;

    /// <summary>Event lines (assigned, closed) are reported as conversation events instead.</summary>
    public static bool Records(Message message) => message.Kind != MessageKind.Event;

    /// <summary>
    /// The event's <c>data</c>: the message as agents see it, byte for byte what the log stored before it moved into the
    /// commit (web defaults: camelCase, nulls written), serialised by generated code rather than reflection.
    /// </summary>
    public static string Payload(Message message) =>
        JsonSerializer.Serialize(MessageMapper.ToDto(message, Audience.Agent), IntegrationJsonContext.Default.MessageDto);

    /// <summary>The same payload as UTF-8, into <paramref name="writer"/> (SQLite's commit binds the bytes: no string).</summary>
    public static void WritePayload(Message message, Utf8JsonWriter writer) =>
        JsonSerializer.Serialize(writer, MessageMapper.ToDto(message, Audience.Agent), IntegrationJsonContext.Default.MessageDto);

    /// <summary>After a commit that stored events: wakes this node's gRPC streams, and its webhook workers when an endpoint subscribes.</summary>
    public void Committed(bool outboxRows) => signal.Notify(outboxRows);
}

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(MessageDto))]
internal sealed partial class IntegrationJsonContext : JsonSerializerContext;
