// Ephemeral signals of the open conversations: who is typing, and how far the visitor has read.
import { computed, ref, type Ref } from 'vue';
import type { ManagedHub, MessageDto, ReadEvent, TypingEvent, TypingRequest } from '@parley/shared';

export interface SignalsDeps {
  selectedId: Ref<string | null>;
  hub(): ManagedHub | null;
}

const TYPING_SHOWN_MS = 6000;
const TYPING_REPEAT_MS = 2500;

export function useSignals(deps: SignalsDeps) {
  /** Who is typing in each conversation (the visitor, or another agent), until when. */
  const typing = ref<Record<string, { side: 'visitor' | 'agent'; name: string | null; until: number }>>({});
  const visitorReadSeq = ref<Record<string, number>>({});
  let typingSentAt = 0;
  let typingSentFor: string | null = null;

  function onTyping(e: TypingEvent): void {
    const id = String(e.conversationId);
    if (!e.typing) return clearTyping(id);
    typing.value = { ...typing.value, [id]: { side: e.side, name: e.name ?? null, until: Date.now() + TYPING_SHOWN_MS } };
    // Hidden after a while without a repeat (the typist may have left without saying so).
    window.setTimeout(() => {
      if ((typing.value[id]?.until ?? Infinity) <= Date.now()) clearTyping(id);
    }, TYPING_SHOWN_MS + 50);
  }

  function clearTyping(id: string): void {
    if (!typing.value[id]) return;
    const rest = { ...typing.value };
    delete rest[id];
    typing.value = rest;
  }

  /** The selected conversation's "is typing" line, or null. */
  const typingNow = computed(() => (deps.selectedId.value ? (typing.value[deps.selectedId.value] ?? null) : null));

  /** The composer calls this on every keystroke; the hub hears at most one "typing" per ~2.5 s. */
  function notifyTyping(active: boolean): void {
    const id = deps.selectedId.value;
    const hub = deps.hub();
    if (!id || !hub?.connected) return;
    const now = Date.now();
    if (active && typingSentFor === id && now - typingSentAt < TYPING_REPEAT_MS) return;
    if (!active && typingSentFor !== id) return;
    typingSentAt = active ? now : 0;
    typingSentFor = active ? id : null;
    const request: TypingRequest = { conversationId: id, typing: active };
    void hub.connection.invoke('Typing', request).catch(() => undefined);
  }

  function onReadReceipt(r: ReadEvent): void {
    if (r.side !== 'visitor') return;
    const id = String(r.conversationId);
    if ((visitorReadSeq.value[id] ?? 0) < r.seq) visitorReadSeq.value = { ...visitorReadSeq.value, [id]: r.seq };
  }

  /** A message from the side that was typing ends its indicator. */
  function onMessage(m: MessageDto): void {
    const typist = typing.value[m.conversationId];
    if (typist && (typist.side === 'visitor') === (m.senderKind === 'visitor')) clearTyping(m.conversationId);
  }

  /** How far the visitor of the selected conversation has read (agent numbering). */
  const peerReadSeq = computed(() => (deps.selectedId.value ? (visitorReadSeq.value[deps.selectedId.value] ?? 0) : 0));

  return { typing, typingNow, notifyTyping, onTyping, clearTyping, onMessage, onReadReceipt, peerReadSeq };
}
