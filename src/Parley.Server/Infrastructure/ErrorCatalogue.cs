namespace Parley.Server.Infrastructure;

/// <summary>
/// Every error code the server answers with: REST problem details (<c>code</c> member), hub errors
/// (<c>HubException("code: text")</c>) and knowledge import refusals. <see cref="ParleyException"/> and
/// <see cref="Problems"/> only take a code from here. docs/api.md ("Error codes") lists them all and
/// web/packages/shared/src/errorCatalogue.ts copies the retryable flags; ErrorCatalogueTests fails when either drifts.
/// </summary>
public static class ErrorCatalogue
{
    public static readonly ErrorCode AgentAtCapacity = new("agent_at_capacity", 409, false, "The agent already holds as many conversations as their capacity allows.");

    public static readonly ErrorCode AlertChannelInvalid = new("alert_channel_invalid", 400, false, "An alert channel's kind, name, URL, secret or language is not valid (the text names it).");

    public static readonly ErrorCode AlertChannelNotFound = new("alert_channel_not_found", 404, false, "No such alert channel.");

    public static readonly ErrorCode AlertRuleInvalid = new("alert_rule_invalid", 400, false, "An alert rule's kind, department, threshold or reminder interval is not valid (the text names it).");

    public static readonly ErrorCode AlertRuleNotFound = new("alert_rule_not_found", 404, false, "No such alert rule.");

    public static readonly ErrorCode AlertTargetForbidden = new("alert_target_forbidden", 400, false, "The alert channel's URL points at a loopback or private address (outbound requests are guarded).");

    public static readonly ErrorCode AlreadyRated = new("already_rated", 409, false, "This conversation has already been rated.");

    public static readonly ErrorCode AssigneeOutOfDepartment = new("assignee_out_of_department", 403, false, "The user is not a member of this conversation's department.");

    public static readonly ErrorCode AttachmentEmpty = new("attachment_empty", 400, false, "The file is empty.");

    public static readonly ErrorCode AttachmentNotFound = new("attachment_not_found", 404, false, "No such attachment.");

    public static readonly ErrorCode AttachmentTooLarge = new("attachment_too_large", 413, false, "The file is larger than the attachment limit.");

    public static readonly ErrorCode AttachmentTypeNotAllowed = new("attachment_type_not_allowed", 415, false, "Only images (PNG, JPEG, GIF, WebP), PDF, ZIP and plain text files can be sent.");

    public static readonly ErrorCode AttributesTooLarge = new("attributes_too_large", 413, false, "The attributes are larger than the limit.");

    public static readonly ErrorCode BodyEmpty = new("body_empty", 400, false, "The message body is empty.");

    public static readonly ErrorCode BodyTooLarge = new("body_too_large", 413, false, "The message body is longer than the configured limit.");

    public static readonly ErrorCode CannedReplyExists = new("canned_reply_exists", 409, false, "A canned reply with this shortcut already exists.");

    public static readonly ErrorCode CannedReplyNotFound = new("canned_reply_not_found", 404, false, "No such canned reply.");

    public static readonly ErrorCode CannedReplyTeamInvalid = new("canned_reply_team_invalid", 400, false, "Only a shared reply can be limited to departments, and each must exist.");

    public static readonly ErrorCode ClientIdConflict = new("client_id_conflict", 409, false, "Another sender already used this client id in this conversation; generate a new one.");

    public static readonly ErrorCode ConfirmationInvalid = new("confirmation_invalid", 400, false, "This confirmation link is invalid or has expired; ask for the transcript again.");

    public static readonly ErrorCode Conflict = new("conflict", 409, true, "The data changed meanwhile; try again.");

    public static readonly ErrorCode ContactAmbiguous = new("contact_ambiguous", 409, false, "The contact exists on several sites; pass site_key.");

    public static readonly ErrorCode ContactBlocked = new("contact_blocked", 403, false, "The visitor was blocked by an agent: no new conversation, no message. Final; clients stop sending.");

    public static readonly ErrorCode ContactExternalIdTaken = new("contact_external_id_taken", 409, false, "Another contact of this site has that externalId.");

