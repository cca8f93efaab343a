using System.Globalization;
using System.Net;
using System.Net.Mail;
using System.Text;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Parley.Data;
using Parley.Server.Features.Access;
using Parley.Server.Features.Integration;
using Parley.Server.Features.Transcripts;

namespace Parley.Server.Features.Webhooks;

/// <summary>
/// Tells admins that the server disabled a webhook endpoint (410 Gone or sustained failure): an audit-log entry
/// (<c>webhook.disabled</c>, GET /api/v1/audit), the integration event <c>webhook.disabled</c> (other endpoints, gRPC
/// subscribers), and an email to every active admin where SMTP is configured. The endpoint itself also shows
/// <c>enabled: false</c> with <c>disabledReason</c> in the webhooks API.
/// </summary>
public sealed partial class WebhookAdminNotice(
    ParleyDbContext db,
    AuditLog audit,
    IntegrationEventLog integrationLog,
    IOptions<SmtpOptions> smtp,
    ILogger<WebhookAdminNotice> logger)
{
    public const string AuditAction = "webhook.disabled";

    public async Task EndpointDisabledAsync(WebhookEndpoint endpoint, string reason, DateTime at, CancellationToken cancellationToken)
    {
        var details = new { endpointId = endpoint.Id, url = endpoint.Url, description = endpoint.Description, reason, disabledAt = at };
        await audit.RecordAsync(AuditAction, null, "Parley", "webhook", endpoint.Id.ToString(), details, cancellationToken);
        integrationLog.Enqueue(new IntegrationEventDraft(IntegrationEventTypes.WebhookDisabled, null, null, details));
        await MailAdminsAsync(endpoint, reason, at, cancellationToken);
    }

    private async Task MailAdminsAsync(WebhookEndpoint endpoint, string reason, DateTime at, CancellationToken cancellationToken)
    {
        var o = smtp.Value;
        if (!o.Enabled)
        {
            return;
        }

        var admins = await db.Users.AsNoTracking().Where(u => u.Role == UserRole.Admin && u.IsActive).Select(u => u.Email).ToListAsync(cancellationToken);
        if (admins.Count == 0)
        {
            return;
        }

        using var mail = new MailMessage { From = new MailAddress(o.From, "Parley"), Subject = "Parley disabled a webhook endpoint", BodyEncoding = Encoding.UTF8, SubjectEncoding = Encoding.UTF8 };
        foreach (var admin in admins)
        {
            if (MailAddress.TryCreate(admin, out var address))
            {
                mail.Bcc.Add(address);
            }
        }

        mail.Body = string.Create(CultureInfo.InvariantCulture, $"""
            The webhook endpoint {endpoint.Url}{(endpoint.Description is { Length: > 0 } d ? $" ({d})" : "")} was disabled at {at:u}.

            Reason: {reason}

            Its pending deliveries were cancelled; the delivery log keeps every attempt. Fix the receiver, then re-enable
            the endpoint (PATCH /api/v1/webhooks/{endpoint.Id} with "enabled": true) and redeliver what it missed.
            """);
        using var client = o.CreateClient();
        try
        {
            await client.SendMailAsync(mail, cancellationToken);
        }
        catch (Exception ex) when (ex is SmtpException or InvalidOperationException or IOException)
        {
            // The audit entry and the endpoint's state already tell admins; a mail relay outage must not stop delivery.
            LogMailFailed(logger, ex, endpoint.Id);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Mailing admins about disabled webhook endpoint {EndpointId} failed")]
    private static partial void LogMailFailed(ILogger logger, Exception exception, Guid endpointId);
}
