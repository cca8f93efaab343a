namespace Parley.Data;

/// <summary>A website (or app) that embeds the widget. Its key is public; its secret signs visitor identities.</summary>
public sealed class Site
{
    public Guid Id { get; set; }

    /// <summary>Public key used in the widget snippet (<c>data-site</c>) and the H5 URL.</summary>
    public required string Key { get; set; }

    public required string Name { get; set; }

    /// <summary>HMAC key for identity verification; never sent to browsers.</summary>
    public required string Secret { get; set; }

    /// <summary>Space-separated origins allowed to embed the widget; empty allows any origin.</summary>
    public string AllowedOrigins { get; set; } = "";

    /// <summary>Widget settings (colour, greeting, position, pre-chat fields, offline form, identity policy) as JSON; null means defaults.</summary>
    public string? WidgetSettingsJson { get; set; }

    /// <summary>Routing by what the visitor wrote and takeover thresholds (docs/ai.md) as JSON; null means defaults.</summary>
    public string? AiSettingsJson { get; set; }

    public DateTime CreatedAt { get; set; }

    /// <summary>Closed conversations older than this many days are deleted or anonymised (<see cref="RetentionMode"/>); null keeps them for ever.</summary>
    public int? RetentionDays { get; set; }

    public RetentionMode RetentionMode { get; set; }
}

/// <summary>What the retention job does with a closed conversation past the site's retention period.</summary>
public enum RetentionMode
{
    /// <summary>The conversation, its messages and attachments are deleted.</summary>
    Delete = 0,

    /// <summary>The conversation stays for reports; its messages' text, its attachments and its rating comment are removed.</summary>
    Anonymise = 1,
}

public enum UserRole
{
    Agent = 0,
    Supervisor = 1,
    Admin = 2,
}

/// <summary>A person who signs in to the console: agent, supervisor or admin.</summary>
public sealed class User
{
    public Guid Id { get; set; }

    public required string Email { get; set; }

    /// <summary>Upper-cased, trimmed email; unique.</summary>
    public required string NormalizedEmail { get; set; }

    public required string DisplayName { get; set; }

    /// <summary>ASP.NET Core Identity password hash (PBKDF2, versioned format).</summary>
    public required string PasswordHash { get; set; }

    public UserRole Role { get; set; }

    /// <summary>Changes whenever credentials change; sessions carrying an older stamp are rejected.</summary>
    public required string SecurityStamp { get; set; }

    /// <summary>How many conversations the agent may hold at once.</summary>
    public int Capacity { get; set; } = 20;

    public bool IsActive { get; set; } = true;

    public DateTime CreatedAt { get; set; }

    public DateTime? LastSignInAt { get; set; }

    /// <summary>Grant to see every department's conversations (the sandbox's "all departments" exception).</summary>
    public bool AllDepartments { get; set; }

    /// <summary>Consecutive failed sign-ins since the last success; drives the account lockout.</summary>
    public int FailedSignIns { get; set; }

    /// <summary>Sign-in refused until then (account lockout after repeated failures).</summary>
    public DateTime? LockedUntil { get; set; }

    /// <summary>TOTP (RFC 6238) shared secret, encrypted with the Data Protection key ring; null when not set up.</summary>
    public string? TotpSecret { get; set; }

    /// <summary>Whether the second factor is required at sign-in (set once a code was confirmed).</summary>
    public bool TotpEnabled { get; set; }

    /// <summary>Time step of the last accepted TOTP code, so a code cannot be replayed within its window.</summary>
    public long TotpLastStep { get; set; }

    public DateTime? PasswordChangedAt { get; set; }

    /// <summary>
    /// Set for an account created from a configured bootstrap password: every API but the password change answers
    /// 403 password_change_required until the user picks their own.
    /// </summary>
    public bool MustChangePassword { get; set; }
}

/// <summary>A console sign-in (one cookie), stored so that it can be listed and revoked.</summary>
public sealed class UserSession
{
    public Guid Id { get; set; }

    public Guid UserId { get; set; }

    public DateTime CreatedAt { get; set; }

    public DateTime LastSeenAt { get; set; }

    public DateTime ExpiresAt { get; set; }