    public static readonly ErrorCode ContactNotFound = new("contact_not_found", 404, false, "No such contact.");

    public static readonly ErrorCode ContactsDifferentSites = new("contacts_different_sites", 400, false, "The contacts belong to different sites; only contacts of one site can be merged.");

    public static readonly ErrorCode ContactRequired = new("contact_required", 400, false, "'contact' needs an external_id, email or phone.");

    public static readonly ErrorCode ConversationClosed = new("conversation_closed", 409, false, "The conversation is closed; start a new one.");

    public static readonly ErrorCode ConversationConflict = new("conversation_conflict", 409, false, "The visitor already has another active conversation.");

    public static readonly ErrorCode ConversationNotClosed = new("conversation_not_closed", 409, false, "A conversation can be rated once it is closed.");

    public static readonly ErrorCode ConversationNotFound = new("conversation_not_found", 404, false, "No such conversation, or not one this caller may use (the same answer, so ids cannot be probed).");

    public static readonly ErrorCode ConversationOpen = new("conversation_open", 409, false, "A transcript can be sent once the conversation is closed.");

    public static readonly ErrorCode ConversationTaken = new("conversation_taken", 409, false, "The conversation is closed or was taken by someone else.");

    public static readonly ErrorCode CsrfHeaderMissing = new("csrf_header_missing", 403, false, "A state-changing request made with the session cookie lacks the X-Parley-Csrf header.");

    public static readonly ErrorCode DeliveryNotFound = new("delivery_not_found", 404, false, "No such delivery.");

    public static readonly ErrorCode Draining = new("draining", 503, true, "This node is shutting down and refuses new hub connections; connect again to reach another node.");

    public static readonly ErrorCode EmailRequired = new("email_required", 400, false, "An email address is needed for the transcript.");

    public static readonly ErrorCode EmailTaken = new("email_taken", 409, false, "A user with this email already exists.");

    public static readonly ErrorCode EventDataInvalid = new("event_data_invalid", 400, false, "'data' must be a JSON object.");

    public static readonly ErrorCode EventDataTooLarge = new("event_data_too_large", 413, false, "An event's data is larger than the limit.");

    public static readonly ErrorCode EventTypeInvalid = new("event_type_invalid", 400, false, "'event_type' must be ORDER, CUSTOMER, TICKET or a custom name of letters, digits, '_', '-' and '.' (at most 64).");

    public static readonly ErrorCode FieldRequired = new("field_required", 400, false, "A required field is missing (the text names it).");

    public static readonly ErrorCode Forbidden = new("forbidden", 403, false, "The caller's role or departments do not allow this.");

    public static readonly ErrorCode IdempotencyInProgress = new("idempotency_in_progress", 409, true, "A request with this Idempotency-Key is still being processed; retry later.");

    public static readonly ErrorCode IdempotencyKeyInvalid = new("idempotency_key_invalid", 400, false, "Idempotency-Key is longer than 200 characters.");

    public static readonly ErrorCode IdempotencyKeyReused = new("idempotency_key_reused", 422, false, "This Idempotency-Key was used for a different request.");

    public static readonly ErrorCode IdentityInvalid = new("identity_invalid", 403, false, "The user hash does not match the user id (HMAC-SHA256 hex of the id with the site secret).");

    public static readonly ErrorCode IdentityRequired = new("identity_required", 403, false, "This site requires identity verification: setUser needs a hash of the user id.");

    public static readonly ErrorCode InsufficientScope = new("insufficient_scope", 403, false, "The API token lacks the scope this call needs, or API tokens may not call this hub method.");

    public static readonly ErrorCode IntentExampleInvalid = new("intent_example_invalid", 400, false, "An intent example's intent name or text is not valid.");

    public static readonly ErrorCode IntentExampleNotFound = new("intent_example_not_found", 404, false, "No such intent example.");

    public static readonly ErrorCode InvalidAttribute = new("invalid_attribute", 400, false, "An attribute's name or value is not valid.");

    public static readonly ErrorCode InvalidAttributes = new("invalid_attributes", 400, false, "attributes is not a JSON object of the allowed size.");

