// Objects the hubs push or accept besides the core message types in types.ts, one interface per server
// [MessagePackObject] with the same wire fields. tests/Parley.Tests/Contract/HubDtoContractTests.cs fails when a
// field exists on one side only, so add a field here in the same change that adds it on the server.
import type { Timestamp } from './types';
import type { VisitorLocation } from './place';

/** Agent hub `typing` argument. */
export interface TypingRequest {
  conversationId: string;
  typing: boolean;
}

/** Both hubs' `read` argument: highest seq seen, in the reader's own numbering. */
export interface ReadRequest {
  conversationId: string;
  seq: number;
}

export interface ViewerDto {
  id: string;
  name: string | null;
}

/** Agent hub `viewers`: who has the conversation open in the console right now. */
export interface ViewersDto {
  conversationId: string;
  viewers: ViewerDto[];
}

/** Agent hub `conversationLabels`. */
export interface LabelsEventDto {
  conversationId: string;
  labelIds: string[];
}

/** Agent hub `readState`: how far this agent has read (to the agent's own connections). */
export interface ReadEventDto {
  conversationId: string;
  lastReadSeq: number;
}

/** Agent hub `offer`: accept before `expiresAt`; `withdrawn` when accepted elsewhere, declined or expired. */
export interface OfferDto {
  conversationId: string;
  expiresAt: Timestamp | null;
  withdrawn: boolean;
}

/** A visitor's CSAT rating (REST and the agent hub). */
export interface RatingDto {
  conversationId: string;
  score: number;
  comment: string | null;
  createdAt: Timestamp;
}

/** Agent hub `contactEvent`: a business event about the contact (orders, tickets …). */
export interface ContactEventMessage {
  id: number;
  contactId: string;
  eventType: string;
  dataJson: string;
  occurredAt: Timestamp;
  source: string | null;
}

export interface PageViewDto {
  url: string;
  title: string | null;
  at: Timestamp;
}

/** The page a visitor is on, as the widget reported it (browser filled in by the server). */
export interface VisitorPage {
  url: string | null;
  title: string | null;
  referrer: string | null;
  language: string | null;
  timeZone: string | null;
  browser?: string | null;
  location?: VisitorLocation | null;
}

/** GET /conversations/{id}/visitor and the agent hub's page updates. */
export interface VisitorContextDto {
  conversationId: string;
  contactId: string;
  name: string | null;
  email: string | null;
  phone: string | null;
  externalId: string | null;
  attributes: Record<string, string> | null;
  page: VisitorPage | null;
  trail: PageViewDto[];
  /** When the visitor was last connected. */
  lastSeenAt: Timestamp | null;
}

/** Agent hub `whisper`: a supervisor's note to the assigned agent, never shown to the visitor. */
export interface WhisperEvent {
  conversationId: string;
  seq: number;
  fromUserId: string;
  fromName: string | null;
  body: string;
}

/** Agent hub `takenOver`: a supervisor took the conversation over. */
export interface TakenOverEvent {
  conversationId: string;
  byUserId: string;
  byName: string | null;
}

/** Agent hub `loadState` (and GET /api/v1/system/load): the load governor's state and what it sheds (docs/operations.md). */
export interface LoadStateEvent {
  state: 'normal' | 'pressure' | 'overload';
  shedding: string[];
}

/** One department of the live view (`teamId` null: the general queue). */
export interface LiveDepartmentDto {
  teamId: string | null;
  name: string | null;
  waiting: number;
  /** Arrival of the conversation that has waited longest; count the wait from it. */
  oldestQueuedAt: Timestamp | null;
  inProgress: number;
  slaBreaches: number;
  firstResponseTargetSeconds: number;
}

export interface LiveAgentDto {
  id: string;
  displayName: string;
  status: 'online' | 'busy' | 'away' | 'offline';
  load: number;
  capacity: number;
  teamIds: string[];
}

export interface LiveQueueEntryDto {
  conversationId: string;
  teamId: string | null;
  priority: number;
  queuedAt: Timestamp;
  offeredToId: string | null;
}

export interface LiveBreachDto {
  conversationId: string;
  teamId: string | null;
  assigneeId: string | null;
  waitingSince: Timestamp;
  targetSeconds: number;
}

/**
 * Agent hub `SubscribeLive` result and `live` event (supervisors): the caller's departments now. Keep the snapshot
 * with the highest `version`.
 */
export interface LiveViewDto {
  version: number;
  departments: LiveDepartmentDto[];
  agents: LiveAgentDto[];
  queue: LiveQueueEntryDto[];
  breaches: LiveBreachDto[];
}