    public DateTime? RevokedAt { get; set; }

    public string? IpAddress { get; set; }

    public string? UserAgent { get; set; }
}

/// <summary>A personal API token. Only its SHA-256 hash is stored; the token itself is shown once.</summary>
public sealed class ApiToken
{
    public Guid Id { get; set; }

    public Guid UserId { get; set; }

    public required string Name { get; set; }

    /// <summary>First characters of the token, to recognise it in lists.</summary>
    public required string Prefix { get; set; }

    /// <summary>Lower-case hex SHA-256 of the whole token; unique.</summary>
    public required string Hash { get; set; }

    /// <summary>Space-separated scopes, e.g. <c>conversations:read conversations:write</c>.</summary>
    public required string Scopes { get; set; }

    public DateTime CreatedAt { get; set; }

    public DateTime ExpiresAt { get; set; }

    public DateTime? LastUsedAt { get; set; }

    public DateTime? RevokedAt { get; set; }
}

/// <summary>
/// A single-use code that signs in in place of a TOTP code when the authenticator is lost. Only a SHA-256 hash is
/// stored (the code has 79 random bits, so a fast hash is enough); the codes themselves are shown once.
/// </summary>
public sealed class RecoveryCode
{
    public Guid Id { get; set; }

    public Guid UserId { get; set; }

    /// <summary>Lower-case hex SHA-256 of the normalised code (upper case, no separators).</summary>
    public required string Hash { get; set; }

    public DateTime CreatedAt { get; set; }

    /// <summary>Set when the code signed in; a used code never works again.</summary>
    public DateTime? UsedAt { get; set; }
}

/// <summary>
/// How a context adapter last answered, per adapter name, shared by every node (the admin screen reads it): the last
/// success, the last failure with its kind and a short error, and the failures since the last success.
/// </summary>
public sealed class AdapterStatus
{
    public required string Name { get; set; }

    public DateTime? LastSuccessAt { get; set; }

    public DateTime? LastFailureAt { get; set; }

    /// <summary><c>timeout</c> or <c>error</c>.</summary>
    public string? LastFailureKind { get; set; }

    /// <summary>The failure's message, cut to 500 characters.</summary>
    public string? LastError { get; set; }

    public int ConsecutiveFailures { get; set; }
}

/// <summary>One audited action: sign-ins, failed sign-ins, admin changes.</summary>
public sealed class AuditEntry
{
    public long Id { get; set; }

    public DateTime At { get; set; }

    /// <summary>Who acted; null for anonymous (a failed sign-in of an unknown email).</summary>
    public Guid? ActorId { get; set; }

    public string? ActorName { get; set; }

    /// <summary>Stable dotted name, e.g. <c>auth.sign_in</c>, <c>user.role_changed</c>.</summary>
    public required string Action { get; set; }

    public string? TargetType { get; set; }

    public string? TargetId { get; set; }

    public string? IpAddress { get; set; }

    /// <summary>Free-form details as a JSON object.</summary>
    public string? DetailsJson { get; set; }
}

/// <summary>A visitor or known customer of a site.</summary>
public sealed class Contact
{
    public Guid Id { get; set; }

    public Guid SiteId { get; set; }

    /// <summary>The customer's id in the site owner's systems, when the site identifies its users.</summary>
    public string? ExternalId { get; set; }

    public string? Name { get; set; }

    public string? Email { get; set; }

    public string? Phone { get; set; }

    /// <summary>Custom attributes as a JSON object.</summary>
    public string? AttributesJson { get; set; }

    /// <summary>The page the visitor was last on (url, title, referrer, browser, language, time zone) as JSON.</summary>
    public string? LastPageJson { get; set; }

    public DateTime CreatedAt { get; set; }

    public DateTime LastSeenAt { get; set; }

    /// <summary>Set when an agent blocked the contact (spam): it can neither start a conversation nor send.</summary>
    public DateTime? BlockedAt { get; set; }
    /// <summary>
    /// Set when the contact was erased (right to erasure): every personal field is cleared and the row stays only as
    /// the anonymous owner of its anonymised conversations, so reports keep their counts. Nothing lists it any more.
    /// </summary>
    public DateTime? ErasedAt { get; set; }
}