    public static readonly ErrorCode InvalidBody = new("invalid_body", 400, false, "The body is empty, too long or holds a control character the text rule refuses; the same body fails again.");

    public static readonly ErrorCode InvalidCapacity = new("invalid_capacity", 400, false, "Capacity must be between 0 and 1000.");

    public static readonly ErrorCode InvalidColor = new("invalid_color", 400, false, "The colour must be a hex colour like #2563eb.");

    public static readonly ErrorCode InvalidCredentials = new("invalid_credentials", 401, false, "Wrong email, password or code (401 at sign-in; 403 when the current password is wrong on a password change).");

    public static readonly ErrorCode InvalidCursor = new("invalid_cursor", 400, false, "The cursor is not one this API returned.");

    public static readonly ErrorCode InvalidDepartment = new("invalid_department", 400, false, "Choose one of the site's departments.");

    public static readonly ErrorCode InvalidEmail = new("invalid_email", 400, false, "The email address is not valid.");

    public static readonly ErrorCode InvalidExpiry = new("invalid_expiry", 400, false, "expiresInDays is out of range.");

    public static readonly ErrorCode InvalidField = new("invalid_field", 400, false, "Field values are at most 500 characters.");

    public static readonly ErrorCode InvalidHours = new("invalid_hours", 400, false, "The business hours are not valid (the text names the problem).");

    public static readonly ErrorCode InvalidName = new("invalid_name", 400, false, "A name is empty or too long.");

    public static readonly ErrorCode InvalidOfferTimeout = new("invalid_offer_timeout", 400, false, "offerTimeoutSeconds must be between 0 (assign directly) and 3600.");

    public static readonly ErrorCode InvalidOverflow = new("invalid_overflow", 400, false, "A team's overflow settings are not valid.");

    public static readonly ErrorCode InvalidPhone = new("invalid_phone", 400, false, "The phone number may contain digits, spaces and + - ( ) . only.");

    public static readonly ErrorCode InvalidPriority = new("invalid_priority", 400, false, "priority must be between -100 and 100.");

    public static readonly ErrorCode InvalidQuery = new("invalid_query", 400, false, "The search text is empty or too long.");

    public static readonly ErrorCode InvalidReportRange = new("invalid_report_range", 400, false, "from/to are local dates (yyyy-MM-dd), from not after to, at most 366 days (31 with interval=hour).");

    public static readonly ErrorCode InvalidReportOption = new("invalid_report_option", 400, false, "interval, by or the export table is not one of the allowed values.");

    public static readonly ErrorCode ReportFilterUnknown = new("report_filter_unknown", 400, false, "A team, agent, site or label in the report filter does not exist or is outside the caller's departments (the same answer).");

    public static readonly ErrorCode InvalidRetention = new("invalid_retention", 400, false, "days must be between 1 and 3650 (or null to keep conversations); mode must be delete or anonymise.");

    public static readonly ErrorCode InvalidRequest = new("invalid_request", 400, false, "A required field is missing or malformed (the text names the field).");

    public static readonly ErrorCode InvalidRole = new("invalid_role", 400, false, "Role must be admin, supervisor or agent.");

    public static readonly ErrorCode InvalidScope = new("invalid_scope", 400, false, "Scopes are read, write, or AREA:read / AREA:write (e.g. conversations:read).");

    public static readonly ErrorCode InvalidScore = new("invalid_score", 400, false, "The score must be between 1 and 5.");

    public static readonly ErrorCode InvalidSeq = new("invalid_seq", 400, false, "A sequence number is negative.");

    public static readonly ErrorCode InvalidSettings = new("invalid_settings", 400, false, "The settings (widget, AI or routing) are missing or not valid; the detail names the first bad value.");

    public static readonly ErrorCode InvalidShortcut = new("invalid_shortcut", 400, false, "The shortcut must be 1-64 letters, digits, '-' or '_'.");

    public static readonly ErrorCode InvalidSiteKey = new("invalid_site_key", 400, false, "key is 3 to 64 characters of a-z, 0-9, '-' and '_'.");

