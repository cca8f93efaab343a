import { describe, expect, it } from 'vitest';
import type { ConversationSummary } from '@parley/shared';
import { matchesView, sortInbox, type InboxFilters } from '../src/store/inbox';

const ME = 'me';
const any: InboxFilters = { status: '', labelId: '', from: '', to: '', sort: 'waiting', intent: '' };

function summary(over: Partial<ConversationSummary> = {}): ConversationSummary {
  return {
    id: 'c1',
    siteId: 's',
    contactId: 'k',
    contactName: null,
    status: 'open',
    assigneeId: null,
    assigneeName: null,
    teamId: null,
    lastSeq: 1,
    lastMessageAt: null,
    lastMessagePreview: null,
    lastMessageSenderKind: null,
    createdAt: '2026-12-05T10:00:00Z',
    snoozedUntil: null,
    waitingSince: null,
    intent: null,
    takeoverReason: null,
    takeoverAlertedAt: null,
    ...over,
  };
}

function ctx(listed: string[] = [], labels: Record<string, string[]> = {}) {
  return { meId: ME, listed: new Set(listed), labelIds: (id: string) => labels[id] ?? [] };
}

describe('matchesView', () => {
  it('keeps closed conversations in the closed view only', () => {
    const closed = summary({ status: 'closed' });
    expect(matchesView(closed, 'all', any, ctx())).toBe(false);
    expect(matchesView(closed, 'closed', any, ctx())).toBe(true);
    expect(matchesView(summary(), 'closed', any, ctx())).toBe(false);
  });

  it('mine, unassigned and teams follow the assignee and what the server listed', () => {
    const mine = summary({ assigneeId: ME });
    const theirs = summary({ id: 'c2', assigneeId: 'someone' });
    expect(matchesView(mine, 'mine', any, ctx())).toBe(true);
    expect(matchesView(theirs, 'mine', any, ctx())).toBe(false);
    expect(matchesView(summary(), 'unassigned', any, ctx())).toBe(true);
    expect(matchesView(mine, 'unassigned', any, ctx())).toBe(false);
    expect(matchesView(theirs, 'teams', any, ctx(['c2']))).toBe(true);
    expect(matchesView(mine, 'teams', any, ctx(['c2']))).toBe(false);
  });

  it('applies the status, label, intent and date filters', () => {
    expect(matchesView(summary({ waitingSince: '2026-12-05T10:01:00Z' }), 'all', { ...any, status: 'waiting' }, ctx())).toBe(true);
    expect(matchesView(summary(), 'all', { ...any, status: 'waiting' }, ctx())).toBe(false);
    expect(matchesView(summary(), 'all', { ...any, status: 'snoozed' }, ctx())).toBe(false);
    expect(matchesView(summary(), 'all', { ...any, labelId: 'vip' }, ctx([], { c1: ['vip'] }))).toBe(true);
    expect(matchesView(summary(), 'all', { ...any, labelId: 'vip' }, ctx())).toBe(false);
    expect(matchesView(summary({ intent: 'sales' }), 'all', { ...any, intent: 'complaint' }, ctx())).toBe(false);
    // "to" is inclusive of its whole day.
    expect(matchesView(summary(), 'all', { ...any, from: '2026-12-05', to: '2026-12-05' }, ctx())).toBe(true);
    expect(matchesView(summary(), 'all', { ...any, from: '2026-12-06' }, ctx())).toBe(false);
    expect(matchesView(summary(), 'all', { ...any, to: '2026-12-04' }, ctx())).toBe(false);
  });
});

describe('sortInbox', () => {
  const answeredOld = summary({ id: 'answered-old', lastMessageAt: '2026-12-05T09:00:00Z' });
  const answeredNew = summary({ id: 'answered-new', lastMessageAt: '2026-12-05T11:00:00Z' });
  const waitingLong = summary({ id: 'waiting-long', waitingSince: '2026-12-05T08:00:00Z', lastMessageAt: '2026-12-05T08:00:00Z' });
  const waitingShort = summary({ id: 'waiting-short', waitingSince: '2026-12-05T10:30:00Z', lastMessageAt: '2026-12-05T10:30:00Z' });

  it('waiting: the longest wait first, then the rest by recent activity', () => {
    const rows = sortInbox([answeredOld, waitingShort, answeredNew, waitingLong], 'waiting');
    expect(rows.map((r) => r.id)).toEqual(['waiting-long', 'waiting-short', 'answered-new', 'answered-old']);
  });

  it('recent: by last activity only', () => {
    const rows = sortInbox([answeredOld, waitingShort, answeredNew, waitingLong], 'recent');
    expect(rows.map((r) => r.id)).toEqual(['answered-new', 'waiting-short', 'answered-old', 'waiting-long']);
  });
});