public enum ConversationStatus
{
    Open = 0,
    Pending = 1,
    Closed = 2,
}

public sealed class Conversation
{
    public Guid Id { get; set; }

    public Guid SiteId { get; set; }

    public Guid ContactId { get; set; }

    public ConversationStatus Status { get; set; }

    public Guid? AssigneeId { get; set; }

    /// <summary>Department/team the conversation is routed to (routing and the department sandbox build on it).</summary>
    public Guid? TeamId { get; set; }

    /// <summary>Queue priority; higher is served first (VIP lane).</summary>
    public int Priority { get; set; }

    /// <summary>Highest sequence number assigned in this conversation; advanced in the transaction that stores a message.</summary>
    public long LastSeq { get; set; }

    /// <summary>Highest visitor-visible sequence number (internal notes are not counted).</summary>
    public long LastVisitorSeq { get; set; }

    public DateTime CreatedAt { get; set; }

    public DateTime UpdatedAt { get; set; }

    public DateTime? LastMessageAt { get; set; }

    /// <summary>Start of the last visible message, for inbox lists without a join.</summary>
    public string? LastMessagePreview { get; set; }

    public SenderKind? LastMessageSenderKind { get; set; }

    public DateTime? ClosedAt { get; set; }

    /// <summary>While set (status pending), the conversation is snoozed: it re-opens then, or on a visitor message.</summary>
    public DateTime? SnoozedUntil { get; set; }

    /// <summary>Since when the visitor has been waiting for an answer: their first message after the last agent reply.</summary>
    public DateTime? WaitingSince { get; set; }

    /// <summary>Read receipt of the visitor: the highest message (agent numbering, <see cref="Message.Seq"/>) they have seen.</summary>
    public long VisitorReadSeq { get; set; }

    /// <summary>Read receipt of the agents: the highest message (<see cref="Message.Seq"/>) an agent has seen.</summary>
    public long AgentReadSeq { get; set; }

    /// <summary>When the conversation entered the waiting queue (FIFO order within a priority); null when not queued.</summary>
    public DateTime? QueuedAt { get; set; }

    /// <summary>
    /// The bot has the conversation (bot-first sites): not queued for a person until it hands off (the visitor asks
    /// for a person, the bot fails twice, a takeover alert, or an agent takes it). docs/ai.md.
    /// </summary>
    public bool BotActive { get; set; }

    /// <summary>When it was routed to its current team; overflow timers run from here.</summary>
    public DateTime? RoutedAt { get; set; }

    /// <summary>
    /// Routing waits for the visitor's first message until then (intent routing, docs/routing.md); null when it is
    /// not waiting. The conversation is queued with what the message said, or at this time without it.
    /// </summary>
    public DateTime? RoutingWaitUntil { get; set; }

    /// <summary>What the conversation is about (intent of the first visitor message that is more than a greeting), or as an agent corrected it.</summary>
    public string? Intent { get; set; }

    /// <summary>
    /// When the last human-takeover alert was raised. An episode's evidence is the visitor's messages after the previous
    /// alert, so one alert's messages never raise a second.
    /// </summary>
    public DateTime? TakeoverAlertedAt { get; set; }

    /// <summary>
    /// Why a person should take over, while the alert is raised (asked_for_person, repeated_question, angry,
    /// frustration_rising); null when none is, or the episode ended (a person answered).
    /// </summary>
    public string? TakeoverReason { get; set; }

    /// <summary>When the current assignee got it.</summary>
    public DateTime? AssignedAt { get; set; }

    /// <summary>The agent a routing offer is waiting on; an offered conversation counts against that agent's capacity.</summary>
    public Guid? OfferedToId { get; set; }

    public DateTime? OfferExpiresAt { get; set; }

    /// <summary>Agents who declined or let an offer expire, space-separated; routing moves on to someone else.</summary>
    public string? DeclinedBy { get; set; }
    /// <summary>When the retention job or an erasure removed its content (message text, attachments); it is not done twice.</summary>
    public DateTime? AnonymisedAt { get; set; }
}

public enum SenderKind
{
    Visitor = 0,
    Agent = 1,
    System = 2,
    Bot = 3,
}