    public static readonly ErrorCode InvalidSiteName = new("invalid_site_name", 400, false, "name is 1 to 200 characters.");

    public static readonly ErrorCode InvalidSnooze = new("invalid_snooze", 400, false, "'until' must be a time in the future, at most a year ahead.");

    public static readonly ErrorCode InvalidSort = new("invalid_sort", 400, false, "sort must be waiting or recent.");

    public static readonly ErrorCode InvalidStatus = new("invalid_status", 400, false, "The status is not one of the allowed values.");

    public static readonly ErrorCode InvalidStrategy = new("invalid_strategy", 400, false, "strategy must be roundRobin, leastBusy or manual.");

    public static readonly ErrorCode InvalidTimeZone = new("invalid_time_zone", 400, false, "Unknown time zone; use an IANA name such as Europe/Berlin.");

    public static readonly ErrorCode InvalidTotp = new("invalid_totp", 400, false, "The authenticator code is wrong or expired.");

    public static readonly ErrorCode InvalidView = new("invalid_view", 400, false, "view must be all, mine, unassigned, teams or closed.");

    public static readonly ErrorCode KnowledgeEntryNotFound = new("knowledge_entry_not_found", 404, false, "No such knowledge entry.");

    public static readonly ErrorCode KnowledgeImportInvalid = new("knowledge_import_invalid", 400, false, "An import file is not valid; the problem names the line and entry, and nothing was changed.");

    public static readonly ErrorCode KnowledgeImportTooLarge = new("knowledge_import_too_large", 400, false, "An import file has too many entries or bytes; nothing was changed.");

    public static readonly ErrorCode KnowledgeInvalid = new("knowledge_invalid", 400, false, "A knowledge entry or synonym group breaks a rule or limit (the text names it).");

    public static readonly ErrorCode LabelExists = new("label_exists", 409, false, "A label with this name already exists.");

    public static readonly ErrorCode LabelNotFound = new("label_not_found", 404, false, "No such label.");

    public static readonly ErrorCode LastAdmin = new("last_admin", 409, false, "This is the last active admin; make someone else admin first.");

    public static readonly ErrorCode MemberNotFound = new("member_not_found", 404, false, "No such member.");

    public static readonly ErrorCode MessageNotFound = new("message_not_found", 404, false, "No such message.");

    public static readonly ErrorCode NoAssignee = new("no_assignee", 409, false, "Nobody else holds this conversation: a whisper goes to its assigned agent.");

    public static readonly ErrorCode NotAssigned = new("not_assigned", 409, false, "The conversation is not assigned (or is closed).");

    public static readonly ErrorCode NotConnected = new("not_connected", 409, false, "Connect to the agent hub before setting a status.");

    public static readonly ErrorCode NoteNotFound = new("note_not_found", 404, false, "No such note.");

    public static readonly ErrorCode OfferGone = new("offer_gone", 409, false, "The offer expired, was withdrawn or was taken.");

    public static readonly ErrorCode OfflinePending = new("offline_pending", 409, false, "Your previous message has not been answered yet; we will reply to it.");

    public static readonly ErrorCode OriginNotAllowed = new("origin_not_allowed", 403, false, "The request's Origin is not allowed (the console's agent hub, or a site's widget origins).");

    public static readonly ErrorCode Overloaded = new("overloaded", 503, true, "The server sheds work under load: it refuses new anonymous widget sessions (retry after the Retry-After seconds; the widget offers the offline form meanwhile) and visitor sends beyond the write queue's bound (nothing stored; retry with the same client id, backing off " + ClientBackOff.Summary + ").");

    public static readonly ErrorCode PasswordChangeRequired = new("password_change_required", 403, false, "A bootstrap password must be changed first: only /auth/me, /auth/password and /auth/logout answer until it is.");

    public static readonly ErrorCode PasswordUnchanged = new("password_unchanged", 400, false, "A required password change kept the configured password.");

    public static readonly ErrorCode RateLimited = new("rate_limited", 429, true, "Too many requests or messages; retry later, backing off (the clients wait " + ClientBackOff.Summary + ").");

