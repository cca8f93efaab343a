import { computed, ref, shallowRef, type Ref } from 'vue';
import {
  ConversationLog,
  Outbox,
  OutboxSender,
  coalesce,
  createManagedHub,
  messageFromAck,
  toDate,
  type ConnectionState,
  type ConversationSummary,
  type LabelsEventDto,
  type ReadEventDto,
  type ViewerDto,
  type ViewersDto,
  type ManagedHub,
  type MessageDto,
  type OutboxItem,
  type Replay,
  type SendAck,
  type UserDto,
} from '@parley/shared';
import { api } from './api';
import { useOffers } from './store/offers';
import { useSignals } from './store/signals';
import { useUploads } from './store/uploads';

/** A row in the message list: stored, queued ("sending"), or refused by the server ("failed"). */
export interface ViewMessage {
  key: string;
  seq: number | null;
  senderKind: MessageDto['senderKind'];
  senderName: string | null;
  kind: MessageDto['kind'];
  body: string;
  createdAt: MessageDto['createdAt'] | null;
  state: 'sending' | 'sent' | 'failed';
  error?: string | null;
}

export type InboxView = 'all' | 'mine' | 'unassigned' | 'teams' | 'closed';

export interface InboxFilters {
  status: '' | 'open' | 'pending' | 'snoozed' | 'waiting';
  labelId: string;
  from: string;
  to: string;
  sort: 'waiting' | 'recent';
  /** What the conversation is about (docs/ai.md); '' for any. */
  intent: string;
}

/** The inbox row (hub `conversationUpdated` and the REST inbox). */
export type Summary = ConversationSummary;

export interface Label {
  id: string;
  name: string;
  color: string;
}

export interface Agent {
  id: string;
  displayName: string;
  role: string;
}

export interface CannedReply {
  id: string;
  shortcut: string;
  body: string;
  shared: boolean;
  mine: boolean;
  rendered: string | null;
}

export interface SearchHit {
  conversationId: string;
  messageId: number;
  seq: number;
  senderKind: string;
  senderName: string | null;
  kind: string;
  createdAt: string;
  contactName: string | null;
  snippet: string;
  highlights: { start: number; length: number }[];
}

/** A conversation routing offers to this agent (agent hub event `offer`, docs/protocol.md). */
export interface Offer {
  conversationId: string;
  /** Epoch milliseconds (server clock). */
  expiresAt: number;
  contactName: string | null;
  preview: string | null;
}

/** The stable code of a hub error ("HubException: <code>: text"), any code; null for transport failures. */
export function hubCode(error: unknown): string | null {
  const text = error instanceof Error ? error.message : String(error ?? '');
  return /HubException:\s*([a-z_]+)\s*:/.exec(text)?.[1] ?? null;
}

interface InboxPage {
  items: Summary[];
  nextCursor: string | null;
  lastReadSeq: Record<string, number>;
  labels: Record<string, string[]>;
}

interface FailedItem {
  item: OutboxItem;
  code: string | null;
}

function storage(): Storage | null {
  try {
    return window.localStorage;
  } catch {
    return null;
  }
}


/**
 * Everything the signed-in console needs: the agent hub, the inbox (kept live by `conversationUpdated`),
 * per-conversation message logs (seq rules from @parley/shared) and the outbox.
 *
 * Logs are plain objects outside Vue's reactivity (they can hold thousands of messages); `version` is
 * bumped on every change and the computed views read it.
 */
