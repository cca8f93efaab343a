// Wire shapes from docs/protocol.md and docs/api.md. Field names are the wire names (camelCase) for
// both JSON and MessagePack. Timestamps arrive as `Date` over MessagePack and as ISO strings over REST,
// so every timestamp field accepts both; use `toDate()` before doing arithmetic with one.

export type Timestamp = Date | string;

export type SenderKind = 'visitor' | 'agent' | 'system' | 'bot';
export type MessageKind = 'text' | 'note' | 'event' | 'attachment';
export type ConversationStatus = 'open' | 'pending' | 'closed';

export interface MessageDto {
  id: number;
  conversationId: string;
  seq: number;
  clientId: string;
  senderKind: SenderKind;
  senderId: string | null;
  senderName: string | null;
  kind: MessageKind;
  body: string;
  createdAt: Timestamp;
}

export interface SendRequest {
  conversationId: string;
  clientId: string;
  body: string;
  note?: boolean;
  /** Console users and API tokens only: send as a bot under `botName` ("Bot" when empty). */
  asBot?: boolean;
  botName?: string | null;
}

export interface SendAck {
  conversationId: string;
  clientId: string;
  id: number;
  seq: number;
  createdAt: Timestamp;
  duplicate: boolean;
}

export interface Replay {
  conversationId: string;
  messages: MessageDto[];
  lastSeq: number;
  truncated: boolean;
  status: ConversationStatus;
  /** How far the other side has read, in the caller's numbering (absent from older servers). */
  peerReadSeq?: number;
}

export interface ResumeRequest {
  conversationId: string;
  afterSeq: number;
}

/** Visitor view of a conversation. */
export interface ConversationInfo {
  id: string;
  status: ConversationStatus;
  lastSeq: number;
  createdAt: Timestamp;
}

/** Agent view of a conversation (hub `conversationUpdated` and the REST inbox). */
export interface ConversationSummary {
  id: string;
  siteId: string;
  contactId: string;
  contactName: string | null;
  status: ConversationStatus;
  assigneeId: string | null;
  assigneeName: string | null;
  teamId: string | null;
  lastSeq: number;
  lastMessageAt: Timestamp | null;
  lastMessagePreview: string | null;
  lastMessageSenderKind: SenderKind | null;
  createdAt: Timestamp;
  /** Set while the conversation is snoozed. */
  snoozedUntil: Timestamp | null;
  /** Set while the conversation waits for an agent (queued or offered). */
  waitingSince: Timestamp | null;
  /** complaint, consult, sales, after_sales, greeting or an admin-defined intent; null until known (docs/ai.md). */
  intent: string | null;
  /** Set while a human-takeover alert is raised (asked_for_person, repeated_question, angry, frustration_rising). */
  takeoverReason: string | null;
  takeoverAlertedAt: Timestamp | null;
}

export interface PreChatField {
  key: string;
  label: string | null;
  required: boolean;
}

/** Public widget settings of a site, with live facts (docs/api.md, widget session). */
export interface WidgetPublicSettings {
  color: string;
  greeting: string | null;
  position: 'right' | 'left';
  preChatFields: PreChatField[];
  offlineForm: boolean;
  /** Teams the visitor may choose from (pre-chat `fields.team`); absent or empty: no choice. */
  departments?: { id: string; name: string }[];
  identityRequired: boolean;
  agentsAvailable: boolean;
  transcriptAvailable: boolean;
  maxUploadBytes: number;
  /** The knowledge-base bot answers first; the widget offers "Talk to a person" until people have the chat. */
  botFirst?: boolean;
}

export interface VisitorProfile {
  name: string | null;
  email: string | null;
  phone: string | null;
  verified: boolean;
  missingFields: string[];
}

export interface WidgetSessionResponse {
  visitorToken: string;
  contactId: string;
  site: { key: string; name: string };
  conversation: ConversationInfo | null;
  settings?: WidgetPublicSettings;
  profile?: VisitorProfile;
}

/** Body of a `kind: "attachment"` message. */
export interface AttachmentInfo {
  id: string;
  name: string;
  contentType: string;
  size: number;
  image: boolean;
  url: string;
}

/** Hub event `typing` (both hubs). */
/** The visitor's place in the waiting queue (`queue` event, docs/protocol.md "Routing"). State: apply the newest. */
export interface QueueStatus {
  conversationId: string;
  state: 'queued' | 'offered' | 'assigned' | 'offline';
  /** 1 = next in line; 0 when not queued. */
  position: number;
  /** null when nobody is online. */
  estimatedWaitSeconds: number | null;
}

export interface TypingEvent {
  conversationId: string;
  side: 'visitor' | 'agent';
  name: string | null;
  typing: boolean;
}

/** Hub event `read` (both hubs); `seq` is in the recipient's numbering. */
export interface ReadEvent {
  conversationId: string;
  side: 'visitor' | 'agent';
  seq: number;
}

export type UserRole = 'admin' | 'supervisor' | 'agent';

export interface UserDto {
  id: string;
  email: string;
  displayName: string;
  role: UserRole;
  /** Set while a bootstrap (configured) password must be changed: every other API answers 403 password_change_required. */
  passwordChangeRequired?: boolean;
}

export interface SiteDto {
  id: string;
  key: string;
  name: string;
  createdAt: Timestamp;
}

/** RFC 9457 problem details with Parley's stable `code` extension member. */
export interface ProblemDetails {
  type?: string;
  title?: string;
  status?: number;
  detail?: string;
  code?: string;
  errors?: Record<string, string[]>;
}

export function toDate(value: Timestamp | null | undefined): Date | null {
  if (value == null) return null;
  const d = value instanceof Date ? value : new Date(value);
  return Number.isNaN(d.getTime()) ? null : d;
}
