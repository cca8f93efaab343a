// The open conversation's messages: one log per conversation (seq rules from @parley/shared), join and replay,
// older history, jumping to a search hit, and the outbox that sends what the agent writes.
//
// Logs are plain objects outside Vue's reactivity (they can hold thousands of messages); `version` is bumped on
// every change and the computed views read it.
import { computed, ref, shallowRef, type Ref } from 'vue';
import {
  ConversationLog,
  Outbox,
  OutboxSender,
  coalesce,
  messageFromAck,
  type ManagedHub,
  type MessageDto,
  type OutboxItem,
  type ReadEvent,
  type Replay,
  type SendAck,
  type UserDto,
} from '@parley/shared';
import { api } from '../api';
import type { Summary } from '../store';

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

interface FailedItem {
  item: OutboxItem;
  code: string | null;
}

export interface ConversationLogDeps {
  me: UserDto;
  selectedId: Ref<string | null>;
  hub(): ManagedHub | null;
  /** Where the outbox survives a reload (null: it lives only in memory). */
  storage: Storage | null;
  summaries: Ref<Record<string, Summary>>;
  upsert(s: Summary): void;
  markRead(id: string, seq: number): void;
  /** The replay said how far the visitor has read. */
  onReadReceipt(r: ReadEvent): void;
  /** A message was pushed into a conversation we show (it ends that side's typing indicator). */
  onMessage(m: MessageDto): void;
}

export function useConversationLog(deps: ConversationLogDeps) {
  const { me, selectedId } = deps;
  const jumpSeq = ref<number | null>(null);
  const version = ref(0);
  const loadingOlder = ref(false);
  const failed = shallowRef<FailedItem[]>([]);
  const logs = new Map<string, ConversationLog>();
  const outbox = new Outbox(deps.storage, 'parley:console:outbox');
  const fillGap = new Map<string, () => Promise<void>>();
  const noOlder = new Set<string>();

  const sender = new OutboxSender(outbox, {
    isConnected: () => deps.hub()?.connected ?? false,
    send: (item) =>
      deps.hub()!.connection.invoke<SendAck>('Send', { conversationId: item.conversationId, clientId: item.clientId, body: item.body, note: !!item.note }),
    onAck(item, ack) {
      const log = logs.get(ack.conversationId);
      if (log) {
        const result = log.apply(messageFromAck(item, ack, { kind: 'agent', id: me.id, name: me.displayName }));
        if (result === 'buffered') requestJoin(ack.conversationId);
        if (ack.conversationId === selectedId.value) deps.markRead(ack.conversationId, log.lastSeq);
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
    const hub = deps.hub();
    if (!hub?.connected) return;
    let log = logs.get(id);
    if (!log) {
      log = new ConversationLog(id);
      logs.set(id, log);
    }
    const replay = await hub.connection.invoke<Replay>('Join', { conversationId: id, afterSeq: log.lastSeq });
    log.applyReplay(replay);
    if (replay.peerReadSeq !== undefined) deps.onReadReceipt({ conversationId: id, side: 'visitor', seq: replay.peerReadSeq });
    for (const m of replay.messages) outbox.remove(m.clientId);
    if (id === selectedId.value) deps.markRead(id, log.lastSeq);
    const s = deps.summaries.value[id];
    if (s && s.status !== replay.status) deps.upsert({ ...s, status: replay.status });
    bump();
  }

  /** A summary changed: when it announces messages of the open conversation we have not received (a lost push), fetch them. */
  function onSummary(s: Summary): void {
    if (s.id !== selectedId.value) return;
    const log = logs.get(s.id);
    if (log && s.lastSeq > log.lastSeq) requestJoin(s.id);
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
    const hub = deps.hub();
    if (previous && hub?.connected) void hub.connection.invoke('Leave', previous).catch(() => undefined);
    // Not subscribed any more: the cached log would go stale, so start from it but always re-Join.
    if (!id) return;
    if (!deps.summaries.value[id]) {
      void api<Summary>('GET', `/conversations/${id}`)
        .then(deps.upsert)
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

  /** Opens history down to `seq` (a search hit), then asks the list to scroll there. */
  async function jumpTo(seq: number): Promise<void> {
    const id = selectedId.value;
    if (!id) return;
    const pause = () => new Promise((r) => window.setTimeout(r, 50));
    for (let i = 0; i < 600 && selectedId.value === id; i++) {
      const log = logs.get(id);
      if (log && log.firstSeq !== null && log.firstSeq <= seq) break;
      if (!deps.hub()?.connected || loadingOlder.value) {
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

  /** Queues an internal note for `conversationId` (any conversation) and resolves once the outbox has tried to send it. */
  async function sendNote(conversationId: string, body: string): Promise<void> {
    outbox.add({ clientId: crypto.randomUUID(), conversationId, body, note: true, queuedAt: Date.now() });
    await sender.flush();
  }

  /** Sends what the outbox holds (after a (re)connect). */
  function flush(): Promise<void> {
    return sender.flush();
  }

  /** Hub `message`: a message in a conversation we show. */
  function onPush(m: MessageDto): void {
    const log = logs.get(m.conversationId);
    if (!log) return; // not a conversation we are showing
    const result = log.apply(m);
    outbox.remove(m.clientId);
    deps.onMessage(m);
    if (result === 'buffered') requestJoin(m.conversationId);
    if (result !== 'duplicate') {
      if (m.conversationId === selectedId.value) deps.markRead(m.conversationId, log.lastSeq);
      bump();
    }
  }

  return { jumpSeq, loadingOlder, canLoadOlder, messages, requestJoin, onSummary, select, loadOlder, jumpTo, send, sendNote, flush, onPush };
}
