import { computed, ref } from 'vue';
import { createManagedHub, type ConnectionState, type ConversationSummary, type ManagedHub, type UserDto, type ViewerDto, type ViewersDto } from '@parley/shared';
import { api } from './api';
import { useConversationLog } from './store/conversationLog';
import { useInbox } from './store/inbox';
import { useOffers } from './store/offers';
import { useSignals } from './store/signals';
import { useUploads } from './store/uploads';

export type { ViewMessage } from './store/conversationLog';
export type { InboxFilters, InboxView } from './store/inbox';

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

function storage(): Storage | null {
  try {
    return window.localStorage;
  } catch {
    return null;
  }
}

/**
 * Everything the signed-in console needs, behind one store: the agent hub and, each in its own composable
 * (store/*.ts), the inbox (kept live by `conversationUpdated`), the open conversation's log and outbox, offers,
 * typing/read signals and uploads. This file wires them together and owns the hub connection.
 */
export function createConsoleStore(me: UserDto) {
  const connection = ref<ConnectionState>('connecting');
  const selectedId = ref<string | null>(null);
  const viewers = ref<Record<string, ViewerDto[]>>({});
  let hub: ManagedHub | null = null;
  const currentHub = () => hub;

  const inbox = useInbox({
    me,
    selectedId,
    hub: currentHub,
    onUpsert(s) {
      offers.onSummary(s);
      log.onSummary(s);
    },
  });
  const offers = useOffers({ summaries: inbox.summaries, upsert: inbox.upsert, hub: currentHub });
  const signals = useSignals({ selectedId, hub: currentHub });
  const { uploads, upload, dismissUpload } = useUploads({ selectedId });
  const log = useConversationLog({
    me,
    selectedId,
    hub: currentHub,
    storage: storage(),
    summaries: inbox.summaries,
    upsert: inbox.upsert,
    markRead: inbox.markRead,
    onReadReceipt: signals.onReadReceipt,
    onMessage: signals.onMessage,
  });
  const { upsert, summaries } = inbox;

  // ---- conversation actions (REST) -------------------------------------------------------------------
  async function action(id: string, what: 'assign' | 'close' | 'reopen' | 'spam' | 'unsnooze'): Promise<void> {
    const s =
      what === 'unsnooze'
        ? await api<Summary>('DELETE', `/conversations/${id}/snooze`)
        : await api<Summary>('POST', `/conversations/${id}/${what}`, what === 'assign' ? {} : undefined);
    upsert(s);
    log.requestJoin(id); // these append a system message
  }

  async function snooze(id: string, until: Date): Promise<void> {
    upsert(await api<Summary>('POST', `/conversations/${id}/snooze`, { until: until.toISOString() }));
    log.requestJoin(id);
  }

  /** Hands the conversation to another agent, with an optional internal note for them. */
  async function transfer(id: string, userId: string, note: string): Promise<void> {
    if (note.trim()) await log.sendNote(id, note.trim());
    upsert(await api<Summary>('POST', `/conversations/${id}/assign`, { userId }));
    log.requestJoin(id);
  }

  /** "This was sales": stores the intent and turns the visitor's first message into a training example. */
  async function correctIntent(id: string, intent: string): Promise<void> {
    upsert(await api<Summary>('PUT', `/conversations/${id}/intent`, { intent }));
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
        if (resumed) void inbox.loadInbox().catch(() => undefined); // catch up on conversationUpdated we missed
        if (selectedId.value) log.requestJoin(selectedId.value);
        await log.flush();
      },
    });
    hub.connection.on('message', log.onPush);
    hub.connection.on('conversationUpdated', upsert);
    // Under load the server sends one tick's summaries together (docs/protocol.md).
    hub.connection.on('conversationsUpdated', (batch: Summary[]) => batch.forEach((s) => upsert(s)));
    hub.connection.on('offer', offers.onOffer);
    hub.connection.on('typing', signals.onTyping);
    hub.connection.on('read', signals.onReadReceipt);
    hub.connection.on('viewers', (v: ViewersDto) => {
      viewers.value = { ...viewers.value, [v.conversationId]: v.viewers };
    });
    hub.connection.on('conversationLabels', inbox.onLabels);
    hub.connection.on('readState', inbox.onReadState);
    for (const [name, handler] of extraHandlers) hub.connection.on(name, handler as (...args: unknown[]) => void);
    await hub.start();
  }

  async function disconnect(): Promise<void> {
    await hub?.stop();
  }

  return {
    me,
    connection,
    view: inbox.view,
    filters: inbox.filters,
    labels: inbox.labels,
    convLabels: inbox.convLabels,
    viewers,
    agents: inbox.agents,
    jumpSeq: log.jumpSeq,
    offers: offers.offers,
    dropOffer: offers.dropOffer,
    acceptOffer: offers.acceptOffer,
    declineOffer: offers.declineOffer,
    inbox: inbox.inbox,
    inboxLoading: inbox.inboxLoading,
    nextCursor: inbox.nextCursor,
    selectedId,
    selected: computed<Summary | null>(() => (selectedId.value ? (summaries.value[selectedId.value] ?? null) : null)),
    messages: log.messages,
    typingNow: signals.typingNow,
    notifyTyping: signals.notifyTyping,
    peerReadSeq: signals.peerReadSeq,
    uploads: computed(() => uploads.value.filter((u) => u.conversationId === selectedId.value)),
    upload,
    dismissUpload,
    canLoadOlder: log.canLoadOlder,
    loadingOlder: log.loadingOlder,
    isUnread: inbox.isUnread,
    unreadCount: inbox.unreadCount,
    setView: inbox.setView,
    setFilters: inbox.setFilters,
    loadInbox: inbox.loadInbox,
    loadLookups: inbox.loadLookups,
    jumpTo: log.jumpTo,
    snooze,
    transfer,
    setLabels: inbox.setLabels,
    correctIntent,
    createLabel: inbox.createLabel,
    cannedReplies,
    search,
    onNotice: inbox.onNotice,
    hubInvoke: <T>(method: string, ...args: unknown[]): Promise<T> => hub!.connection.invoke<T>(method, ...args),
    select: log.select,
    loadOlder: log.loadOlder,
    send: log.send,
    action,
    connect,
    disconnect,
    onHubEvent,
  };
}

export type ConsoleStore = ReturnType<typeof createConsoleStore>;
