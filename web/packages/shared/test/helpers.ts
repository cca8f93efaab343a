import type { MessageDto, Replay } from '../src/types';

export const CONV = '11111111-1111-4111-8111-111111111111';

export function msg(seq: number, extra: Partial<MessageDto> = {}): MessageDto {
  return {
    id: 1000 + seq,
    conversationId: CONV,
    seq,
    clientId: `c-${seq}`,
    senderKind: 'agent',
    senderId: null,
    senderName: 'Ann',
    kind: 'text',
    body: `message ${seq}`,
    createdAt: new Date(0),
    ...extra,
  };
}

export function replay(seqs: number[], lastSeq: number, truncated = false): Replay {
  return { conversationId: CONV, messages: seqs.map((s) => msg(s)), lastSeq, truncated, status: 'open' };
}

export class MemoryStore {
  data = new Map<string, string>();
  getItem(k: string): string | null {
    return this.data.get(k) ?? null;
  }
  setItem(k: string, v: string): void {
    this.data.set(k, v);
  }
  removeItem(k: string): void {
    this.data.delete(k);
  }
}
