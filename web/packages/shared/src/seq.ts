import type { MessageDto, Replay } from './types';

/**
 * The client side of the seq rules in docs/protocol.md ("The message path and its guarantees", rule 5).
 *
 * `lastSeq` is the highest *contiguous* seq this client holds. Messages arrive from three places — pushes,
 * send acknowledgements and replays — in any order; this class turns them into one ordered, duplicate-free
 * list and tells the caller when a gap must be filled with `Resume`/`Join({ afterSeq: lastSeq })`.
 *
 * A replay is authoritative up to its `lastSeq`: it holds every message this caller may see with
 * `seq > afterSeq`. Visitors never receive notes, yet notes take seq numbers, so a visitor's view has holes
 * that only a replay can prove harmless — after one, `lastSeq` jumps to the replay's `lastSeq`.
 *
 * Pure logic: no I/O, no timers, no DOM.
 */
export type ApplyResult =
  /** seq <= lastSeq or an already-held client id: nothing changed. */
  | 'duplicate'
  /** The message (and possibly buffered successors) became part of the contiguous history. */
  | 'applied'
  /** seq > lastSeq + 1: held back; the caller must fill the gap (Resume/Join with afterSeq = lastSeq). */
  | 'buffered';

export interface LogSnapshot {
  conversationId: string;
  lastSeq: number;
  messages: MessageDto[];
}

export class ConversationLog {
  readonly conversationId: string;
  private contiguous: MessageDto[] = [];
  private readonly buffered = new Map<number, MessageDto>();
  private readonly clientIds = new Set<string>();
  private last = 0;

  constructor(conversationId: string, initial?: { lastSeq: number; messages: readonly MessageDto[] }) {
    this.conversationId = conversationId;
    if (initial) this.reset(initial.messages, initial.lastSeq);
  }

  /** Highest contiguous seq held (0 when nothing). This is the `afterSeq` for Resume/Join. */
  get lastSeq(): number {
    return this.last;
  }

  /** Lowest seq held, or null; the `beforeSeq` for paging older history. */
  get firstSeq(): number | null {
    return this.contiguous[0]?.seq ?? null;
  }

  /** True while messages past a gap are buffered, i.e. a Resume/Join is needed. */
  get hasGap(): boolean {
    return this.buffered.size > 0;
  }

  /** True when the history may not start at seq 1 (after truncation or when a page was loaded). */
  get mayHaveOlder(): boolean {
    const first = this.firstSeq;
    return first !== null ? first > 1 : this.last > 0;
  }

  hasClientId(clientId: string): boolean {
    return this.clientIds.has(clientId);
  }

  /** Contiguous messages followed by buffered ones, ascending by seq (what a UI shows). */
  messages(): MessageDto[] {
    if (this.buffered.size === 0) return this.contiguous.slice();
    const extra = [...this.buffered.values()].sort((a, b) => a.seq - b.seq);
    return this.contiguous.concat(extra);
  }

  /** Apply one pushed message (or an acknowledged own message turned into a MessageDto). */
  apply(message: MessageDto): ApplyResult {
    if (message.conversationId !== this.conversationId) return 'duplicate';
    if (message.seq <= this.last || this.buffered.has(message.seq)) return 'duplicate';
    if (this.clientIds.has(message.clientId)) return 'duplicate';
    if (message.seq === this.last + 1) {
      this.append(message);
      this.drain();
      return 'applied';
    }
    this.buffered.set(message.seq, message);
    this.clientIds.add(message.clientId);
    return 'buffered';
  }

  /**
   * Apply a Resume/Join reply. Returns `reset: true` when it was truncated and local history was
   * replaced (the caller should forget older pages and offer "load older" through REST).
   */
  applyReplay(replay: Replay): { reset: boolean } {
    if (replay.conversationId !== this.conversationId) return { reset: false };
    const incoming = replay.messages.slice().sort((a, b) => a.seq - b.seq);
    if (replay.truncated) {
      // Keep buffered pushes newer than the replay: they are still valid and would otherwise be lost.
      const newer = [...this.buffered.values()].filter((m) => m.seq > replay.lastSeq);
      this.reset(incoming, Math.max(replay.lastSeq, incoming.at(-1)?.seq ?? 0));
      for (const m of newer) this.apply(m);
      return { reset: true };
    }
    for (const m of incoming) {
      if (m.seq <= this.last) continue;
      // A buffered push with this seq is the same message: the replay's copy replaces it.
      this.buffered.delete(m.seq);
      this.append(m);
    }
    // Everything visible to us up to replay.lastSeq was in the reply; holes below it are notes we may
    // not see (visitors) and are not gaps.
    if (replay.lastSeq > this.last) {
      for (const [seq, m] of [...this.buffered].sort((a, b) => a[0] - b[0])) {
        if (seq <= replay.lastSeq) {
          this.buffered.delete(seq);
          this.insertSorted(m);
        }
      }
      this.last = replay.lastSeq;
    }
    this.drain();
    return { reset: false };
  }

  /** Prepend an older page from REST (`beforeSeq` paging). Messages already held are ignored. */
  prepend(older: readonly MessageDto[]): number {
    const first = this.firstSeq ?? this.last + 1;
    let added = 0;
    const page = older.filter((m) => m.conversationId === this.conversationId && m.seq < first && !this.clientIds.has(m.clientId));
    page.sort((a, b) => a.seq - b.seq);
    for (const m of page) this.clientIds.add(m.clientId);
    if (page.length) {
      this.contiguous = page.concat(this.contiguous);
      added = page.length;
    }
    return added;
  }

  /** Serializable state for persistence: the newest `limit` contiguous messages and lastSeq. */
  snapshot(limit = 200): LogSnapshot {
    return {
      conversationId: this.conversationId,
      lastSeq: this.last,
      messages: this.contiguous.slice(-limit),
    };
  }

  private reset(messages: readonly MessageDto[], lastSeq: number): void {
    this.contiguous = messages.filter((m) => m.seq <= lastSeq).sort((a, b) => a.seq - b.seq);
    this.buffered.clear();
    this.clientIds.clear();
    for (const m of this.contiguous) this.clientIds.add(m.clientId);
    this.last = lastSeq;
  }

  private append(m: MessageDto): void {
    this.contiguous.push(m);
    this.clientIds.add(m.clientId);
    this.last = m.seq;
  }

  private insertSorted(m: MessageDto): void {
    let i = this.contiguous.length;
    while (i > 0 && this.contiguous[i - 1]!.seq > m.seq) i--;
    this.contiguous.splice(i, 0, m);
  }

  private drain(): void {
    for (;;) {
      const next = this.buffered.get(this.last + 1);
      if (!next) break;
      this.buffered.delete(next.seq);
      this.contiguous.push(next);
      this.last = next.seq;
    }
    // Anything buffered at or below lastSeq is stale (a replay covered it); drop it.
    for (const seq of this.buffered.keys()) if (seq <= this.last) this.buffered.delete(seq);
  }
}
