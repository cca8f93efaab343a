using Parley.Data;
using Parley.Server.Realtime;

namespace Parley.Server.Messaging;

internal static class MessageMapper
{
    public static MessageDto ToDto(Message m, Audience audience) => new()
    {
        Id = m.Id,
        ConversationId = m.ConversationId,
        Seq = audience == Audience.Visitor ? m.VisitorSeq ?? 0 : m.Seq,
        ClientId = m.ClientId,
        SenderKind = WireNames.Of(m.SenderKind),
        SenderId = m.SenderId,
        SenderName = m.SenderName,
        Kind = WireNames.Of(m.Kind),
        Body = m.Body,
        CreatedAt = m.CreatedAt,
    };

    public static SendAck ToAck(WriteResult result, Audience audience)
    {
        var m = result.Message!;
        return new SendAck
        {
            ConversationId = m.ConversationId,
            ClientId = m.ClientId,
            Id = m.Id,
            Seq = audience == Audience.Visitor ? m.VisitorSeq ?? 0 : m.Seq,
            CreatedAt = m.CreatedAt,
            Duplicate = result.Outcome == WriteOutcome.Duplicate,
        };
    }
}
