import {
  ConversationLog,
  Outbox,
  OutboxSender,
  coalesce,
  createManagedHub,
  hubErrorCode,
  readJson,
  retryDelay,
  type ConnectionState,
  type ConversationInfo,
  type LogSnapshot,
  type ManagedHub,
  type MessageDto,
  type OutboxItem,
  type Replay,
  type SendAck,
  type WidgetSessionResponse,
} from '@parley/shared';
import type { ViewMessage } from './view';

/** What the controller tells the UI layer. */
export interface ChatEvents {
  onChange(items: ViewMessage[], ownSend: boolean): void;
  onConnection(state: ConnectionState): void;
  onSession(siteName: string): void;
  onStatus(status: 'none' | 'open' | 'closed'): void;
  onFatal(kind: 'siteNotFound'): void;
  onLoadError(): void;
  /** A new agent/bot/system message arrived live (for the loader's unread badge). */
  onIncoming(message: MessageDto): void;
}

interface FailedItem {
  item: OutboxItem;
  code: string | null;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string | undefined,
  ) {
    super(`HTTP ${status}${code ? ` (${code})` : ''}`);
  }
}

/**
 * The visitor side of a chat: REST session, visitor hub, seq-ordered history, outbox.
 * Persists token, the current conversation (lastSeq + newest messages) and the outbox in localStorage so
 * a reload shows history instantly and resumes from where it was.
 */
export class VisitorChat {
  private readonly keys: { token: string; conv: string; outbox: string };
  private readonly store: Storage | null = safeStorage();
  private token: string | null;
  private contactId: string | null = null;
  private log: ConversationLog | null = null;
  private status: 'none' | 'open' | 'closed' = 'none';
  private readonly outbox: Outbox;
  private readonly sender: OutboxSender;
  private readonly failed: FailedItem[] = [];
  private hub: ManagedHub | null = null;
  private saveQueued = false;
  private readonly fillGap = coalesce(() => this.resume());
  private starting: Promise<ConversationInfo> | null = null;

  constructor(
    private readonly siteKey: string,
    private readonly events: ChatEvents,
  ) {
    const prefix = `parley:${siteKey}:`;
    this.keys = { token: `${prefix}token`, conv: `${prefix}conv`, outbox: `${prefix}outbox` };
    this.token = this.store?.getItem(this.keys.token) ?? null;
    this.outbox = new Outbox(this.store, this.keys.outbox);
    this.sender = new OutboxSender(this.outbox, {
      isConnected: () => this.hub?.connected ?? false,
      send: (item) => this.invokeSend(item),
      onAck: (item, ack) => this.onAck(item, ack),
      onRejected: (item, code) => {
        this.failed.push({ item, code });
        this.changed(false);
      },
      onConversationGone: async () => {
        // The agent closed it (or it vanished): start a new one and resend with the same client ids.
        this.setLog(null);
        const info = await this.ensureConversation();
        return info.id;
      },
    });
    const saved = this.store ? readJson<LogSnapshot | null>(this.store, this.keys.conv, null) : null;
    if (saved && typeof saved.conversationId === 'string' && Array.isArray(saved.messages)) {
      this.log = new ConversationLog(saved.conversationId, saved);
      this.status = 'open';
    }
  }

  /** Show cached state, then get a session and connect (retrying for ever on network errors). */
  async start(): Promise<void> {
    this.changed(false);
    for (let attempt = 0; ; attempt++) {
      try {
        await this.openSession();
        break;
      } catch (error) {
        if (error instanceof HttpError && error.status === 404) {
          this.events.onFatal('siteNotFound');
          return;
        }
        this.events.onLoadError();
        await sleep(retryDelay(attempt + 1));
      }
    }
    this.hub = createManagedHub({
      url: '/hubs/visitor',
      accessTokenFactory: () => this.token ?? '',
      onState: (s) => this.events.onConnection(s),
      onConnected: () => this.onConnected(),
      onStartError: async (error) => {
        // An expired token makes the upgrade fail with 401: get a fresh session before the next try.
        if (/\b401\b|Unauthorized/i.test(String(error))) await this.openSession().catch(() => undefined);
      },
    });
    const c = this.hub.connection;
    c.on('message', (m: MessageDto) => this.onPush(m));
    c.on('conversation', (info: ConversationInfo) => this.onConversationInfo(info));
    await this.hub.start();
  }

  /** Queue a message: shown at once as "sending", sent in order when connected. */
  send(text: string): void {
    const body = text.trim();
    if (!body) return;
    this.outbox.add({
      clientId: crypto.randomUUID(),
      conversationId: this.status === 'open' ? (this.log?.conversationId ?? null) : null,
      body,
      queuedAt: Date.now(),
    });
    this.changed(true);
    void this.sender.flush();
  }

