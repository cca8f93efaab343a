// Hub errors carry a stable code: the server throws HubException("<code>: <text>") and the SignalR
// client surfaces it as an Error whose message contains "HubException: <code>: ...".

export type HubErrorCode =
  | 'body_empty'
  | 'body_too_large'
  | 'invalid_body'
  | 'invalid_request'
  | 'conversation_not_found'
  | 'conversation_closed'
  | 'unavailable';

const KNOWN: readonly HubErrorCode[] = [
  'body_empty',
  'body_too_large',
  'invalid_body',
  'invalid_request',
  'conversation_not_found',
  'conversation_closed',
  'unavailable',
];

/** The protocol error code in a hub invocation error, or null for transport/other failures. */
export function hubErrorCode(error: unknown): HubErrorCode | null {
  const text = error instanceof Error ? error.message : typeof error === 'string' ? error : '';
  const m = /HubException:\s*([a-z_]+)\s*:/.exec(text);
  if (m && (KNOWN as readonly string[]).includes(m[1]!)) return m[1] as HubErrorCode;
  // Be lenient about the prefix (older clients / JSON protocol variants), but only for known codes.
  for (const code of KNOWN) {
    if (new RegExp(`\\b${code}\\b`).test(text)) return code;
  }
  return null;
}

export type SendErrorClass =
  /** The message can never be stored as is: drop it from the outbox and tell the user. */
  | 'rejected'
  /** The conversation can no longer take this message: get a (new) conversation and resend. */
  | 'conversation'
  /** Connection lost, server shutting down, store failure…: keep it and retry with the same client id. */
  | 'transient';

export function classifySendError(code: HubErrorCode | null): SendErrorClass {
  switch (code) {
    case 'body_empty':
    case 'body_too_large':
    case 'invalid_body':
    case 'invalid_request':
      return 'rejected';
    case 'conversation_closed':
    case 'conversation_not_found':
      return 'conversation';
    default:
      return 'transient';
  }
}