    public static readonly ErrorCode RatingNotFound = new("rating_not_found", 404, false, "This conversation has not been rated.");

    public static readonly ErrorCode SessionNotFound = new("session_not_found", 404, false, "No such session.");

    public static readonly ErrorCode SessionRequired = new("session_required", 403, false, "Account management needs a signed-in session, not an API token.");

    public static readonly ErrorCode SetupDone = new("setup_done", 409, false, "Parley is already set up; sign in instead.");

    public static readonly ErrorCode SiteKeyTaken = new("site_key_taken", 409, false, "Another site has this key.");

    public static readonly ErrorCode SiteNotFound = new("site_not_found", 404, false, "No such site.");

    public static readonly ErrorCode TeamConflict = new("team_conflict", 409, false, "A team with that name already exists (or a member changed meanwhile).");

    public static readonly ErrorCode TeamNotFound = new("team_not_found", 404, false, "No such team.");

    public static readonly ErrorCode TokenNotFound = new("token_not_found", 404, false, "No such token.");

    public static readonly ErrorCode TooManyAttempts = new("too_many_attempts", 429, true, "Too many failed sign-ins; try again later.");

    public static readonly ErrorCode TooManyLabels = new("too_many_labels", 400, false, "At most 50 labels per conversation.");

    public static readonly ErrorCode TotpEnabled = new("totp_enabled", 409, false, "The second factor is already on; disable it first.");

    public static readonly ErrorCode TotpNotEnabled = new("totp_not_enabled", 409, false, "The second factor is not on.");

    public static readonly ErrorCode TotpNotSetUp = new("totp_not_set_up", 409, false, "Start the set-up first.");

    public static readonly ErrorCode TotpRequired = new("totp_required", 401, false, "Enter the code from your authenticator app.");

    public static readonly ErrorCode TotpUnavailable = new("totp_unavailable", 500, false, "The second factor cannot be read; ask an admin to reset it.");

    public static readonly ErrorCode TranscriptFailed = new("transcript_failed", 502, true, "The transcript could not be sent; try again later.");

    public static readonly ErrorCode TranscriptUnavailable = new("transcript_unavailable", 404, false, "Transcripts by email are not configured on this server.");

    public static readonly ErrorCode Unauthorized = new("unauthorized", 401, false, "Not signed in, or the account is deactivated.");

    public static readonly ErrorCode Unavailable = new("unavailable", 503, true, "The server is shutting down or the store failed; retry with the same client id.");

    public static readonly ErrorCode UnsupportedMediaType = new("unsupported_media_type", 415, false, "The request body's content type is not accepted.");

    public static readonly ErrorCode UserNotFound = new("user_not_found", 404, false, "No such user.");

    public static readonly ErrorCode WeakPassword = new("weak_password", 400, false, "The password is too short or too long.");

    public static readonly ErrorCode WebhookDisabled = new("webhook_disabled", 409, false, "Enable the endpoint before redelivering.");

    public static readonly ErrorCode WebhookEventTypeInvalid = new("webhook_event_type_invalid", 400, false, "An event type is not one Parley emits.");

    public static readonly ErrorCode WebhookEventTypesRequired = new("webhook_event_types_required", 400, false, "Name at least one event type (or \"*\" for all).");

    public static readonly ErrorCode WebhookNotFound = new("webhook_not_found", 404, false, "No such webhook.");

    public static readonly ErrorCode WebhookTargetForbidden = new("webhook_target_forbidden", 400, false, "The webhook URL points at a loopback or private address (outbound requests are guarded).");

    public static readonly ErrorCode WebhookUrlInvalid = new("webhook_url_invalid", 400, false, "The URL must be an absolute http or https URL without credentials.");

    /// <summary>Every code, in name order.</summary>
    public static IReadOnlyList<ErrorCode> All { get; } =
        [.. typeof(ErrorCatalogue).GetFields(System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Static).Where(f => f.FieldType == typeof(ErrorCode)).Select(f => (ErrorCode)f.GetValue(null)!).OrderBy(e => e.Code, StringComparer.Ordinal)];
}
