// Hub errors carry a stable code: the server throws HubException("<code>: <text>") and the SignalR
// client surfaces it as an Error whose message contains "HubException: <code>: ...". REST problems carry
// the same codes in their `code` member. What each code means and whether a retry can help comes from the
// server's catalogue (errorCatalogue.ts, checked against it by a test), so the widget and the console agree.
import { ERROR_CATALOGUE, type ErrorCode } from './errorCatalogue';

export type HubErrorCode = ErrorCode;

/** The protocol error code in a hub invocation error (catalogued or not), or null for transport/other failures. */
export function hubErrorCode(error: unknown): string | null {
  const text = error instanceof Error ? error.message : typeof error === 'string' ? error : '';
  const m = /HubException:\s*([a-z_]+)\s*:/.exec(text);
  if (m) return m[1]!;
  // Be lenient about the prefix (older clients / JSON protocol variants), but only for catalogued codes.
  for (const code of Object.keys(ERROR_CATALOGUE)) {
    if (new RegExp(`\\b${code}\\b`).test(text)) return code;
  }
  return null;
}

export function isCatalogued(code: string): code is ErrorCode {
  return Object.prototype.hasOwnProperty.call(ERROR_CATALOGUE, code);
}

/** Whether repeating the same request can succeed. Unknown codes are not: a client must not guess "retry for ever". */
export function isRetryable(code: string | null): boolean {
  if (code === null) return true; // no code: the transport failed, the request may not even have arrived
  return isCatalogued(code) && ERROR_CATALOGUE[code].retryable;
}

export type SendErrorClass =
  /** The message can never be stored as is: drop it from the outbox and tell the user. */
  | 'rejected'
  /** The conversation can no longer take this message: get a (new) conversation and resend. */
  | 'conversation'
  /** The sender is refused for good (blocked): stop sending, drop the outbox, say so. */
  | 'blocked'
  /** Too many requests, or the server is overloaded: keep it and retry later, backing off. */
  | 'throttled'
  /** Connection lost, server shutting down, store failure…: keep it and retry with the same client id. */
  | 'transient';

export function classifySendError(code: string | null): SendErrorClass {
  switch (code) {
    case 'conversation_closed':
    case 'conversation_not_found':
      return 'conversation';
    case 'contact_blocked':
      return 'blocked';
    case 'rate_limited':
    case 'overloaded': // the server sheds visitor sends under overload; back off as for a rate limit
      return 'throttled';
    default:
      return isRetryable(code) ? 'transient' : 'rejected';
  }
}

/**
 * Pause before the n-th consecutive throttled retry (n from 0): a ceiling of 2 s doubling to at most a minute, of which
 * the second half is random ("equal jitter"), so that visitors refused at the same moment do not all return at the same
 * moment (a herd of retries is itself a load spike). `random` returns [0, 1). The server's copy and the one contract:
 * ClientBackOff (src/Parley.Server/Infrastructure/ClientBackOff.cs).
 */
export const THROTTLE_FIRST_CEILING_MS = 2_000;
export const THROTTLE_MAX_CEILING_MS = 60_000;
export function throttleDelay(attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(THROTTLE_MAX_CEILING_MS, THROTTLE_FIRST_CEILING_MS * 2 ** Math.max(0, attempt));
  return ceiling / 2 + (ceiling / 2) * random();
}
