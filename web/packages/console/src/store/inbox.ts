// The inbox: conversation summaries kept live by the hub (`conversationUpdated`), the view and its filters, what
// is unread, and the labels and agents the filters and actions offer.
import { computed, ref, type Ref } from 'vue';
import { toDate, type ConversationSummary, type LabelsEventDto, type ManagedHub, type ReadEventDto, type UserDto } from '@parley/shared';
import { api } from '../api';
import type { Agent, Label, Summary } from '../store';

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

interface InboxPage {
  items: Summary[];
  nextCursor: string | null;
  lastReadSeq: Record<string, number>;
  labels: Record<string, string[]>;
}

export interface InboxDeps {
  me: UserDto;
  selectedId: Ref<string | null>;
  hub(): ManagedHub | null;
  /** A summary was stored (live update, action result): the other concerns that show it follow. */
  onUpsert(s: Summary): void;
}

/** Does a conversation belong in `view` with `filters`? (`listed`: what the server listed for the view.) */
export function matchesView(
  s: Summary,
  view: InboxView,
  f: InboxFilters,
  ctx: { meId: string; listed: Set<string>; labelIds: (id: string) => string[] },
): boolean {
  if (view === 'closed' ? s.status !== 'closed' : s.status === 'closed') return false;
  if (view === 'mine' && s.assigneeId !== ctx.meId) return false;
  if (view === 'unassigned' && s.assigneeId) return false;
  if (view === 'teams' && !ctx.listed.has(s.id)) return false;
  if (f.status === 'pending' && s.status !== 'pending') return false;
  if (f.status === 'snoozed' && !s.snoozedUntil) return false;
  if (f.status === 'waiting' && !s.waitingSince) return false;
  if (f.labelId && !ctx.labelIds(s.id).includes(f.labelId)) return false;
  if (f.intent && s.intent !== f.intent) return false;
  const created = toDate(s.createdAt)?.getTime() ?? 0;
  if (f.from && created < new Date(f.from).getTime()) return false;
  if (f.to && created >= new Date(f.to).getTime() + 86_400_000) return false;
  return true;
}

/** The inbox order: 'recent' by last activity; 'waiting' oldest waiting first, then answered ones by recent activity (the server's order). */
export function sortInbox(rows: Summary[], sort: InboxFilters['sort']): Summary[] {
  if (sort === 'recent') return rows.sort((a, b) => activity(b) - activity(a));
  return rows.sort((a, b) => {
    const wa = toDate(a.waitingSince ?? null)?.getTime();
    const wb = toDate(b.waitingSince ?? null)?.getTime();
    if (wa !== undefined && wb !== undefined) return wa - wb;
    if (wa !== undefined) return -1;
    if (wb !== undefined) return 1;
    return activity(b) - activity(a);
  });
}

function activity(s: ConversationSummary): number {
  return (toDate(s.lastMessageAt) ?? toDate(s.createdAt))?.getTime() ?? 0;
}

export function useInbox(deps: InboxDeps) {
  const { me, selectedId } = deps;
  const summaries = ref<Record<string, Summary>>({});
  const view = ref<InboxView>('all');
  const filters = ref<InboxFilters>({ status: '', labelId: '', from: '', to: '', sort: 'waiting', intent: '' });
  /** Ids the server listed for the current view; live updates add rows that match the view's rule. */
  const listed = ref<Set<string>>(new Set());
  const labels = ref<Label[]>([]);
  const convLabels = ref<Record<string, string[]>>({});
  const agents = ref<Agent[]>([]);
  const notices: ((kind: 'new' | 'assigned', s: Summary) => void)[] = [];
  const nextCursor = ref<string | null>(null);
  const inboxLoading = ref(false);
  const readSeq: Ref<Record<string, number>> = ref({});

  /** Does a (live-updated) conversation belong in the current view with the current filters? */
  function matches(s: Summary): boolean {
    return matchesView(s, view.value, filters.value, { meId: me.id, listed: listed.value, labelIds: (id) => convLabels.value[id] ?? [] });
  }

  const inbox = computed(() => sortInbox(Object.values(summaries.value).filter(matches), filters.value.sort));

  function upsert(s: Summary): void {
    const before = summaries.value[s.id];
    summaries.value = { ...summaries.value, [s.id]: s };
    if (!before && s.status !== 'closed') for (const n of notices) n('new', s);
    else if (before && before.assigneeId !== me.id && s.assigneeId === me.id) for (const n of notices) n('assigned', s);
    if (s.id === selectedId.value) markRead(s.id, s.lastSeq);
    deps.onUpsert(s);
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
        const hub = deps.hub();
        for (const [cid, s] of batch) {
          if (hub?.connected) void hub.connection.invoke('MarkRead', cid, s).catch(() => undefined);
          else void api('POST', `/conversations/${cid}/read`, { seq: s }).catch(() => undefined);
        }
      }, 300);
    }
  }

  /** Hub `readState`: this agent read further in another tab. */
  function onReadState(r: ReadEventDto): void {
    if ((readSeq.value[r.conversationId] ?? 0) < r.lastReadSeq) readSeq.value = { ...readSeq.value, [r.conversationId]: r.lastReadSeq };
  }

  async function loadLookups(): Promise<void> {
    const [l, a] = await Promise.all([api<Label[]>('GET', '/labels'), api<Agent[]>('GET', '/console/agents')]);
    labels.value = l;
    agents.value = a;
  }

  async function setLabels(id: string, labelIds: string[]): Promise<void> {
    const r = await api<{ conversationId: string; labelIds: string[] }>('PUT', `/conversations/${id}/labels`, { labelIds });
    convLabels.value = { ...convLabels.value, [id]: r.labelIds };
  }

  /** Hub `conversationLabels`: someone changed a conversation's labels. */
  function onLabels(l: LabelsEventDto): void {
    convLabels.value = { ...convLabels.value, [l.conversationId]: l.labelIds };
  }

  async function createLabel(name: string, color: string): Promise<Label> {
    const l = await api<Label>('POST', '/labels', { name, color });
    labels.value = [...labels.value, l].sort((a, b) => a.name.localeCompare(b.name));
    return l;
  }

  return {
    summaries,
    view,
    filters,
    labels,
    convLabels,
    agents,
    inbox,
    inboxLoading,
    nextCursor,
    upsert,
    loadInbox,
    setView,
    setFilters,
    unreadCount,
    isUnread,
    markRead,
    onReadState,
    loadLookups,
    setLabels,
    onLabels,
    createLabel,
    onNotice: (fn: (kind: 'new' | 'assigned', s: Summary) => void) => notices.push(fn),
  };
}
