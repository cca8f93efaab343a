import { computed, ref, shallowRef, type Ref } from 'vue';
import {
  ConversationLog,
  Outbox,
  OutboxSender,
  coalesce,
  createManagedHub,
  toDate,
  type ConnectionState,
  type ConversationStatus,
  type ConversationSummary,
  type ManagedHub,
  type MessageDto,
  type OutboxItem,
  type Replay,
  type SendAck,
  type UserDto,
} from '@parley/shared';
import { api } from './api';

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

export type InboxFilter = 'open' | 'closed';

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

const READ_KEY = 'parley:console:read';

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
  const summaries = ref<Record<string, ConversationSummary>>({});
  const filter = ref<InboxFilter>('open');
  const nextCursor = ref<string | null>(null);
  const inboxLoading = ref(false);
  const selectedId = ref<string | null>(null);
  const version = ref(0);
  const loadingOlder = ref(false);
  const failed = shallowRef<FailedItem[]>([]);
  const readSeq: Ref<Record<string, number>> = ref(loadRead());
  const logs = new Map<string, ConversationLog>();
  const outbox = new Outbox(store, 'parley:console:outbox');

  let hub: ManagedHub | null = null;
  const fillGap = new Map<string, () => Promise<void>>();

  const sender = new OutboxSender(outbox, {
    isConnected: () => hub?.connected ?? false,
    send: (item) =>
      hub!.connection.invoke<SendAck>('Send', { conversationId: item.conversationId, clientId: item.clientId, body: item.body, note: !!item.note }),
    onAck(item, ack) {
      const log = logs.get(ack.conversationId);
      if (log) {
        const result = log.apply({
          id: ack.id,
          conversationId: ack.conversationId,
          seq: ack.seq,
          clientId: ack.clientId,
          senderKind: 'agent',
          senderId: me.id,
          senderName: me.displayName,
          kind: item.note ? 'note' : 'text',
          body: item.body,
          createdAt: ack.createdAt,
        });
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
  const inbox = computed(() => {
    const want: ConversationStatus[] = filter.value === 'open' ? ['open', 'pending'] : ['closed'];
    return Object.values(summaries.value)
      .filter((s) => want.includes(s.status))
      .sort((a, b) => activity(b) - activity(a));
  });

  function activity(s: ConversationSummary): number {
    return (toDate(s.lastMessageAt) ?? toDate(s.createdAt))?.getTime() ?? 0;
  }

  function upsert(s: ConversationSummary): void {
    summaries.value = { ...summaries.value, [s.id]: s };
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
      const q = new URLSearchParams({ status: filter.value, limit: '50' });
      if (more && nextCursor.value) q.set('cursor', nextCursor.value);
      const page = await api<{ items: ConversationSummary[]; nextCursor: string | null }>('GET', `/conversations?${q}`);
      const next = more ? { ...summaries.value } : keepOtherStatuses();
      for (const s of page.items) next[s.id] = s;
      summaries.value = next;
      nextCursor.value = page.nextCursor ?? null;
    } finally {
      inboxLoading.value = false;
    }
  }

  /** A fresh first page replaces rows of the current tab (they may have changed while we were away). */
  function keepOtherStatuses(): Record<string, ConversationSummary> {
    const keep: Record<string, ConversationSummary> = {};
    const closedTab = filter.value === 'closed';
    for (const s of Object.values(summaries.value)) if ((s.status === 'closed') !== closedTab || s.id === selectedId.value) keep[s.id] = s;
    return keep;
  }

  function setFilter(f: InboxFilter): void {
    if (filter.value === f) return;
    filter.value = f;
    nextCursor.value = null;
    void loadInbox();
  }

  function isUnread(s: ConversationSummary): boolean {
    if (s.id === selectedId.value) return false;
    const read = readSeq.value[s.id];
    if (read === undefined) return s.lastMessageSenderKind === 'visitor';
    return s.lastSeq > read && s.lastMessageSenderKind !== 'agent';
  }

  function markRead(id: string, seq: number): void {
    if ((readSeq.value[id] ?? 0) >= seq) return;
    readSeq.value = { ...readSeq.value, [id]: seq };
    try {
      store?.setItem(READ_KEY, JSON.stringify(readSeq.value));
    } catch {
      /* ignore */
    }
  }

  function loadRead(): Record<string, number> {
    try {
      return JSON.parse(storage()?.getItem(READ_KEY) ?? '{}') as Record<string, number>;
    } catch {
      return {};
    }
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
    for (const m of replay.messages) outbox.remove(m.clientId);
    if (id === selectedId.value) markRead(id, log.lastSeq);
    const s = summaries.value[id];
    if (s && s.status !== replay.status) upsert({ ...s, status: replay.status });
    bump();
  }

  async function select(id: string | null): Promise<void> {
    const previous = selectedId.value;
    if (previous === id) return;
    selectedId.value = id;
    failed.value = [];
    bump();
    if (previous && hub?.connected) void hub.connection.invoke('Leave', previous).catch(() => undefined);
    // Not subscribed any more: the cached log would go stale, so start from it but always re-Join.
    if (!id) return;
    if (!summaries.value[id]) {
      void api<ConversationSummary>('GET', `/conversations/${id}`)
        .then(upsert)
        .catch(() => undefined);
    }
    requestJoin(id);
  }

  async function loadOlder(): Promise<number> {
    const id = selectedId.value;
    const log = id ? logs.get(id) : undefined;
    if (!id || !log || log.firstSeq === null || loadingOlder.value) return 0;
    loadingOlder.value = true;
    try {
      const page = await api<{ items: MessageDto[] }>('GET', `/conversations/${id}/messages?beforeSeq=${log.firstSeq}&limit=50`);
      const added = log.prepend(page.items);
      if (page.items.length === 0 || log.firstSeq === 1) noOlder.add(id);
      bump();
      return added;
    } finally {
      loadingOlder.value = false;
    }
  }
  const noOlder = new Set<string>();

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
  async function action(id: string, what: 'assign' | 'close' | 'reopen'): Promise<void> {
    const s = await api<ConversationSummary>('POST', `/conversations/${id}/${what}`, what === 'assign' ? {} : undefined);
    upsert(s);
    requestJoin(id); // close/reopen append a system message
  }

  // ---- hub -------------------------------------------------------------------------------------------
  function onPush(m: MessageDto): void {
    const log = logs.get(m.conversationId);
    if (!log) return; // not a conversation we are showing
    const result = log.apply(m);
    outbox.remove(m.clientId);
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
    for (const [name, handler] of extraHandlers) hub.connection.on(name, handler as (...args: unknown[]) => void);
    await hub.start();
  }

  async function disconnect(): Promise<void> {
    await hub?.stop();
  }

  return {
    me,
    connection,
    filter,
    inbox,
    inboxLoading,
    nextCursor,
    selectedId,
    selected: computed(() => (selectedId.value ? (summaries.value[selectedId.value] ?? null) : null)),
    messages,
    canLoadOlder,
    loadingOlder,
    isUnread,
    setFilter,
    loadInbox,
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
