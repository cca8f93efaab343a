import { describe, expect, it, vi } from 'vitest';
import { Outbox, OutboxSender, type OutboxItem } from '../src/outbox';
import { hubErrorCode, classifySendError, throttleDelay } from '../src/errors';
import { retryDelay, coalesce } from '../src/retry';
import type { SendAck } from '../src/types';
import { CONV, MemoryStore } from './helpers';

function item(clientId: string, conversationId: string | null = CONV): OutboxItem {
  return { clientId, conversationId, body: `body ${clientId}`, queuedAt: 0 };
}

function ack(i: OutboxItem, seq: number): SendAck {
  return { conversationId: i.conversationId!, clientId: i.clientId, id: seq, seq, createdAt: new Date(0), duplicate: false };
}

const hubError = (code: string) => new Error(`An unexpected error occurred invoking 'Send' on the server. HubException: ${code}: nope`);

describe('Outbox', () => {
  it('persists items in order and restores them', () => {
    const store = new MemoryStore();
    const a = new Outbox(store, 'k');
    a.add(item('1'));
    a.add(item('2'));
    a.add(item('1')); // same client id: ignored
    const b = new Outbox(store, 'k');
    expect(b.items.map((i) => i.clientId)).toEqual(['1', '2']);
    b.remove('1');
    b.remove('2');
    expect(store.data.has('k')).toBe(false);
  });

  it('survives corrupt storage', () => {
    const store = new MemoryStore();
    store.setItem('k', '{not json');
    expect(new Outbox(store, 'k').size).toBe(0);
  });

  it('retargets queued items, including those without a conversation yet', () => {
    const o = new Outbox();
    o.add(item('1', 'old'));
    o.add(item('2', null));
    o.add(item('3', 'other'));
    o.retarget('old', 'new');
    expect(o.items.map((i) => i.conversationId)).toEqual(['new', 'new', 'other']);
  });
});

