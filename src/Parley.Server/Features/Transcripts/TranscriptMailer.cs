using System.ComponentModel.DataAnnotations;
using System.Globalization;
using System.Net;
using System.Net.Mail;
using System.Text;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Parley.Data;
using Parley.Server.Infrastructure;
using Parley.Server.Messaging;

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

    /// <summary>
    /// Parley's public address (<c>https://chat.example.com</c>) for links in mails (the transcript confirmation).
    /// Unset, the address the request came in on is used; set it when a proxy rewrites the Host.
    /// </summary>
    [Url]
    public string? PublicUrl { get; set; }

    /// <summary>How long a transcript confirmation link stays valid.</summary>
    [Range(1, 168)]
    public int ConfirmationHours { get; set; } = 24;

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
/// Transcripts by email, in two steps so that Parley is never a relay for whatever an anonymous visitor types to
/// whatever address they name: a request (the visitor's own <em>closed</em> conversation, rate-limited per visitor
/// and IP) mails a fixed confirmation text with a signed, expiring link to the address; opening the link mails the
/// plain-text transcript of what the visitor saw (no internal notes). Subjects and the sender name are fixed text
/// and the site's name (set by an admin), never visitor input. System.Net.Mail is used because MailKit is not among
/// the packages this build may use; it is adequate for submitting one message to a relay.
/// </summary>
public sealed partial class TranscriptMailer(ParleyDbContext db, IOptions<SmtpOptions> options, IDataProtectionProvider protection, ILogger<TranscriptMailer> logger)
{
    private const string Purpose = "Parley.Transcripts.Confirmation.v1";

    public bool Enabled => options.Value.Enabled;

    /// <summary>Checks the request and mails the confirmation link (<paramref name="baseUrl"/>: this server as the client reached it).</summary>
    public async Task RequestAsync(Guid conversationId, Guid contactId, string? email, string baseUrl, CancellationToken cancellationToken)
    {
        var smtp = RequireEnabled();
        var conversation = await db.Conversations.AsNoTracking().FirstOrDefaultAsync(c => c.Id == conversationId && c.ContactId == contactId, cancellationToken)
            ?? throw ParleyException.NotFound();
        if (conversation.Status != ConversationStatus.Closed)
        {
            throw new ParleyException(ErrorCatalogue.ConversationOpen, "A transcript can be sent once the conversation is closed.");
        }

        var contact = await db.Contacts.AsNoTracking().FirstAsync(c => c.Id == contactId, cancellationToken);
        var site = await db.Sites.AsNoTracking().FirstAsync(s => s.Id == conversation.SiteId, cancellationToken);
        var to = string.IsNullOrWhiteSpace(email) ? contact.Email : email.Trim();
        if (string.IsNullOrEmpty(to) || !MailAddress.TryCreate(to, out var address))
        {
            throw new ParleyException(ErrorCatalogue.EmailRequired, "An email address is needed for the transcript.");
        }

        var token = protection.CreateProtector(Purpose).ToTimeLimitedDataProtector()
            .Protect($"{conversationId:N}|{contactId:N}|{address.Address}", TimeSpan.FromHours(smtp.ConfirmationHours));
        var link = $"{(smtp.PublicUrl ?? baseUrl).TrimEnd('/')}/api/v1/widget/transcripts/confirm?token={Uri.EscapeDataString(token)}";
        var body = $"Someone asked for the transcript of a conversation with {site.Name} to be sent to this address.\n\n"
            + $"To receive it, open this link within {smtp.ConfirmationHours} hours:\n{link}\n\nIf you did not ask for it, ignore this email.\n";
        await SendMailAsync(smtp, site.Name, address, $"Confirm your transcript request ({site.Name})", body, conversationId, cancellationToken);
    }

    /// <summary>The confirmation link was opened: mails the transcript to the address the link was made for.</summary>
    public async Task ConfirmAsync(string? token, CancellationToken cancellationToken)
    {
        var smtp = RequireEnabled();
        string payload;
        try
        {
            payload = protection.CreateProtector(Purpose).ToTimeLimitedDataProtector().Unprotect(token ?? "", out _);
        }
        catch (System.Security.Cryptography.CryptographicException)
        {
            throw new ParleyException(ErrorCatalogue.ConfirmationInvalid, "This confirmation link is invalid or has expired; ask for the transcript again.");
        }

        var parts = payload.Split('|');
        var conversationId = Guid.Parse(parts[0]);
        var contactId = Guid.Parse(parts[1]);
        var address = new MailAddress(parts[2]);
        var conversation = await db.Conversations.AsNoTracking().FirstOrDefaultAsync(c => c.Id == conversationId && c.ContactId == contactId, cancellationToken)
            ?? throw ParleyException.NotFound();
        var site = await db.Sites.AsNoTracking().FirstAsync(s => s.Id == conversation.SiteId, cancellationToken);
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
            var body = m.Kind switch
            {
                MessageKind.Attachment => "[file] " + Attachments.AttachmentBody.NameOf(m.Body),
                MessageKind.Event => SystemLine.ToEnglish(m.Body),
                _ => m.Body,
            };
            text.Append(CultureInfo.InvariantCulture, $"[{m.CreatedAt:yyyy-MM-dd HH:mm}] {who}: {body}\n");
        }

        await SendMailAsync(smtp, site.Name, address, $"Your conversation with {site.Name}", text.ToString(), conversationId, cancellationToken);
    }

    private SmtpOptions RequireEnabled() => options.Value.Enabled
        ? options.Value
        : throw new ParleyException(ErrorCatalogue.TranscriptUnavailable, "Transcripts by email are not configured on this server.");

    private async Task SendMailAsync(SmtpOptions smtp, string siteName, MailAddress to, string subject, string body, Guid conversationId, CancellationToken cancellationToken)
    {
        using var mail = new MailMessage(new MailAddress(smtp.From, siteName), to)
        {
            Subject = subject,
            Body = body,
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
            throw new ParleyException(ErrorCatalogue.TranscriptFailed, "The transcript could not be sent; try again later.");
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Sending the transcript of {ConversationId} failed")]
    private static partial void LogSendFailed(ILogger logger, Exception exception, Guid conversationId);
}
