// Wire shapes from docs/protocol.md and docs/api.md. Field names are the wire names (camelCase) for
// both JSON and MessagePack. Timestamps arrive as `Date` over MessagePack and as ISO strings over REST,
// so every timestamp field accepts both; use `toDate()` before doing arithmetic with one.

export type Timestamp = Date | string;

export type SenderKind = 'visitor' | 'agent' | 'system' | 'bot';
export type MessageKind = 'text' | 'note' | 'event';
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
  lastSeq: number;
  lastMessageAt: Timestamp | null;
  lastMessagePreview: string | null;
  lastMessageSenderKind: SenderKind | null;
  createdAt: Timestamp;
}

export interface WidgetSessionResponse {
  visitorToken: string;
  contactId: string;
  site: { key: string; name: string };
  conversation: ConversationInfo | null;
}

export type UserRole = 'admin' | 'supervisor' | 'agent';

export interface UserDto {
  id: string;
  email: string;
  displayName: string;
  role: UserRole;
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
