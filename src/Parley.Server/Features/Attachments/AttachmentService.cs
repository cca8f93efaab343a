using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Parley.Data;
using Parley.Server.Infrastructure;
using Parley.Server.Messaging;
using Parley.Server.Realtime;

namespace Parley.Server.Features.Attachments;

/// <summary>How an attachment message describes its file (the message body, as JSON).</summary>
public sealed record AttachmentInfo(Guid Id, string Name, string ContentType, long Size, bool Image, string Url);

/// <summary>
/// Upload = check access, sniff the type from the first bytes (before anything is stored), stream the rest to
/// the store under the size limit, record it, then send an "attachment" message through the normal message path
/// (seq, ack, fan-out, replay; idempotent by client id).
/// </summary>
public sealed class AttachmentService(
    ParleyDbContext db,
    IAttachmentStore store,
    MessageService messages,
    MessageWriter writer,
    IOptions<AttachmentOptions> options,
    Access.AccessPolicy access,
    TimeProvider time)
{
    public async Task<SendAck> UploadAsync(Actor actor, Guid conversationId, string? clientIdText, string? fileName, Stream body, long? declaredLength, CancellationToken cancellationToken)
    {
        var clientId = Ids.Parse(clientIdText, "clientId");
        var max = options.Value.MaxBytes;
        if (declaredLength > max)
        {
            throw TooLarge(max);
        }

        var conversation = await messages.FindAccessibleAsync(actor, conversationId, cancellationToken);
        var isVisitor = actor.Audience == Audience.Visitor;
        if (isVisitor && conversation.Status == ConversationStatus.Closed)
        {
            throw new ParleyException(ErrorCatalogue.ConversationClosed, "The conversation is closed; start a new one.");
        }

        // A retried upload (same client id) answers with the original message and stores nothing new.
        var previous = await db.Messages.AsNoTracking().FirstOrDefaultAsync(m => m.ClientId == clientId && m.ConversationId == conversationId, cancellationToken);
        if (previous is not null)
        {
            var sameSender = previous.SenderId == actor.PrincipalId && previous.SenderKind == (isVisitor ? SenderKind.Visitor : SenderKind.Agent);
            return WriteOutcomes.AckOrThrow(new WriteResult(sameSender ? WriteOutcome.Duplicate : WriteOutcome.ClientIdTaken, previous), actor.Audience);
        }

        var head = new byte[FileTypes.SniffLength];
        var headLength = await body.ReadAtLeastAsync(head, head.Length, throwOnEndOfStream: false, cancellationToken);
        if (headLength == 0)
        {
            throw new ParleyException(ErrorCatalogue.AttachmentEmpty, "The file is empty.");
        }

        var type = FileTypes.Detect(head.AsSpan(0, headLength))
            ?? throw new ParleyException(ErrorCatalogue.AttachmentTypeNotAllowed, "Only images (PNG, JPEG, GIF, WebP), PDF, ZIP and plain text files can be sent.");

        string key;
        long size;
        await using (var content = new PrefixedStream(head.AsMemory(0, headLength), body, max))
        {
            try
            {
                key = await store.SaveAsync(content, cancellationToken);
            }
            catch (PrefixedStream.LimitExceededException)
            {
                throw TooLarge(max);
            }

            size = content.Position;
        }

        var attachment = new Attachment
        {
            Id = Guid.NewGuid(),
            ConversationId = conversationId,
            UploaderKind = isVisitor ? SenderKind.Visitor : SenderKind.Agent,
            UploaderId = actor.PrincipalId,
            FileName = FileTypes.SafeName(fileName, type),
            ContentType = type.ContentType,
            Size = size,
            StorageKey = key,
            AccessKey = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16)),
            CreatedAt = time.GetUtcNow().UtcDateTime,
        };
        db.Attachments.Add(attachment);
        await db.SaveChangesAsync(cancellationToken);

        var info = Describe(attachment);
        var command = new WriteCommand(
            conversationId,
            clientId,
            attachment.UploaderKind,
            actor.PrincipalId,
            actor.Name,
            MessageKind.Attachment,
            JsonSerializer.Serialize(info, JsonSerializerOptions.Web))
        {
            RequiredContactId = isVisitor ? actor.PrincipalId : null,
            RejectIfClosed = isVisitor,
            PreviewText = "📎 " + attachment.FileName,
        };
        var result = await writer.WriteAsync(command, cancellationToken);
        if (WriteOutcomes.ErrorOf(result.Outcome) is { } refused)
        {
            await store.DeleteAsync(key, CancellationToken.None);
            await db.Attachments.Where(a => a.Id == attachment.Id).ExecuteDeleteAsync(CancellationToken.None);
            throw refused;
        }

        return MessageMapper.ToAck(result, actor.Audience);
    }

    /// <summary>
    /// The file when the access key matches (constant time); null otherwise, for an unknown id too. The key is a
    /// capability (the widget's images cannot send a token); a signed-in console user must in addition be allowed to
    /// read the conversation (department sandbox), so a leaked link does not cross departments in the console.
    /// </summary>
    public async Task<(Attachment Attachment, Stream Content)?> OpenAsync(Guid id, string? accessKey, Actor? consoleUser, CancellationToken cancellationToken)
    {
        var attachment = await db.Attachments.AsNoTracking().FirstOrDefaultAsync(a => a.Id == id, cancellationToken);
        if (attachment is null || string.IsNullOrEmpty(accessKey)
            || !CryptographicOperations.FixedTimeEquals(System.Text.Encoding.ASCII.GetBytes(attachment.AccessKey), System.Text.Encoding.ASCII.GetBytes(accessKey)))
        {
            return null;
        }

        if (consoleUser is { } user)
        {
            try
            {
                await access.RequireConversationAsync(user, attachment.ConversationId, Access.ConversationAction.Read, cancellationToken);
            }
            catch (ParleyException ex) when (ex.Status is StatusCodes.Status404NotFound or StatusCodes.Status403Forbidden)
            {
                return null;
            }
        }

        return await store.OpenReadAsync(attachment.StorageKey, cancellationToken) is { } content ? (attachment, content) : null;
    }

    public static AttachmentInfo Describe(Attachment a) => new(
        a.Id, a.FileName, a.ContentType, a.Size, a.ContentType.StartsWith("image/", StringComparison.Ordinal), $"/api/v1/attachments/{a.Id}?k={a.AccessKey}");

    private static ParleyException TooLarge(long max) =>
        new(ErrorCatalogue.AttachmentTooLarge, $"The file is larger than {max / 1024 / 1024.0:0.#} MB.");
}

