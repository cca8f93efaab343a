using System.ComponentModel.DataAnnotations;
using System.Globalization;
using System.Net;
using System.Net.Mail;
using System.Text;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Parley.Data;
using Parley.Server.Infrastructure;

namespace Parley.Server.Features.Transcripts;

/// <summary>SMTP for transcripts. Without a host the feature is off and the widget hides the option.</summary>
public sealed class SmtpOptions
{
    public const string Section = "Parley:Smtp";

    public string? Host { get; set; }

    [Range(1, 65535)]
    public int Port { get; set; } = 587;

    /// <summary>Use STARTTLS/TLS (System.Net.Mail's EnableSsl).</summary>
    public bool EnableSsl { get; set; } = true;

    public string? UserName { get; set; }

    public string? Password { get; set; }

    [EmailAddress]
    public string From { get; set; } = "parley@localhost";

    [Range(1, 300)]
    public int TimeoutSeconds { get; set; } = 30;

    public bool Enabled => !string.IsNullOrWhiteSpace(Host);

    /// <summary>A client for one send, configured from these options (every mail Parley sends goes through here).</summary>
    public SmtpClient CreateClient() => new(Host, Port)
    {
        EnableSsl = EnableSsl,
        Timeout = TimeoutSeconds * 1000,
        Credentials = UserName is { Length: > 0 } ? new NetworkCredential(UserName, Password) : null,
    };
}

/// <summary>
/// Sends a plain-text transcript of what the visitor saw (no internal notes). System.Net.Mail is used because
/// MailKit is not among the packages this build may use; it is adequate for submitting one message to a relay.
/// </summary>
public sealed partial class TranscriptMailer(ParleyDbContext db, IOptions<SmtpOptions> options, ILogger<TranscriptMailer> logger)
{
    public bool Enabled => options.Value.Enabled;

    public async Task SendAsync(Guid conversationId, Guid contactId, string? email, CancellationToken cancellationToken)
    {
        var smtp = options.Value;
        if (!smtp.Enabled)
        {
            throw new ParleyException("transcript_unavailable", "Transcripts by email are not configured on this server.", StatusCodes.Status404NotFound);
        }

        var conversation = await db.Conversations.AsNoTracking().FirstOrDefaultAsync(c => c.Id == conversationId && c.ContactId == contactId, cancellationToken)
            ?? throw ParleyException.NotFound();
        var contact = await db.Contacts.AsNoTracking().FirstAsync(c => c.Id == contactId, cancellationToken);
        var site = await db.Sites.AsNoTracking().FirstAsync(s => s.Id == conversation.SiteId, cancellationToken);
        var to = string.IsNullOrWhiteSpace(email) ? contact.Email : email.Trim();
        if (string.IsNullOrEmpty(to) || !MailAddress.TryCreate(to, out var address))
        {
            throw new ParleyException("email_required", "An email address is needed for the transcript.");
        }

        var messages = await db.Messages.AsNoTracking()
            .Where(m => m.ConversationId == conversationId && m.VisitorSeq != null)
            .OrderBy(m => m.VisitorSeq).Take(2000).ToListAsync(cancellationToken);
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"Conversation with {site.Name}, started {conversation.CreatedAt:yyyy-MM-dd HH:mm} UTC\n\n");
        foreach (var m in messages)
        {
            var who = m.SenderKind switch
            {
                SenderKind.Visitor => "You",
                SenderKind.System => "—",
                _ => m.SenderName ?? site.Name,
            };
            var body = m.Kind == MessageKind.Attachment ? "[file] " + Attachments.AttachmentBody.NameOf(m.Body) : m.Body;
            text.Append(CultureInfo.InvariantCulture, $"[{m.CreatedAt:yyyy-MM-dd HH:mm}] {who}: {body}\n");
        }

        using var mail = new MailMessage(new MailAddress(smtp.From, site.Name), address)
        {
            Subject = $"Your conversation with {site.Name}",
            Body = text.ToString(),
            BodyEncoding = Encoding.UTF8,
            SubjectEncoding = Encoding.UTF8,
        };
        using var client = smtp.CreateClient();
        try
        {
            await client.SendMailAsync(mail, cancellationToken);
        }
        catch (SmtpException ex)
        {
            LogSendFailed(logger, ex, conversationId);
            throw new ParleyException("transcript_failed", "The transcript could not be sent; try again later.", StatusCodes.Status502BadGateway);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Sending the transcript of {ConversationId} failed")]
    private static partial void LogSendFailed(ILogger logger, Exception exception, Guid conversationId);
}
