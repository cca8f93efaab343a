import { classifySendError, hubErrorCode, throttleDelay } from './errors';
import type { MessageDto, SenderKind, SendAck } from './types';

/**
 * Messages the user wrote that the server has not acknowledged yet.
 *
 * Each item keeps the client id it was created with for its whole life: the server deduplicates on
 * (conversation, client id), so resending after a lost ack or a reconnect can never store a second copy.
 * Items are sent strictly in order, one at a time, so the conversation order is the order the user typed.
 */
export interface OutboxItem {
  clientId: string;
  /** null until the widget has lazily started its first conversation. */
  conversationId: string | null;
  body: string;
  note?: boolean;
  /** Local time the user pressed send (ms since epoch), for display only. */
  queuedAt: number;
}

/** The subset of the Web Storage API the outbox needs (localStorage, or a Map in tests). */
export interface KeyValueStore {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

export class Outbox {
  private list: OutboxItem[] = [];

  constructor(
    private readonly store: KeyValueStore | null = null,
    private readonly key = 'parley:outbox',
  ) {
    if (store) this.list = readJson<OutboxItem[]>(store, key, []).filter(isOutboxItem);
  }

  get items(): readonly OutboxItem[] {
    return this.list;
  }

  get size(): number {
    return this.list.length;
  }

  first(): OutboxItem | undefined {
    return this.list[0];
  }

  has(clientId: string): boolean {
    return this.list.some((i) => i.clientId === clientId);
  }

  add(item: OutboxItem): void {
    if (this.has(item.clientId)) return;
    this.list.push(item);
    this.save();
  }

  /** Remove an item (acknowledged, rejected, or seen in a replay/push). Returns it if it was there. */
  remove(clientId: string): OutboxItem | undefined {
    const i = this.list.findIndex((x) => x.clientId === clientId);
    if (i < 0) return undefined;
    const [item] = this.list.splice(i, 1);
    this.save();
    return item;
  }

  /** Move every queued item of `from` (or with no conversation yet) to conversation `to`. */
  retarget(from: string | null, to: string): void {
    let changed = false;
    for (const item of this.list) {
      if (item.conversationId === from || item.conversationId === null) {
        item.conversationId = to;
        changed = true;
      }
    }
    if (changed) this.save();
  }

  forConversation(conversationId: string | null): OutboxItem[] {
    return this.list.filter((i) => i.conversationId === conversationId || i.conversationId === null);
  }

  private save(): void {
    if (!this.store) return;
    try {
      if (this.list.length) this.store.setItem(this.key, JSON.stringify(this.list));
      else this.store.removeItem(this.key);
    } catch {
      // Storage full or disabled (private mode): the outbox still works in memory.
    }
  }
}

export interface OutboxSenderDeps {
  /** Invoke `Send` on the hub (the implementation may first start a conversation for a null id). */
  send(item: OutboxItem): Promise<SendAck>;
  /** Whether the hub connection is up; when it is not, flushing waits for `flush()` after reconnect. */
  isConnected(): boolean;
  /** The server stored the message (ack may be a duplicate of an earlier attempt). */
  onAck(item: OutboxItem, ack: SendAck): void;
  /** The server refused the message for good (body_empty, body_too_large, invalid_request). */
  onRejected(item: OutboxItem, code: string | null, error: unknown): void;
  /**
   * The conversation is closed/unknown. Return the id of the conversation to resend to (the widget starts
   * a new one), or null to reject the item.
   */
  onConversationGone?(item: OutboxItem, code: string): Promise<string | null>;
  /** Schedule a retry while connected (e.g. after `unavailable`). Defaults to setTimeout. */
  schedule?(fn: () => void, ms: number): void;
  /** Delay before retrying a transient failure while still connected. */
  retryDelayMs?: number;
  /** The back-off's jitter source, [0, 1) (defaults to Math.random). */
  random?: () => number;
}

/**
 * Sends outbox items in order. `flush()` is single-flight: calling it while a flush runs makes that run
 * continue with the newly queued items instead of starting a second, concurrent one (which could reorder).
 */
export class OutboxSender {
  private running: Promise<void> | null = null;
  private again = false;
  private retryTimer = false;
  private throttled = 0;