  private async openSession(): Promise<void> {
    const res = await fetch('/api/v1/widget/session', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      credentials: 'omit',
      body: JSON.stringify({ siteKey: this.siteKey, visitorToken: this.token }),
    });
    if (!res.ok) {
      const problem = (await res.json().catch(() => ({}))) as { code?: string };
      throw new HttpError(res.status, problem.code);
    }
    const session = (await res.json()) as WidgetSessionResponse;
    this.token = session.visitorToken;
    this.contactId = session.contactId;
    this.store?.setItem(this.keys.token, session.visitorToken);
    this.events.onSession(session.site.name);
    const conv = session.conversation;
    if (conv && conv.status !== 'closed') {
      // Cached history is only valid for the same conversation and if the server has not gone backwards.
      if (!this.log || this.log.conversationId !== conv.id || this.log.lastSeq > conv.lastSeq) this.setLog(new ConversationLog(conv.id));
      this.status = 'open';
    } else if (this.log) {
      this.status = 'closed'; // keep showing the old conversation until the visitor writes again
    }
    this.events.onStatus(this.status);
    this.changed(false);
  }

  private async onConnected(): Promise<void> {
    if (this.log && this.status === 'open') await this.fillGap().catch(() => undefined);
    await this.sender.flush();
  }

  /** Resume the current conversation from lastSeq; fills gaps and catches up after reconnects. */
  private async resume(): Promise<void> {
    const log = this.log;
    if (!log || !this.hub?.connected) return;
    try {
      const replay = await this.hub.connection.invoke<Replay>('Resume', { conversationId: log.conversationId, afterSeq: log.lastSeq });
      if (this.log !== log) return;
      log.applyReplay(replay);
      for (const m of replay.messages) this.outbox.remove(m.clientId);
      this.status = replay.status === 'closed' ? 'closed' : 'open';
      this.events.onStatus(this.status);
      this.changed(false);
    } catch (error) {
      if (hubErrorCode(error) === 'conversation_not_found') {
        this.setLog(null);
        this.status = 'none';
        this.events.onStatus(this.status);
        this.changed(false);
        return;
      }
      throw error;
    }
  }

  /** StartConversation once, even when several queued messages need it at the same time. */
  private ensureConversation(): Promise<ConversationInfo> {
    if (this.starting) return this.starting;
    this.starting = (async () => {
      const info = await this.hub!.connection.invoke<ConversationInfo>('StartConversation');
      if (!this.log || this.log.conversationId !== info.id) this.setLog(new ConversationLog(info.id));
      this.status = 'open';
      this.events.onStatus(this.status);
      // Another tab may already have written in it: fetch what we do not have.
      if (info.lastSeq > this.log!.lastSeq) void this.fillGap().catch(() => undefined);
      return info;
    })().finally(() => {
      this.starting = null;
    });
    return this.starting;
  }

  private async invokeSend(item: OutboxItem): Promise<SendAck> {
    const current = this.status === 'open' ? this.log?.conversationId : undefined;
    if (!current || item.conversationId !== current) {
      // No conversation yet (created lazily on the first send), or the item was queued for one that has
      // ended since: StartConversation returns the open one or creates it.
      const info = await this.ensureConversation();
      this.outbox.retarget(item.conversationId, info.id);
    }
    return this.hub!.connection.invoke<SendAck>('Send', { conversationId: item.conversationId, clientId: item.clientId, body: item.body });
  }

  private onAck(item: OutboxItem, ack: SendAck): void {
    const log = this.log;
    if (!log || log.conversationId !== ack.conversationId) return;
    const result = log.apply({
      id: ack.id,
      conversationId: ack.conversationId,
      seq: ack.seq,
      clientId: ack.clientId,
      senderKind: 'visitor',
      senderId: this.contactId,
      senderName: null,
      kind: 'text',
      body: item.body,
      createdAt: ack.createdAt,
    });
    if (result === 'buffered') void this.fillGap().catch(() => undefined);
    this.changed(false);
  }

  private onPush(m: MessageDto): void {
    const log = this.log;
    if (!log || m.conversationId !== log.conversationId || m.kind === 'note') return;
    const result = log.apply(m);
    this.outbox.remove(m.clientId); // our own message sent from another tab, or an ack we lost
    if (result === 'buffered') void this.fillGap().catch(() => undefined);
    if (result !== 'duplicate') {
      this.changed(false);
      if (m.senderKind !== 'visitor') this.events.onIncoming(m);
    }
  }

  private onConversationInfo(info: ConversationInfo): void {
    if (!this.log || info.id !== this.log.conversationId) return;
    this.status = info.status === 'closed' ? 'closed' : 'open';
    this.events.onStatus(this.status);
    if (info.lastSeq > this.log.lastSeq) void this.fillGap().catch(() => undefined); // e.g. the close event line
  }

  private setLog(log: ConversationLog | null): void {
    this.log = log;
    this.persist();
  }

  private changed(ownSend: boolean): void {
    this.persist();
    this.events.onChange(this.viewItems(), ownSend);
  }

  private viewItems(): ViewMessage[] {
    const items: ViewMessage[] = [];
    const log = this.log;
    for (const m of log?.messages() ?? []) {
      if (m.kind === 'note') continue;
      items.push({ key: m.clientId, seq: m.seq, senderKind: m.senderKind, senderName: m.senderName, kind: m.kind, body: m.body, createdAt: m.createdAt, state: 'sent' });
    }
    for (const i of this.outbox.items) {
      if (log?.hasClientId(i.clientId)) continue;
      items.push({ key: i.clientId, seq: null, senderKind: 'visitor', senderName: null, kind: 'text', body: i.body, createdAt: null, state: 'sending' });
    }
    for (const f of this.failed) {
      items.push({ key: f.item.clientId, seq: null, senderKind: 'visitor', senderName: null, kind: 'text', body: f.item.body, createdAt: null, state: 'failed', error: f.code ?? '' });
    }
    return items;
  }

  /** Batched to one write per task: a replay of 500 messages must not serialize 500 times. */
  private persist(): void {
    if (this.saveQueued || !this.store) return;
    this.saveQueued = true;
    queueMicrotask(() => {
      this.saveQueued = false;
      try {
        if (this.log) this.store!.setItem(this.keys.conv, JSON.stringify(this.log.snapshot(200)));
        else this.store!.removeItem(this.keys.conv);
      } catch {
        // Quota exceeded or storage disabled: history just won't survive a reload.
      }
    });
  }
}

function safeStorage(): Storage | null {
  try {
    const s = window.localStorage;
    s.getItem('parley:probe');
    return s;
  } catch {
    return null; // third-party iframe with storage blocked
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
