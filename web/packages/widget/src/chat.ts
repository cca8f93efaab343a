import {
  ConversationLog,
  Outbox,
  OutboxSender,
  coalesce,
  createManagedHub,
  hubErrorCode,
  messageFromAck,
  readJson,
  retryDelay,
  type ConnectionState,
  type ConversationInfo,
  type LogSnapshot,
  type ManagedHub,
  type MessageDto,
  type OutboxItem,
  type QueueStatus,
  type Replay,
  type ReadEvent,
  type SendAck,
  type TypingEvent,
  type WidgetSessionResponse,
} from '@parley/shared';
import type { ViewMessage } from './view';

/** What the controller tells the UI layer. */
export interface ChatEvents {
  onChange(items: ViewMessage[], ownSend: boolean): void;
  onConnection(state: ConnectionState): void;
  onSession(session: WidgetSessionResponse): void;
  onStatus(status: 'none' | 'open' | 'closed'): void;
  onFatal(kind: 'siteNotFound' | 'blocked'): void;
  /** The visitor's place in the queue for the conversation on screen; null when it does not apply (any more). */
  onQueue(status: QueueStatus | null): void;
  onLoadError(): void;
  /** The server refused a new session under load (503 overloaded): offer the offline form meanwhile. */
  onBusy(): void;
  /** A new agent/bot/system message arrived live (for the loader's unread badge). */
  onIncoming(message: MessageDto): void;
  /** An agent started or stopped typing. */
  onTyping(typing: boolean, name: string | null): void;
}

/** What the host page told us through the loader (Parley.setUser) and where the visitor is. */
export interface ChatInit {
  user: Record<string, unknown> | null;
  page: { url?: string; title?: string; referrer?: string; language?: string; timeZone?: string } | null;
}

interface Upload {
  name: string;
  progress: number;
  error?: string;
}