public enum MessageKind
{
    Text = 0,

    /// <summary>Internal note: visible to agents only, never delivered to the visitor.</summary>
    Note = 1,

    /// <summary>A system event line (assigned, closed, ...).</summary>
    Event = 2,

    /// <summary>A file or image; the body is the attachment's JSON description (id, name, contentType, size, url).</summary>
    Attachment = 3,
}

public sealed class Message
{
    public long Id { get; set; }

    public Guid ConversationId { get; set; }

    /// <summary>Per-conversation, gap-free sequence number starting at 1 (the agents' view: every message and note).</summary>
    public long Seq { get; set; }

    /// <summary>
    /// Gap-free sequence over the messages a visitor may see; null for internal notes. Visitors never learn
    /// that notes exist, and their replay logic can still rely on contiguous numbers.
    /// </summary>
    public long? VisitorSeq { get; set; }

    /// <summary>Id the sender generated; unique per conversation so that retries never duplicate.</summary>
    public Guid ClientId { get; set; }

    public SenderKind SenderKind { get; set; }

    public Guid? SenderId { get; set; }

    public string? SenderName { get; set; }

    public MessageKind Kind { get; set; }

    public required string Body { get; set; }

    public DateTime CreatedAt { get; set; }
}

public enum RoutingStrategy
{
    /// <summary>The member who was assigned a conversation longest ago goes next.</summary>
    RoundRobin = 0,

    /// <summary>The member with the fewest active conversations relative to their capacity goes next.</summary>
    LeastBusy = 1,

    /// <summary>Nobody is assigned automatically: conversations wait in the team's pool and agents pick them.</summary>
    Manual = 2,
}

/// <summary>
/// A team, also the department of the data sandbox: routing assigns conversations to a team's members, and a
/// user who is not granted more sees only the conversations, contacts and reports of the teams they belong to.
/// </summary>
public sealed class Team
{
    public Guid Id { get; set; }

    public required string Name { get; set; }

    public string? Description { get; set; }

    public RoutingStrategy Strategy { get; set; } = RoutingStrategy.LeastBusy;

    /// <summary>Offer a returning visitor to the agent of their previous conversation first, when that agent can take it.</summary>
    public bool Sticky { get; set; } = true;

    /// <summary>IANA time zone of the business hours.</summary>
    public string TimeZone { get; set; } = "UTC";

    /// <summary>Weekly schedule and holidays as JSON (see Routing/BusinessHours); null means always open.</summary>
    public string? HoursJson { get; set; }

    /// <summary>After this many minutes waiting, overflow applies; null disables overflow.</summary>
    public int? OverflowAfterMinutes { get; set; }

    /// <summary>Team that takes the overflow; when null, the visitor is offered the offline form instead.</summary>
    public Guid? OverflowTeamId { get; set; }

    /// <summary>Seconds an agent has to accept an offered conversation; 0 assigns without asking.</summary>
    public int OfferTimeoutSeconds { get; set; }

    /// <summary>Languages or skills the team covers, space-separated (routing rules match on them).</summary>
    public string? Skills { get; set; }

    /// <summary>First-response target (SLA) in seconds for the live view; null uses Parley:Routing:FirstResponseTargetSeconds.</summary>
    public int? FirstResponseTargetSeconds { get; set; }

    public DateTime CreatedAt { get; set; }
}

/// <summary>Membership of a user in a team (many-to-many).</summary>
public sealed class TeamMember
{
    public Guid TeamId { get; set; }

    public Guid UserId { get; set; }

    /// <summary>When routing last gave this member a conversation of the team (the round-robin cursor, shared by every node).</summary>
    public DateTime? LastAssignedAt { get; set; }

    public DateTime CreatedAt { get; set; }
}

/// <summary>
/// One key of the ASP.NET Core Data Protection key ring, as the XML the framework writes. Kept in the database so
/// every node of a cluster protects and reads cookies and visitor tokens with the same keys.
/// </summary>
public sealed class DataProtectionKey
{
    public int Id { get; set; }

    public string? FriendlyName { get; set; }

    public required string Xml { get; set; }
}
