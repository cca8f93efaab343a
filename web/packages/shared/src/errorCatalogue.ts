// The server's error catalogue (src/Parley.Server/Infrastructure/ErrorCatalogue.cs) as the clients see it.
// Keep one line per code in this exact shape: ErrorCatalogueTests (tests/Parley.Tests/Contract) compares it with the
// server's list and fails on drift; every code the server marks retryable must be here (unknown codes are not retried).
export const ERROR_CATALOGUE = {
  body_empty: { retryable: false },
  body_too_large: { retryable: false },
  client_id_conflict: { retryable: false },
  conflict: { retryable: true },
  contact_blocked: { retryable: false },
  conversation_closed: { retryable: false },
  conversation_not_found: { retryable: false },
  draining: { retryable: true },
  idempotency_in_progress: { retryable: true },
  invalid_body: { retryable: false },
  invalid_request: { retryable: false },
  overloaded: { retryable: true },
  rate_limited: { retryable: true },
  too_many_attempts: { retryable: true },
  transcript_failed: { retryable: true },
  unavailable: { retryable: true },
} as const;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;
