// What the offline engines read in a conversation (GET /api/v1/conversations/{id}/insights, docs/api.md "AI"):
// the REST types and the pure rules the console applies to them. No Vue, no DOM: unit-tested in test/insights.test.ts.

/** One suggested reply (server: SuggestionDto): a knowledge entry that answers the newest visitor message. */
export interface Suggestion {
  entryId: string;
  question: string;
  answer: string;
  /** 0..1, retrieval's calibrated confidence. */
  confidence: number;
}

export type BuiltInIntent = 'complaint' | 'consult' | 'sales' | 'after_sales' | 'greeting';
export type SentimentLabel = 'very_negative' | 'negative' | 'neutral' | 'positive';
export type TakeoverReason = 'asked_for_person' | 'angry' | 'repeated_question' | 'frustration_rising';

/** GET /api/v1/conversations/{id}/insights (server: ConversationInsightsDto). */
export interface ConversationInsights {
  /** A built-in intent or an admin-defined one; null before the visitor has written. */
  intent: BuiltInIntent | (string & {}) | null;
  intentConfidence: number;
  intentScores: Record<string, number>;
  sentiment: SentimentLabel;
  /** -1..1 */
  sentimentScore: number;
  /** The words and markers the sentiment engine read ("repeated punctuation", "asked again", a negative word ...). */
  sentimentSignals: string[];
  takeoverSuggested: boolean;
  takeoverReason: TakeoverReason | (string & {}) | null;
  /** At most three, best first. */
  suggestions: Suggestion[];
  visitorMessages: number;
}

/** The strings this module needs (the `ai` section of the console's i18n). */
export interface InsightStrings {
  intents: Record<BuiltInIntent, string>;
  sentiments: Record<SentimentLabel, string>;
  takeover: Record<TakeoverReason, string> & { generic: string };
}

/** At most this many suggestions are shown (the server sends up to three; a future server may send more). */
export const MAX_SUGGESTIONS = 3;

/** How long to wait after a visitor message before reading the conversation again (a burst reads once). */
export const REFRESH_DEBOUNCE_MS = 300;

/** The label of an intent code: built-in intents are translated, an admin's own intent shows as its name. */
export function intentLabel(code: string, s: InsightStrings): string {
  if (Object.hasOwn(s.intents, code)) return s.intents[code as BuiltInIntent];
  const words = code.replace(/[_-]+/g, ' ').trim();
  return words ? words.charAt(0).toUpperCase() + words.slice(1) : code;
}

export function sentimentLabel(code: string, s: InsightStrings): string {
  return Object.hasOwn(s.sentiments, code) ? s.sentiments[code as SentimentLabel] : code;
}

/** The banner's sentence for a takeover reason; an unknown (newer server's) reason still raises a generic alert. */
export function takeoverMessage(reason: string | null, s: InsightStrings): string {
  return reason && Object.hasOwn(s.takeover, reason) && reason !== 'generic' ? s.takeover[reason as TakeoverReason] : s.takeover.generic;
}

/** "87%" — confidences are shown as whole percentages. */
export function percent(value: number): string {
  return `${Math.round(Math.min(1, Math.max(0, value)) * 100)}%`;
}

/** The badge is only worth showing when there is an intent (a conversation with no visitor text has none). */
export function showIntent(i: ConversationInsights | null): i is ConversationInsights & { intent: string } {
  return !!i && !!i.intent && i.visitorMessages > 0;
}

/** Neutral is the default: the sentiment badge appears once the visitor has written. */
export function showSentiment(i: ConversationInsights | null): i is ConversationInsights {
  return !!i && i.visitorMessages > 0;
}

/** The suggestions to show: best first, at most {@link MAX_SUGGESTIONS}, one per entry. */
export function visibleSuggestions(i: ConversationInsights | null): Suggestion[] {
  if (!i) return [];
  const seen = new Set<string>();
  return [...i.suggestions]
    .sort((a, b) => b.confidence - a.confidence)
    .filter((x) => !seen.has(x.entryId) && seen.add(x.entryId))
    .slice(0, MAX_SUGGESTIONS);
}

/**
 * Which takeover alerts the agent has dismissed. An episode is the run of reads that say "take over"; the
 * dismissal lasts until a read says the alert is gone (the visitor said "ok thanks", or the repeats left the
 * window), so a later alert in the same conversation shows again. The server recomputes insights on every
 * request and keeps no episode id, so a reset only happens when the console itself reads the quiet state.
 */
export class TakeoverDismissals {
  private readonly dismissed = new Set<string>();

  dismiss(conversationId: string): void {
    this.dismissed.add(conversationId);
  }

  /** Records a fresh read of a conversation: a read without an alert ends the episode. */
  observe(conversationId: string, insights: Pick<ConversationInsights, 'takeoverSuggested'>): void {
    if (!insights.takeoverSuggested) this.dismissed.delete(conversationId);
  }

  /** Is the banner to be shown for this read? */
  shows(conversationId: string, insights: Pick<ConversationInsights, 'takeoverSuggested'> | null): boolean {
    return !!insights?.takeoverSuggested && !this.dismissed.has(conversationId);
  }
}

export interface Debounced {
  (): void;
  cancel(): void;
}

/** Calls `fn` once, `ms` after the last call in a burst; `cancel` drops a pending call. */
export function debounce(fn: () => void, ms: number): Debounced {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const call = (() => {
    if (timer !== undefined) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = undefined;
      fn();
    }, ms);
  }) as Debounced;
  call.cancel = () => {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
  };
  return call;
}