describe('OutboxSender', () => {
  it('sends in order, one at a time, and acks each', async () => {
    const o = new Outbox();
    o.add(item('a'));
    o.add(item('b'));
    const sent: string[] = [];
    let inFlight = 0;
    const acks: string[] = [];
    const sender = new OutboxSender(o, {
      isConnected: () => true,
      send: async (i) => {
        inFlight++;
        expect(inFlight).toBe(1);
        sent.push(i.clientId);
        await Promise.resolve();
        inFlight--;
        return ack(i, sent.length);
      },
      onAck: (i) => acks.push(i.clientId),
      onRejected: () => {},
    });
    const p = sender.flush();
    o.add(item('c')); // queued during the flush: picked up by the same run
    void sender.flush();
    await p;
    expect(sent).toEqual(['a', 'b', 'c']);
    expect(acks).toEqual(['a', 'b', 'c']);
    expect(o.size).toBe(0);
  });

  it('keeps the item and stops on a transient error; resends with the same client id later', async () => {
    const o = new Outbox();
    o.add(item('a'));
    o.add(item('b'));
    let connected = true;
    const attempts: string[] = [];
    let fail = true;
    const sender = new OutboxSender(o, {
      isConnected: () => connected,
      send: async (i) => {
        attempts.push(i.clientId);
        if (fail) {
          connected = false;
          throw new Error('WebSocket closed with status code: 1006');
        }
        return ack(i, attempts.length);
      },
      onAck: () => {},
      onRejected: () => {},
    });
    await sender.flush();
    expect(o.items.map((i) => i.clientId)).toEqual(['a', 'b']);
    fail = false;
    connected = true;
    await sender.flush();
    expect(attempts).toEqual(['a', 'a', 'b']);
    expect(o.size).toBe(0);
  });

  it('schedules a retry after `unavailable` while still connected', async () => {
    const o = new Outbox();
    o.add(item('a'));
    const schedule = vi.fn();
    let n = 0;
    const sender = new OutboxSender(o, {
      isConnected: () => true,
      send: async (i) => {
        if (n++ === 0) throw hubError('unavailable');
        return ack(i, 1);
      },
      onAck: () => {},
      onRejected: () => {},
      schedule,
    });
    await sender.flush();
    expect(o.size).toBe(1);
    expect(schedule).toHaveBeenCalledTimes(1);
    await (schedule.mock.calls[0]![0] as () => void)();
    await sender.flush();
    expect(o.size).toBe(0);
  });

  it('contact_blocked is final: every queued message is refused once, nothing is retried', async () => {
    const o = new Outbox();
    o.add(item('a'));
    o.add(item('b'));
    const schedule = vi.fn();
    const send = vi.fn(async () => {
      throw hubError('contact_blocked');
    });
    const rejected: Array<[string, string | null]> = [];
    const sender = new OutboxSender(o, {
      isConnected: () => true,
      send,
      onAck: () => {},
      onRejected: (i, code) => rejected.push([i.body, code]),
      schedule,
    });
    await sender.flush();
    expect(send).toHaveBeenCalledTimes(1);
    expect(schedule).not.toHaveBeenCalled();
    expect(rejected).toEqual([['body a', 'contact_blocked'], ['body b', 'contact_blocked']]);
    expect(o.size).toBe(0);
  });

  it('rate_limited keeps the message and backs off: up to 2, 4, 8 s …, reset after a success', async () => {
    const o = new Outbox();
    o.add(item('a'));
    const delays: number[] = [];
    let fn: (() => void) | null = null;
    let refusals = 3;
    const sender = new OutboxSender(o, {
      isConnected: () => true,
      send: async (i) => {
        if (refusals-- > 0) throw hubError('rate_limited');
        return ack(i, 1);
      },
      onAck: () => {},
      onRejected: () => {},
      schedule: (f, ms) => {
        fn = f;
        delays.push(ms);
      },
      random: () => 0.999_999,
    });
    await sender.flush();
    for (let i = 0; i < 3; i++) {
      const next = fn!;
      fn = null;
      next();
      await sender.flush();
    }
    expect(delays.map(Math.round)).toEqual([2000, 4000, 8000]);
    expect(o.size).toBe(0);
    expect(throttleDelay(10, () => 0.999_999)).toBeCloseTo(60_000, 0);
  });

  it('spreads the back-off: the second half of each pause is random, so refused visitors do not return together', () => {
    expect(throttleDelay(0, () => 0)).toBe(1000);
    expect(throttleDelay(2, () => 0.5)).toBe(6000);
    expect(throttleDelay(10, () => 0)).toBe(30_000);
    const pauses = new Set(Array.from({ length: 50 }, () => throttleDelay(0)));
    expect(pauses.size).toBeGreaterThan(1);
    for (const p of pauses) {
      expect(p).toBeGreaterThanOrEqual(1000);
      expect(p).toBeLessThan(2000);
    }
  });

  it('drops rejected bodies and carries on with the next item', async () => {
    const o = new Outbox();
    o.add(item('big'));
    o.add(item('ok'));
    const rejected: Array<[string, string | null]> = [];
    const sender = new OutboxSender(o, {
      isConnected: () => true,
      send: async (i) => {
        if (i.clientId === 'big') throw hubError('body_too_large');
        return ack(i, 1);
      },
      onAck: () => {},
      onRejected: (i, code) => rejected.push([i.clientId, code]),
    });
    await sender.flush();
    expect(rejected).toEqual([['big', 'body_too_large']]);
    expect(o.size).toBe(0);
  });

  it('moves to a new conversation on conversation_closed and resends with the same client id', async () => {
    const o = new Outbox();
    o.add(item('a', 'closed'));
    o.add(item('b', 'closed'));
    const calls: Array<[string, string | null]> = [];
    const sender = new OutboxSender(o, {
      isConnected: () => true,
      send: async (i) => {
        calls.push([i.clientId, i.conversationId]);
        if (i.conversationId === 'closed') throw hubError('conversation_closed');
        return ack(i, calls.length);
      },
      onAck: () => {},
      onRejected: () => {
        throw new Error('should not reject');
      },
      onConversationGone: async () => 'fresh',
    });
    await sender.flush();
    expect(calls).toEqual([
      ['a', 'closed'],
      ['a', 'fresh'],
      ['b', 'fresh'],
    ]);
  });

  it('rejects when no new conversation can be had', async () => {
    const o = new Outbox();
    o.add(item('a'));
    const onRejected = vi.fn();
    const sender = new OutboxSender(o, {
      isConnected: () => true,
      send: async () => {
        throw hubError('conversation_not_found');
      },
      onAck: () => {},
      onRejected,
    });
    await sender.flush();
    expect(onRejected).toHaveBeenCalledOnce();
    expect(o.size).toBe(0);
  });

  it('does nothing while disconnected', async () => {
    const o = new Outbox();
    o.add(item('a'));
    const send = vi.fn();
    await new OutboxSender(o, { isConnected: () => false, send, onAck: () => {}, onRejected: () => {} }).flush();
    expect(send).not.toHaveBeenCalled();
  });
});

describe('errors and back-off', () => {
  it('extracts protocol error codes', () => {
    expect(hubErrorCode(hubError('body_empty'))).toBe('body_empty');
    expect(hubErrorCode(new Error('HubException: conversation_closed: closed'))).toBe('conversation_closed');
    expect(hubErrorCode(new Error('WebSocket closed'))).toBeNull();
    expect(hubErrorCode(new Error('HubException: something_else: x'))).toBe('something_else');
    expect(classifySendError('body_too_large')).toBe('rejected');
    // A control character fails the same way on every retry: never retried.
    expect(hubErrorCode(hubError('invalid_body'))).toBe('invalid_body');
    expect(classifySendError('invalid_body')).toBe('rejected');
    // A code this client does not know is not retried for ever; blocked is final; rate_limited backs off.
    expect(classifySendError('something_else')).toBe('rejected');
    expect(classifySendError('contact_blocked')).toBe('blocked');
    expect(classifySendError('rate_limited')).toBe('throttled');
    expect(classifySendError('overloaded')).toBe('throttled');
    expect(classifySendError('unavailable')).toBe('transient');
    expect(classifySendError(null)).toBe('transient');
    expect(classifySendError('conversation_closed')).toBe('conversation');
  });

  it('backs off 0, 1, 2, 5 s then every 10 s forever', () => {
    expect([0, 1, 2, 3, 4, 5, 100].map(retryDelay)).toEqual([0, 1000, 2000, 5000, 10000, 10000, 10000]);
  });

  it('coalesces concurrent requests into one extra run', async () => {
    let runs = 0;
    let release!: () => void;
    const fn = coalesce(async () => {
      runs++;
      if (runs === 1) await new Promise<void>((r) => (release = r));
    });
    const p = fn();
    void fn();
    void fn();
    release();
    await p;
    expect(runs).toBe(2);
  });
});