/// <summary>
/// Bytes already read (a sniffed head) followed by the rest of a stream, read-only and forward-only; throws
/// <see cref="LimitExceededException"/> past <c>limit</c> bytes. Disposes <c>rest</c> only when it owns it.
/// </summary>
internal sealed class PrefixedStream(ReadOnlyMemory<byte> head, Stream rest, long limit = long.MaxValue, bool ownsRest = false) : Stream
{
    private long _position;

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => _position; set => throw new NotSupportedException(); }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        int read;
        if (_position < head.Length)
        {
            read = Math.Min(buffer.Length, head.Length - (int)_position);
            head.Slice((int)_position, read).CopyTo(buffer);
        }
        else
        {
            read = await rest.ReadAsync(buffer, cancellationToken);
        }

        _position += read;
        if (_position > limit)
        {
            throw new LimitExceededException();
        }

        return read;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException("Synchronous reads are not used.");

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override async ValueTask DisposeAsync()
    {
        if (ownsRest)
        {
            await rest.DisposeAsync();
        }

        await base.DisposeAsync();
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing && ownsRest)
        {
            rest.Dispose();
        }

        base.Dispose(disposing);
    }

    internal sealed class LimitExceededException : Exception
    {
    }
}

/// <summary>Reading the JSON body of an attachment message.</summary>
public static class AttachmentBody
{
    public static string NameOf(string body)
    {
        try
        {
            return JsonSerializer.Deserialize<AttachmentInfo>(body, JsonSerializerOptions.Web)?.Name ?? "file";
        }
        catch (JsonException)
        {
            return "file";
        }
    }
}
