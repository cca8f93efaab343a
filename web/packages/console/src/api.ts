import type { ProblemDetails } from '@parley/shared';

/** A non-2xx REST answer, carrying the RFC 9457 problem's stable `code` when there is one. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly problem: ProblemDetails,
  ) {
    super(problem.title ?? `HTTP ${status}`);
  }
  get code(): string | undefined {
    return this.problem.code;
  }
}

/** Called on any 401 from a signed-in request (session expired): the app goes back to sign-in. */
let onUnauthorized: (() => void) | null = null;
export function setUnauthorizedHandler(fn: (() => void) | null): void {
  onUnauthorized = fn;
}

/**
 * fetch for /api/v1. Cookie auth (`credentials: 'same-origin'`); every state-changing request carries
 * `X-Parley-Csrf: 1`, which a cross-site form cannot set (docs/api.md).
 */
export async function api<T>(method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', path: string, body?: unknown, opts: { quiet401?: boolean } = {}): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (method !== 'GET') headers['X-Parley-Csrf'] = '1';
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(`/api/v1${path}`, {
    method,
    headers,
    credentials: 'same-origin',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!res.ok) {
    const problem = (await res.json().catch(() => ({ status: res.status }))) as ProblemDetails;
    if (res.status === 401 && !opts.quiet401) onUnauthorized?.();
    throw new ApiError(res.status, problem);
  }
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  return (text ? JSON.parse(text) : undefined) as T;
}

/**
 * Reads that live pushes can overtake. A read's answer is what the server held when the read began, so once a push has
 * arrived since then (or a newer read has begun), that answer is older than what the page shows and must not replace
 * it. Call `begin()` as a read starts and apply its answer only if the check it returns still holds; call `pushed()`
 * for every push.
 */
export function crossingReads(): { begin: () => () => boolean; pushed: () => void } {
  let epoch = 0;
  return {
    begin: () => {
      const mine = ++epoch;
      return () => mine === epoch;
    },
    pushed: () => {
      epoch++;
    },
  };
}
