import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { aiStrings } from '../src/aiStrings';
import {
  MAX_SUGGESTIONS,
  REFRESH_DEBOUNCE_MS,
  TakeoverDismissals,
  debounce,
  intentLabel,
  percent,
  sentimentLabel,
  showIntent,
  showSentiment,
  takeoverMessage,
  visibleSuggestions,
  type ConversationInsights,
} from '../src/insights';

const en = aiStrings.en;
const zh = aiStrings['zh-CN'];

function insights(over: Partial<ConversationInsights> = {}): ConversationInsights {
  return {
    intent: 'after_sales',
    intentConfidence: 0.87,
    intentScores: {},
    sentiment: 'negative',
    sentimentScore: -0.4,
    sentimentSignals: [],
    takeoverSuggested: false,
    takeoverReason: null,
    suggestions: [],
    visitorMessages: 3,
    ...over,
  };
}

describe('labels', () => {
  it('names every built-in intent, sentiment and takeover reason in English and Chinese', () => {
    for (const code of ['complaint', 'consult', 'sales', 'after_sales', 'greeting']) {
      expect(intentLabel(code, en)).not.toBe(code);
      expect(intentLabel(code, zh)).toMatch(/\p{Script=Han}/u);
    }
    for (const code of ['very_negative', 'negative', 'neutral', 'positive']) {
      expect(sentimentLabel(code, en)).not.toBe(code);
      expect(sentimentLabel(code, zh)).toMatch(/\p{Script=Han}/u);
    }
    expect(intentLabel('after_sales', en)).toBe('After-sales');
    expect(intentLabel('after_sales', zh)).toBe('售后');
  });

  it('maps takeover reasons to the banner sentences', () => {
    expect(takeoverMessage('asked_for_person', en)).toBe('The visitor asked for a person');
    expect(takeoverMessage('angry', en)).toBe('The visitor seems angry');
    expect(takeoverMessage('repeated_question', en)).toBe('The visitor asked the same thing 3 times');
    expect(takeoverMessage('frustration_rising', en)).toBe('Frustration is rising');
    expect(takeoverMessage('asked_for_person', zh)).toBe('访客要求转人工');
    expect(takeoverMessage('repeated_question', zh)).toBe('访客已将同一问题问了 3 次');
  });

  it('shows an admin-defined intent by its name and an unknown reason as a generic alert', () => {
    expect(intentLabel('warranty_claim', en)).toBe('Warranty claim');
    expect(intentLabel('保修', zh)).toBe('保修');
    expect(intentLabel('toString', en)).toBe('ToString'); // not Object.prototype's
    expect(takeoverMessage('bot_failed', en)).toBe(en.takeover.generic);
    expect(takeoverMessage(null, zh)).toBe(zh.takeover.generic);
    expect(takeoverMessage('generic', en)).toBe(en.takeover.generic);
    expect(sentimentLabel('furious', en)).toBe('furious');
  });

  it('formats confidences as clamped whole percentages', () => {
    expect(percent(0.874)).toBe('87%');
    expect(percent(1.2)).toBe('100%');
    expect(percent(-0.1)).toBe('0%');
  });
});

describe('what is shown', () => {
  it('hides the badges before the visitor has written', () => {
    const quiet = insights({ intent: null, visitorMessages: 0, sentiment: 'neutral', sentimentScore: 0 });
    expect(showIntent(quiet)).toBe(false);
    expect(showSentiment(quiet)).toBe(false);
    expect(showIntent(null)).toBe(false);
    expect(showIntent(insights())).toBe(true);
    expect(showSentiment(insights())).toBe(true);
  });

  it('shows at most three suggestions, best first, one per entry', () => {
    const s = (entryId: string, confidence: number) => ({ entryId, question: `q${entryId}`, answer: `a${entryId}`, confidence });
    const shown = visibleSuggestions(insights({ suggestions: [s('1', 0.3), s('2', 0.9), s('2', 0.9), s('3', 0.5), s('4', 0.4)] }));
    expect(shown.map((x) => x.entryId)).toEqual(['2', '3', '4']);
    expect(shown).toHaveLength(MAX_SUGGESTIONS);
    expect(visibleSuggestions(null)).toEqual([]);
  });
});

describe('TakeoverDismissals', () => {
  it('keeps a dismissed alert hidden while the episode lasts and shows the next episode', () => {
    const d = new TakeoverDismissals();
    const alert = { takeoverSuggested: true };
    expect(d.shows('c1', alert)).toBe(true);
    d.dismiss('c1');
    expect(d.shows('c1', alert)).toBe(false);
    d.observe('c1', alert); // another message, same episode
    expect(d.shows('c1', alert)).toBe(false);
    expect(d.shows('c2', alert)).toBe(true); // other conversations are not affected
    d.observe('c1', { takeoverSuggested: false }); // "ok thanks": the episode ends
    expect(d.shows('c1', { takeoverSuggested: false })).toBe(false);
    expect(d.shows('c1', alert)).toBe(true); // a new episode alerts again
    expect(d.shows('c1', null)).toBe(false);
  });
});

describe('debounce', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('reads once after a burst of visitor messages', () => {
    const fn = vi.fn();
    const refresh = debounce(fn, REFRESH_DEBOUNCE_MS);
    refresh();
    vi.advanceTimersByTime(200);
    refresh();
    vi.advanceTimersByTime(200);
    refresh();
    expect(fn).not.toHaveBeenCalled();
    vi.advanceTimersByTime(REFRESH_DEBOUNCE_MS);
    expect(fn).toHaveBeenCalledTimes(1);
    refresh();
    vi.advanceTimersByTime(REFRESH_DEBOUNCE_MS);
    expect(fn).toHaveBeenCalledTimes(2);
  });

  it('drops a pending call when cancelled (the conversation was closed)', () => {
    const fn = vi.fn();
    const refresh = debounce(fn, REFRESH_DEBOUNCE_MS);
    refresh();
    refresh.cancel();
    vi.advanceTimersByTime(REFRESH_DEBOUNCE_MS * 2);
    expect(fn).not.toHaveBeenCalled();
  });
});
