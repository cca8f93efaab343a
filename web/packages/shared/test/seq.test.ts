import { describe, expect, it } from 'vitest';
import { ConversationLog } from '../src/seq';
import { CONV, msg, replay } from './helpers';

const seqs = (log: ConversationLog) => log.messages().map((m) => m.seq);

describe('ConversationLog', () => {
  it('applies the next seq and ignores seen ones', () => {
    const log = new ConversationLog(CONV);
    expect(log.apply(msg(1))).toBe('applied');
    expect(log.apply(msg(2))).toBe('applied');
    expect(log.apply(msg(2))).toBe('duplicate');
    expect(log.apply(msg(1))).toBe('duplicate');
    expect(log.lastSeq).toBe(2);
    expect(seqs(log)).toEqual([1, 2]);
  });

  it('buffers a message past a gap and drains it once the gap fills', () => {
    const log = new ConversationLog(CONV);
    log.apply(msg(1));
    expect(log.apply(msg(3))).toBe('buffered');
    expect(log.apply(msg(4))).toBe('buffered');
    expect(log.hasGap).toBe(true);
    expect(log.lastSeq).toBe(1);
    expect(log.apply(msg(2))).toBe('applied');
    expect(log.lastSeq).toBe(4);
    expect(log.hasGap).toBe(false);
    expect(seqs(log)).toEqual([1, 2, 3, 4]);
  });

  it('shows buffered messages after the contiguous ones', () => {
    const log = new ConversationLog(CONV);
    log.apply(msg(1));
    log.apply(msg(5));
    expect(seqs(log)).toEqual([1, 5]);
  });

  it('dedupes by client id (own message seen in a push before its ack)', () => {
    const log = new ConversationLog(CONV);
    log.apply(msg(1, { clientId: 'mine' }));
    expect(log.apply(msg(2, { clientId: 'mine' }))).toBe('duplicate');
    expect(log.hasClientId('mine')).toBe(true);
  });

  it('ignores messages of another conversation', () => {
    const log = new ConversationLog(CONV);
    expect(log.apply(msg(1, { conversationId: 'other' }))).toBe('duplicate');
    expect(log.lastSeq).toBe(0);
  });

  it('fills a gap from a replay and keeps buffered newer pushes', () => {
    const log = new ConversationLog(CONV);
    log.apply(msg(1));
    log.apply(msg(4));
    log.applyReplay(replay([2, 3], 3));
    expect(log.lastSeq).toBe(4);
    expect(seqs(log)).toEqual([1, 2, 3, 4]);
    expect(log.hasGap).toBe(false);
  });

  it('replays that overlap what we hold do not duplicate', () => {
    const log = new ConversationLog(CONV);
    log.apply(msg(1));
    log.apply(msg(2));
    log.applyReplay(replay([1, 2, 3], 3));
    expect(seqs(log)).toEqual([1, 2, 3]);
  });

  it('treats holes inside a replay as invisible (notes) and advances lastSeq to the replay lastSeq', () => {
    const log = new ConversationLog(CONV);
    log.apply(msg(1));
    log.apply(msg(3)); // seq 2 is an agent note the visitor never sees
    expect(log.hasGap).toBe(true);
    log.applyReplay(replay([3], 3));
    expect(log.hasGap).toBe(false);
    expect(log.lastSeq).toBe(3);
    expect(log.apply(msg(4))).toBe('applied');
  });

  it('advances lastSeq to the replay lastSeq even when the replay is empty', () => {
    const log = new ConversationLog(CONV);
    log.apply(msg(1));
    log.applyReplay(replay([], 2));
    expect(log.lastSeq).toBe(2);
    expect(log.apply(msg(3))).toBe('applied');
  });

  it('replaces local history on a truncated replay', () => {
    const log = new ConversationLog(CONV, { lastSeq: 2, messages: [msg(1), msg(2)] });
    log.apply(msg(900)); // newer push, must survive
    const r = log.applyReplay(replay([600, 601, 602], 602, true));
    expect(r.reset).toBe(true);
    expect(seqs(log)).toEqual([600, 601, 602, 900]);
    expect(log.lastSeq).toBe(602);
    expect(log.mayHaveOlder).toBe(true);
  });

  it('prepends older pages and skips what it already holds', () => {
    const log = new ConversationLog(CONV);
    log.applyReplay(replay([5, 6], 6, true));
    expect(log.firstSeq).toBe(5);
    expect(log.prepend([msg(3), msg(4), msg(5)])).toBe(2);
    expect(seqs(log)).toEqual([3, 4, 5, 6]);
    expect(log.lastSeq).toBe(6);
  });

  it('restores from a snapshot and keeps applying from its lastSeq', () => {
    const a = new ConversationLog(CONV);
    for (let i = 1; i <= 5; i++) a.apply(msg(i));
    const snap = JSON.parse(JSON.stringify(a.snapshot(3))) as ReturnType<typeof a.snapshot>;
    expect(snap.messages.map((m) => m.seq)).toEqual([3, 4, 5]);
    const b = new ConversationLog(CONV, snap);
    expect(b.lastSeq).toBe(5);
    expect(b.apply(msg(5))).toBe('duplicate');
    expect(b.apply(msg(6))).toBe('applied');
  });
});