interface FailedItem {
  item: OutboxItem;
  code: string | null;
}

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string | undefined,
    /** Seconds from a Retry-After header (503 overloaded). */
    readonly retryAfter?: number,
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
  private peerReadSeq = 0;
  private markedSeq = 0;
  private visible = false;
  private typingSentAt = 0;
  private readonly uploads = new Map<string, Upload>();
  private readonly markRead = coalesce(() => this.sendRead());
  /** Newest `queue` event per conversation: it may arrive before StartConversation has returned the id. */
  private readonly queue = new Map<string, QueueStatus>();

  constructor(
    private readonly siteKey: string,
    private readonly events: ChatEvents,
    private init: ChatInit = { user: null, page: null },
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
        if (code === 'contact_blocked') this.events.onFatal('blocked');
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
        if (error instanceof HttpError && error.code === 'overloaded') {
          if (this.token) break; // the busy offline form got us a session meanwhile
          this.events.onBusy();
          await sleep(Math.max(error.retryAfter ?? 30, 5) * 1000);
          continue;
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
    c.on('queue', (q: QueueStatus) => {
      this.queue.set(q.conversationId, q);
      this.showQueue();
    });
    c.on('typing', (e: TypingEvent) => {
      if (e.side === 'agent' && e.conversationId === this.log?.conversationId) this.events.onTyping(e.typing, e.name);
    });
    c.on('read', (e: ReadEvent) => {
      if (e.side === 'agent' && e.conversationId === this.log?.conversationId && e.seq > this.peerReadSeq) {
        this.peerReadSeq = e.seq;
        this.changed(false);
      }
    });
    await this.hub.start();
  }

  get conversationId(): string | null {
    return this.status === 'open' || this.status === 'closed' ? (this.log?.conversationId ?? null) : null;
  }

  get hasHistory(): boolean {
    return (this.log?.messages().length ?? 0) > 0 || this.outbox.items.length > 0;
  }

  /** The chat is on screen (widget open and tab visible): agent messages count as read. */
  setVisible(visible: boolean): void {
    this.visible = visible;
    if (visible) void this.markRead().catch(() => undefined);
  }

  /** Called on every keystroke; tells agents "typing" at most every 2.5 s, and "stopped" once. */
  typing(active: boolean): void {
    const id = this.status === 'open' ? this.log?.conversationId : undefined;
    if (!id || !this.hub?.connected) return;
    const now = Date.now();
    if (active && now - this.typingSentAt < 2500) return;
    if (!active && this.typingSentAt === 0) return;
    this.typingSentAt = active ? now : 0;
    void this.hub.connection.invoke('Typing', { conversationId: id, typing: active }).catch(() => undefined);
  }

  /** setUser after load: a different (verified) person means a different contact and history, so start over. */
  async identify(user: Record<string, unknown> | null): Promise<void> {
    this.init = { ...this.init, user };
    const before = this.contactId;
    await this.openSession();
    if (before && this.contactId !== before) {
      this.store?.removeItem(this.keys.conv);
      this.store?.removeItem(this.keys.outbox);
      location.reload();
    }
  }

  /** Upload a file as a message; progress and errors show as a row until the message itself arrives. */
  async upload(file: File): Promise<void> {
    const clientId = crypto.randomUUID();
    const row: Upload = { name: file.name, progress: 0 };
    this.uploads.set(clientId, row);
    this.changed(true);
    try {
      if (!this.hub?.connected) throw new HttpError(0, 'offline');
      const info = this.status === 'open' && this.log ? { id: this.log.conversationId } : await this.ensureConversation();
      const url = `/api/v1/widget/conversations/${info.id}/attachments?name=${encodeURIComponent(file.name)}&clientId=${clientId}`;
      await xhrUpload(url, this.token ?? '', file, (p) => {
        row.progress = p;
        this.events.onChange(this.viewItems(), false);
      });
      this.uploads.delete(clientId);
      if (!this.log?.hasClientId(clientId)) void this.fillGap().catch(() => undefined);
    } catch (error) {
      row.error = error instanceof HttpError ? (error.code ?? 'generic') : 'generic';
      if (row.error === 'contact_blocked') this.events.onFatal('blocked');
    }
    this.changed(false);
  }

  dismissUpload(key: string): void {
    this.uploads.delete(key);
    this.changed(false);
  }

  /** POST to a visitor endpoint with the token; throws HttpError with the problem code. */
  async post<T>(path: string, body: unknown): Promise<T | null> {
    const res = await fetch(path, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${this.token ?? ''}` },
      credentials: 'omit',
      body: JSON.stringify(body),
    });
    if (!res.ok) {
      const problem = (await res.json().catch(() => ({}))) as { code?: string };
      throw new HttpError(res.status, problem.code);
    }
    return res.status === 204 ? null : ((await res.json()) as T);
  }

  /** The offline form: stored as a message of a (new) conversation, which we then follow like any other. */
  async sendOffline(form: Record<string, string>, message: string): Promise<void> {
    const { name, email, phone, ...fields } = form;
    const result = await this.post<{ conversation: ConversationInfo }>('/api/v1/widget/offline', {
      name, email, phone, fields, message, clientId: crypto.randomUUID(),
    });
    if (result) {
      this.setLog(new ConversationLog(result.conversation.id));
      this.status = 'open';
      this.events.onStatus(this.status);
      if (this.hub?.connected) await this.fillGap().catch(() => undefined);
      this.changed(true);
    }
  }

  private async sendRead(): Promise<void> {
    const log = this.log;
    if (!log || !this.visible || !this.hub?.connected || log.lastSeq <= this.markedSeq) return;
    const seq = log.lastSeq;
    await this.hub.connection.invoke('MarkRead', { conversationId: log.conversationId, seq });
    this.markedSeq = Math.max(this.markedSeq, seq);
  }

  /** Queue a message: shown at once as "sending", sent in order when connected. */
  send(text: string): void {
    const body = text.trim();
    if (!body) return;
    this.typingSentAt = 0; // the message itself ends "typing" on the agent's side
    this.outbox.add({
      clientId: crypto.randomUUID(),
      conversationId: this.status === 'open' ? (this.log?.conversationId ?? null) : null,
      body,
      queuedAt: Date.now(),
    });
    this.changed(true);
    void this.sender.flush();
  }

  /** The offline form while the server is too busy for new chats: a session just for it, then the message. */
  async sendBusyOffline(form: Record<string, string>, message: string): Promise<void> {
    if (!this.token) await this.openSession(true);
    await this.sendOffline(form, message);
  }

  private async openSession(offline = false): Promise<void> {
    const res = await fetch('/api/v1/widget/session', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      credentials: 'omit',
      body: JSON.stringify({ siteKey: this.siteKey, visitorToken: this.token, user: this.init.user, page: this.init.page, offline }),
    });
    if (!res.ok) {
      const problem = (await res.json().catch(() => ({}))) as { code?: string };
      throw new HttpError(res.status, problem.code, Number(res.headers.get('Retry-After')) || undefined);
    }
    const session = (await res.json()) as WidgetSessionResponse;
    this.token = session.visitorToken;
    this.contactId = session.contactId;
    this.store?.setItem(this.keys.token, session.visitorToken);
    this.events.onSession(session);
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
      const { reset } = log.applyReplay(replay);
      // Only the newest messages came back: page the ones before them over REST, in the visitor's numbering.
      if (reset) void this.loadOlder(log).catch(() => undefined);
      if ((replay.peerReadSeq ?? 0) > this.peerReadSeq) this.peerReadSeq = replay.peerReadSeq ?? 0;
      for (const m of replay.messages) this.outbox.remove(m.clientId);
      this.status = replay.status === 'closed' ? 'closed' : 'open';
      this.events.onStatus(this.status);
      this.showQueue();
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

  /** One older page (visitor numbering, no notes) before the oldest message held. */
  private async loadOlder(log: ConversationLog): Promise<void> {
    const before = log.firstSeq;
    if (before === null || before <= 1) return;
    const res = await fetch(`/api/v1/widget/conversations/${log.conversationId}/messages?beforeSeq=${before}&limit=100`, {
      headers: { Authorization: `Bearer ${this.token ?? ''}` },
      credentials: 'omit',
    });
    if (!res.ok || this.log !== log) return;
    const page = (await res.json()) as { items: MessageDto[] };
    if (log.prepend(page.items) > 0) this.changed(false);
  }

  /**
   * "Talk to a person" on a bot-first site: the bot hands the conversation (started now if there is none yet) to
   * people. Resolves false when people already have it.
   */
  async requestPerson(): Promise<boolean> {
    if (!this.hub) return false;
    const current = this.status === 'open' ? this.log?.conversationId : undefined;
    const id = current ?? (await this.ensureConversation()).id;
    return this.hub.connection.invoke<boolean>('RequestPerson', id);
  }

  /** Whether a person (not the bot) has written in the conversation on screen, or it is queued for one. */
  get withPeople(): boolean {
    const log = this.log;
    if (!log) return false;
    const q = this.queue.get(log.conversationId);
    return !!q || log.messages().some((m) => m.senderKind === 'agent');
  }

  /** StartConversation once, even when several queued messages need it at the same time. */
  private ensureConversation(): Promise<ConversationInfo> {
    if (this.starting) return this.starting;
    this.starting = (async () => {
      const info = await this.hub!.connection.invoke<ConversationInfo>('StartConversation');
      if (!this.log || this.log.conversationId !== info.id) this.setLog(new ConversationLog(info.id));
      this.status = 'open';
      this.events.onStatus(this.status);
      this.showQueue();
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
    const result = log.apply(messageFromAck(item, ack, { kind: 'visitor', id: this.contactId, name: null }));
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
      if (m.senderKind === 'agent') this.events.onTyping(false, null);
      this.changed(false);
      if (m.senderKind !== 'visitor') this.events.onIncoming(m);
    }
  }

  private onConversationInfo(info: ConversationInfo): void {
    if (!this.log || info.id !== this.log.conversationId) return;
    this.status = info.status === 'closed' ? 'closed' : 'open';
    this.events.onStatus(this.status);
    this.showQueue();
    if (info.lastSeq > this.log.lastSeq) void this.fillGap().catch(() => undefined); // e.g. the close event line
  }

  /** Position and wait only while waiting in the open conversation on screen. */
  private showQueue(): void {
    const q = this.log && this.status === 'open' ? this.queue.get(this.log.conversationId) : undefined;
    this.events.onQueue(q && (q.state === 'queued' || q.state === 'offered') ? q : null);
  }

  private setLog(log: ConversationLog | null): void {
    if (log?.conversationId !== this.log?.conversationId) {
      this.peerReadSeq = 0;
      this.markedSeq = 0;
    }
    this.log = log;
    this.persist();
    this.showQueue();
  }

  private changed(ownSend: boolean): void {
    this.persist();
    this.events.onChange(this.viewItems(), ownSend);
    if (this.visible) void this.markRead().catch(() => undefined);
  }

  private viewItems(): ViewMessage[] {
    const items: ViewMessage[] = [];
    const log = this.log;
    for (const m of log?.messages() ?? []) {
      if (m.kind === 'note') continue;
      const read = m.senderKind === 'visitor' && m.seq <= this.peerReadSeq;
      items.push({ key: m.clientId, seq: m.seq, senderKind: m.senderKind, senderName: m.senderName, kind: m.kind, body: m.body, createdAt: m.createdAt, state: read ? 'read' : 'sent' });
    }
    for (const [key, u] of this.uploads) {
      if (log?.hasClientId(key)) continue;
      items.push({ key, seq: null, senderKind: 'visitor', senderName: null, kind: 'upload', body: u.name, createdAt: null, state: u.error ? 'failed' : 'sending', progress: u.progress, error: u.error });
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

/** XMLHttpRequest because fetch has no upload progress. */
function xhrUpload(url: string, token: string, file: File, progress: (fraction: number) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', url);
    xhr.setRequestHeader('Authorization', `Bearer ${token}`);
    xhr.setRequestHeader('Content-Type', 'application/octet-stream');
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) progress(e.loaded / e.total);
    };
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) resolve();
      else {
        let code: string | undefined;
        try {
          code = (JSON.parse(xhr.responseText) as { code?: string }).code;
        } catch {
          code = undefined;
        }
        reject(new HttpError(xhr.status, code));
      }
    };
    xhr.onerror = () => reject(new HttpError(0, 'network'));
    xhr.send(file);
  });
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