  constructor(
    private readonly outbox: Outbox,
    private readonly deps: OutboxSenderDeps,
  ) {}

  flush(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = this.run().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async run(): Promise<void> {
    do {
      this.again = false;
      while (this.outbox.size > 0 && this.deps.isConnected()) {
        const item = this.outbox.first()!;
        const outcome = await this.sendOne(item);
        if (outcome === 'stop') return;
      }
    } while (this.again && this.outbox.size > 0 && this.deps.isConnected());
  }

  private async sendOne(item: OutboxItem): Promise<'next' | 'stop'> {
    try {
      const ack = await this.deps.send(item);
      // It may have been removed meanwhile (seen in a replay); onAck is still useful to place the message.
      this.outbox.remove(item.clientId);
      this.throttled = 0;
      this.deps.onAck(item, ack);
      return 'next';
    } catch (error) {
      const code = hubErrorCode(error);
      switch (classifySendError(code)) {
        case 'rejected':
          this.outbox.remove(item.clientId);
          this.deps.onRejected(item, code, error);
          return 'next';
        case 'conversation': {
          const target = this.deps.onConversationGone ? await this.deps.onConversationGone(item, code!) : null;
          if (target && target !== item.conversationId) {
            this.outbox.retarget(item.conversationId, target);
            return 'next'; // same item, same client id, new conversation
          }
          this.outbox.remove(item.clientId);
          this.deps.onRejected(item, code, error);
          return 'next';
        }
        case 'blocked':
          // Final for every queued message, not just this one: nothing will be accepted, so do not try.
          for (const queued of [...this.outbox.items]) {
            this.outbox.remove(queued.clientId);
            this.deps.onRejected(queued, code, error);
          }
          return 'stop';
        case 'throttled':
          this.retryLater(throttleDelay(this.throttled++, this.deps.random));
          return 'stop';
        default:
          // Keep the item. If we are still connected (e.g. `unavailable`), retry after a pause;
          // otherwise the reconnect handler calls flush().
          this.retryLater(this.deps.retryDelayMs ?? 2000);
          return 'stop';
      }
    }
  }

  private retryLater(ms: number): void {
    if (!this.deps.isConnected() || this.retryTimer) return;
    this.retryTimer = true;
    const schedule = this.deps.schedule ?? ((fn, delay) => void setTimeout(fn, delay));
    schedule(() => {
      this.retryTimer = false;
      void this.flush();
    }, ms);
  }
}

export function readJson<T>(store: KeyValueStore, key: string, fallback: T): T {
  try {
    const raw = store.getItem(key);
    return raw ? (JSON.parse(raw) as T) : fallback;
  } catch {
    return fallback;
  }
}

function isOutboxItem(x: unknown): x is OutboxItem {
  if (typeof x !== 'object' || x === null) return false;
  const o = x as Record<string, unknown>;
  return typeof o.clientId === 'string' && typeof o.body === 'string' && (o.conversationId === null || typeof o.conversationId === 'string');
}

/** Who sent an outbox item, as the stored message names them. */
export interface AckSender {
  kind: SenderKind;
  id: string | null;
  name: string | null;
}

/**
 * The message an acknowledged send became, built locally from the ack (id, seq, time) and what was sent, so the
 * sender's log shows it at once without waiting for the push. Both clients use this one function.
 */
export function messageFromAck(item: OutboxItem, ack: SendAck, sender: AckSender): MessageDto {
  return {
    id: ack.id,
    conversationId: ack.conversationId,
    seq: ack.seq,
    clientId: ack.clientId,
    senderKind: sender.kind,
    senderId: sender.id,
    senderName: sender.name,
    kind: item.note ? 'note' : 'text',
    body: item.body,
    createdAt: ack.createdAt,
  };
}