export function createConsoleStore(me: UserDto) {
  const store = storage();
  const connection = ref<ConnectionState>('connecting');
  const summaries = ref<Record<string, Summary>>({});
  const view = ref<InboxView>('all');
  const filters = ref<InboxFilters>({ status: '', labelId: '', from: '', to: '', sort: 'waiting', intent: '' });
  /** Ids the server listed for the current view; live updates add rows that match the view's rule. */
  const listed = ref<Set<string>>(new Set());
  const labels = ref<Label[]>([]);
  const convLabels = ref<Record<string, string[]>>({});
  const viewers = ref<Record<string, ViewerDto[]>>({});
  const agents = ref<Agent[]>([]);
  const jumpSeq = ref<number | null>(null);
  const notices: ((kind: 'new' | 'assigned', s: Summary) => void)[] = [];
  const nextCursor = ref<string | null>(null);
  const inboxLoading = ref(false);
  const selectedId = ref<string | null>(null);
  const version = ref(0);
  const loadingOlder = ref(false);
  const failed = shallowRef<FailedItem[]>([]);
  const readSeq: Ref<Record<string, number>> = ref({});
  const logs = new Map<string, ConversationLog>();
  const outbox = new Outbox(store, 'parley:console:outbox');

  let hub: ManagedHub | null = null;
  // Concerns with their own state, each in its own composable (store/*.ts), behind this one store.
  const { offers, dropOffer, onOffer, acceptOffer, declineOffer } = useOffers({ summaries, upsert, hub: () => hub });
  const { typing, typingNow, notifyTyping, onTyping, clearTyping, onReadReceipt, peerReadSeq } = useSignals({ selectedId, hub: () => hub });
  const { uploads, upload, dismissUpload } = useUploads({ selectedId });
  const fillGap = new Map<string, () => Promise<void>>();

  const sender = new OutboxSender(outbox, {
    isConnected: () => hub?.connected ?? false,
    send: (item) =>
      hub!.connection.invoke<SendAck>('Send', { conversationId: item.conversationId, clientId: item.clientId, body: item.body, note: !!item.note }),
    onAck(item, ack) {
      const log = logs.get(ack.conversationId);
      if (log) {
        const result = log.apply(messageFromAck(item, ack, { kind: 'agent', id: me.id, name: me.displayName }));
        if (result === 'buffered') requestJoin(ack.conversationId);
        if (ack.conversationId === selectedId.value) markRead(ack.conversationId, log.lastSeq);
      }
      bump();
    },
    onRejected(item, code) {
      failed.value = [...failed.value, { item, code }];
      bump();
    },
  });

  function bump(): void {
    version.value++;
  }

  // ---- inbox ---------------------------------------------------------------------------------------
  /** Does a (live-updated) conversation belong in the current view with the current filters? */
  function matches(s: Summary): boolean {
    const v = view.value;
    const f = filters.value;
    if (v === 'closed' ? s.status !== 'closed' : s.status === 'closed') return false;
    if (v === 'mine' && s.assigneeId !== me.id) return false;
    if (v === 'unassigned' && s.assigneeId) return false;
    if (v === 'teams' && !listed.value.has(s.id)) return false;
    if (f.status === 'pending' && s.status !== 'pending') return false;
    if (f.status === 'snoozed' && !s.snoozedUntil) return false;
    if (f.status === 'waiting' && !s.waitingSince) return false;
    if (f.labelId && !(convLabels.value[s.id] ?? []).includes(f.labelId)) return false;
    if (f.intent && s.intent !== f.intent) return false;
    const created = toDate(s.createdAt)?.getTime() ?? 0;
    if (f.from && created < new Date(f.from).getTime()) return false;
    if (f.to && created >= new Date(f.to).getTime() + 86_400_000) return false;
    return true;
  }

  const inbox = computed(() => {
    const rows = Object.values(summaries.value).filter(matches);
    if (filters.value.sort === 'recent') return rows.sort((a, b) => activity(b) - activity(a));
    // Oldest waiting first, then answered ones by recent activity (the server's order).
    return rows.sort((a, b) => {
      const wa = toDate(a.waitingSince ?? null)?.getTime();
      const wb = toDate(b.waitingSince ?? null)?.getTime();
      if (wa !== undefined && wb !== undefined) return wa - wb;
      if (wa !== undefined) return -1;
      if (wb !== undefined) return 1;
      return activity(b) - activity(a);
    });
  });

  function activity(s: ConversationSummary): number {
    return (toDate(s.lastMessageAt) ?? toDate(s.createdAt))?.getTime() ?? 0;
  }

  function upsert(s: Summary): void {
    const before = summaries.value[s.id];
    summaries.value = { ...summaries.value, [s.id]: s };
    if (!before && s.status !== 'closed') for (const n of notices) n('new', s);
    else if (before && before.assigneeId !== me.id && s.assigneeId === me.id) for (const n of notices) n('assigned', s);
    if (offers.value.some((o) => o.conversationId === s.id)) {
      offers.value = offers.value.map((o) => (o.conversationId === s.id ? { ...o, contactName: s.contactName ?? o.contactName, preview: s.lastMessagePreview ?? o.preview } : o));
    }
    if (s.id === selectedId.value) {
      markRead(s.id, s.lastSeq);
      // The summary may announce messages we have not received yet (a lost push): fetch them.
      const log = logs.get(s.id);
      if (log && s.lastSeq > log.lastSeq) requestJoin(s.id);
    }
  }

  async function loadInbox(more = false): Promise<void> {
    inboxLoading.value = true;
    try {
      const f = filters.value;
      const q = new URLSearchParams({ view: view.value, limit: '50', sort: f.sort });
      if (f.status) q.set('status', f.status);
      if (f.labelId) q.set('labelId', f.labelId);
      if (f.intent) q.set('intent', f.intent);
      if (f.from) q.set('from', new Date(f.from).toISOString());
      if (f.to) q.set('to', new Date(new Date(f.to).getTime() + 86_400_000).toISOString());
      if (more && nextCursor.value) q.set('cursor', nextCursor.value);
      const page = await api<InboxPage>('GET', `/conversations?${q}`);
      const next = { ...summaries.value };
      const ids = more ? new Set(listed.value) : new Set<string>();
      for (const s of page.items) {
        next[s.id] = s;
        ids.add(s.id);
      }
      summaries.value = next;
      listed.value = ids;
      readSeq.value = { ...readSeq.value, ...page.lastReadSeq };
      convLabels.value = { ...convLabels.value, ...page.labels };
      nextCursor.value = page.nextCursor ?? null;
    } finally {
      inboxLoading.value = false;
    }
  }

  function setView(v: InboxView): void {
    if (view.value === v) return;
    view.value = v;
    nextCursor.value = null;
    void loadInbox().catch(() => undefined);
  }

  function setFilters(f: Partial<InboxFilters>): void {
    filters.value = { ...filters.value, ...f };
    nextCursor.value = null;
    void loadInbox().catch(() => undefined);
  }

  function unreadCount(s: ConversationSummary): number {
    if (s.id === selectedId.value) return 0;
    return Math.max(0, s.lastSeq - (readSeq.value[s.id] ?? 0));
  }

  function isUnread(s: ConversationSummary): boolean {
    return unreadCount(s) > 0;
  }

  const pendingRead = new Map<string, number>();
  let readTimer = 0;
  /** Moves the read marker locally at once; tells the server (debounced) so other tabs and the unread counts follow. */
  function markRead(id: string, seq: number): void {
    if ((readSeq.value[id] ?? 0) >= seq) return;
    readSeq.value = { ...readSeq.value, [id]: seq };
    pendingRead.set(id, seq);
    if (!readTimer) {
      readTimer = window.setTimeout(() => {
        readTimer = 0;
        const batch = [...pendingRead];
        pendingRead.clear();
        for (const [cid, s] of batch) {
          if (hub?.connected) void hub.connection.invoke('MarkRead', cid, s).catch(() => undefined);
          else void api('POST', `/conversations/${cid}/read`, { seq: s }).catch(() => undefined);
        }
      }, 300);
    }
  }

  async function loadLookups(): Promise<void> {
    const [l, a] = await Promise.all([api<Label[]>('GET', '/labels'), api<Agent[]>('GET', '/console/agents')]);
    labels.value = l;
    agents.value = a;
  }

  // ---- conversation messages -------------------------------------------------------------------------
  function requestJoin(id: string): void {
    let fn = fillGap.get(id);
    if (!fn) {
      fn = coalesce(() => join(id));
      fillGap.set(id, fn);
    }
    void fn().catch(() => undefined);
  }

  /** Join (subscribe + replay from lastSeq). Also the gap filler and the after-reconnect catch-up. */
  async function join(id: string): Promise<void> {
    if (!hub?.connected) return;
    let log = logs.get(id);
    if (!log) {
      log = new ConversationLog(id);
      logs.set(id, log);
    }
    const replay = await hub.connection.invoke<Replay>('Join', { conversationId: id, afterSeq: log.lastSeq });
    log.applyReplay(replay);
    if (replay.peerReadSeq !== undefined) onReadReceipt({ conversationId: id, side: 'visitor', seq: replay.peerReadSeq });
    for (const m of replay.messages) outbox.remove(m.clientId);
    if (id === selectedId.value) markRead(id, log.lastSeq);
    const s = summaries.value[id];
    if (s && s.status !== replay.status) upsert({ ...s, status: replay.status });
    bump();
  }

  async function select(id: string | null, seq: number | null = null): Promise<void> {
    const previous = selectedId.value;
    if (previous === id) {
      if (seq !== null) void jumpTo(seq);
      return;
    }
    selectedId.value = id;
    failed.value = [];
    bump();
    if (previous && hub?.connected) void hub.connection.invoke('Leave', previous).catch(() => undefined);
    // Not subscribed any more: the cached log would go stale, so start from it but always re-Join.
    if (!id) return;
    if (!summaries.value[id]) {
      void api<Summary>('GET', `/conversations/${id}`)
        .then(upsert)
        .catch(() => undefined);
    }
    requestJoin(id);
    if (seq !== null) void jumpTo(seq).catch(() => undefined);
  }

  async function loadOlder(): Promise<number> {
    const id = selectedId.value;
    const log = id ? logs.get(id) : undefined;
    if (!id || !log || log.firstSeq === null || loadingOlder.value) return 0;
    loadingOlder.value = true;
    try {
      const page = await api<{ items: MessageDto[] }>('GET', `/conversations/${id}/messages?beforeSeq=${log.firstSeq}&limit=200`);
      const added = log.prepend(page.items);
      if (page.items.length === 0 || log.firstSeq === 1) noOlder.add(id);
      bump();
      return added;
    } finally {
      loadingOlder.value = false;
    }
  }
  const noOlder = new Set<string>();

  /** Opens history down to `seq` (a search hit), then asks the list to scroll there. */
  async function jumpTo(seq: number): Promise<void> {
    const id = selectedId.value;
    if (!id) return;
    const pause = () => new Promise((r) => window.setTimeout(r, 50));
    for (let i = 0; i < 600 && selectedId.value === id; i++) {
      const log = logs.get(id);
      if (log && log.firstSeq !== null && log.firstSeq <= seq) break;
      if (!hub?.connected || loadingOlder.value) {
        await pause(); // a deep link opened before the hub connected, or a page already on its way
        continue;
      }
      if (!log || log.firstSeq === null) {
        await join(id);
        if ((logs.get(id)?.lastSeq ?? 0) === 0) break;
        continue;
      }
      if ((await loadOlder()) === 0) break;
    }
    jumpSeq.value = seq;
  }

  const canLoadOlder = computed(() => {
    void version.value;
    const id = selectedId.value;
    const log = id ? logs.get(id) : undefined;
    return !!log && !!id && log.mayHaveOlder && !noOlder.has(id);
  });

  const messages = computed<ViewMessage[]>(() => {
    void version.value;
    const id = selectedId.value;
    if (!id) return [];
    const log = logs.get(id);
    const rows: ViewMessage[] = (log?.messages() ?? []).map((m) => ({
      key: m.clientId,
      seq: m.seq,
      senderKind: m.senderKind,
      senderName: m.senderName,
      kind: m.kind,
      body: m.body,
      createdAt: m.createdAt,
      state: 'sent',
    }));
    for (const i of outbox.items) {
      if (i.conversationId !== id || log?.hasClientId(i.clientId)) continue;
      rows.push({ key: i.clientId, seq: null, senderKind: 'agent', senderName: me.displayName, kind: i.note ? 'note' : 'text', body: i.body, createdAt: null, state: 'sending' });
    }
    for (const f of failed.value) {
      if (f.item.conversationId !== id) continue;
      rows.push({ key: f.item.clientId, seq: null, senderKind: 'agent', senderName: me.displayName, kind: f.item.note ? 'note' : 'text', body: f.item.body, createdAt: null, state: 'failed', error: f.code });
    }
    return rows;
  });

  function send(body: string, note: boolean): void {
    const id = selectedId.value;
    const text = body.trim();
    if (!id || !text) return;
    outbox.add({ clientId: crypto.randomUUID(), conversationId: id, body: text, note, queuedAt: Date.now() });
    bump();
    void sender.flush();
  }

  // ---- conversation actions (REST) -------------------------------------------------------------------
  async function action(id: string, what: 'assign' | 'close' | 'reopen' | 'spam' | 'unsnooze'): Promise<void> {
    const s =
      what === 'unsnooze'
        ? await api<Summary>('DELETE', `/conversations/${id}/snooze`)
        : await api<Summary>('POST', `/conversations/${id}/${what}`, what === 'assign' ? {} : undefined);
    upsert(s);
    requestJoin(id); // these append a system message
  }

  async function snooze(id: string, until: Date): Promise<void> {
    upsert(await api<Summary>('POST', `/conversations/${id}/snooze`, { until: until.toISOString() }));
    requestJoin(id);
  }

  /** Hands the conversation to another agent, with an optional internal note for them. */
  async function transfer(id: string, userId: string, note: string): Promise<void> {
    if (note.trim()) {
      outbox.add({ clientId: crypto.randomUUID(), conversationId: id, body: note.trim(), note: true, queuedAt: Date.now() });
      await sender.flush();
    }
    upsert(await api<Summary>('POST', `/conversations/${id}/assign`, { userId }));
    requestJoin(id);
  }

  /** "This was sales": stores the intent and turns the visitor's first message into a training example. */
  async function correctIntent(id: string, intent: string): Promise<void> {
    upsert(await api<Summary>('PUT', `/conversations/${id}/intent`, { intent }));
  }

  async function setLabels(id: string, labelIds: string[]): Promise<void> {
    const r = await api<{ conversationId: string; labelIds: string[] }>('PUT', `/conversations/${id}/labels`, { labelIds });
    convLabels.value = { ...convLabels.value, [id]: r.labelIds };
  }

  async function createLabel(name: string, color: string): Promise<Label> {
    const l = await api<Label>('POST', '/labels', { name, color });
    labels.value = [...labels.value, l].sort((a, b) => a.name.localeCompare(b.name));
    return l;
  }

  function cannedReplies(q: string): Promise<CannedReply[]> {
    const p = new URLSearchParams({ q });
    if (selectedId.value) p.set('conversationId', selectedId.value);
    return api<CannedReply[]>('GET', `/canned-replies?${p}`);
  }

  function search(q: string): Promise<{ items: SearchHit[]; nextCursor: string | null }> {
    return api('GET', `/search/messages?${new URLSearchParams({ q })}`);
  }

  // ---- hub -------------------------------------------------------------------------------------------
  function onPush(m: MessageDto): void {
    const log = logs.get(m.conversationId);
    if (!log) return; // not a conversation we are showing
    const result = log.apply(m);
    outbox.remove(m.clientId);
    // A message from the side that was typing ends its indicator.
    const typist = typing.value[m.conversationId];
    if (typist && (typist.side === 'visitor') === (m.senderKind === 'visitor')) clearTyping(m.conversationId);
    if (result === 'buffered') requestJoin(m.conversationId);
    if (result !== 'duplicate') {
      if (m.conversationId === selectedId.value) markRead(m.conversationId, log.lastSeq);
      bump();
    }
  }

  // Handlers of hub events that extensions (the context panel) register; kept across (re)connects.
  const extraHandlers: Array<[string, (...args: never[]) => void]> = [];
  function onHubEvent<T>(name: string, handler: (payload: T) => void): () => void {
    const entry: [string, (...args: never[]) => void] = [name, handler as (...args: never[]) => void];
    extraHandlers.push(entry);
    hub?.connection.on(name, handler as (...args: unknown[]) => void);
    return () => {
      extraHandlers.splice(extraHandlers.indexOf(entry), 1);
      hub?.connection.off(name, handler as (...args: unknown[]) => void);
    };
  }

  async function connect(): Promise<void> {
    hub = createManagedHub({
      url: '/hubs/agent',
      onState: (s) => (connection.value = s),
      async onConnected(resumed) {
        if (resumed) void loadInbox().catch(() => undefined); // catch up on conversationUpdated we missed
        if (selectedId.value) requestJoin(selectedId.value);
        await sender.flush();
      },
    });
    hub.connection.on('message', onPush);
    hub.connection.on('conversationUpdated', upsert);
    hub.connection.on('offer', onOffer);
    hub.connection.on('typing', onTyping);
    hub.connection.on('read', onReadReceipt);
    hub.connection.on('viewers', (v: ViewersDto) => {
      viewers.value = { ...viewers.value, [v.conversationId]: v.viewers };
    });
    hub.connection.on('conversationLabels', (l: LabelsEventDto) => {
      convLabels.value = { ...convLabels.value, [l.conversationId]: l.labelIds };
    });
    hub.connection.on('readState', (r: ReadEventDto) => {
      if ((readSeq.value[r.conversationId] ?? 0) < r.lastReadSeq) readSeq.value = { ...readSeq.value, [r.conversationId]: r.lastReadSeq };
    });
    for (const [name, handler] of extraHandlers) hub.connection.on(name, handler as (...args: unknown[]) => void);
    await hub.start();
  }

  async function disconnect(): Promise<void> {
    await hub?.stop();
  }

  return {
    me,
    connection,
    view,
    filters,
    labels,
    convLabels,
    viewers,
    agents,
    jumpSeq,
    offers,
    dropOffer,
    acceptOffer,
    declineOffer,
    inbox,
    inboxLoading,
    nextCursor,
    selectedId,
    selected: computed<Summary | null>(() => (selectedId.value ? (summaries.value[selectedId.value] ?? null) : null)),
    messages,
    typingNow,
    notifyTyping,
    peerReadSeq,
    uploads: computed(() => uploads.value.filter((u) => u.conversationId === selectedId.value)),
    upload,
    dismissUpload,
    canLoadOlder,
    loadingOlder,
    isUnread,
    unreadCount,
    setView,
    setFilters,
    loadInbox,
    loadLookups,
    jumpTo,
    snooze,
    transfer,
    setLabels,
    correctIntent,
    createLabel,
    cannedReplies,
    search,
    onNotice: (fn: (kind: 'new' | 'assigned', s: Summary) => void) => notices.push(fn),
    hubInvoke: <T>(method: string, ...args: unknown[]): Promise<T> => hub!.connection.invoke<T>(method, ...args),
    select,
    loadOlder,
    send,
    action,
    connect,
    disconnect,
    onHubEvent,
  };
}

export type ConsoleStore = ReturnType<typeof createConsoleStore>;
