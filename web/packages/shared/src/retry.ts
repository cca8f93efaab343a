/**
 * Reconnect back-off shared by the widget and the console: 0, 1 s, 2 s, 5 s, then every 10 s forever.
 * Compatible with SignalR's `IRetryPolicy` (never returns null, so automatic reconnect never gives up:
 * a visitor who leaves a tab open over a server restart gets their chat back on their own).
 */
const STEPS = [0, 1000, 2000, 5000];
export const STEADY_RETRY_MS = 10_000;

export function retryDelay(previousRetryCount: number): number {
  return STEPS[previousRetryCount] ?? STEADY_RETRY_MS;
}

export const foreverRetryPolicy = {
  nextRetryDelayInMilliseconds(context: { previousRetryCount: number }): number {
    return retryDelay(context.previousRetryCount);
  },
};

/**
 * Wraps an async action so at most one run is in flight; requests made during a run cause exactly one
 * more run afterwards. Used for gap filling: many out-of-order pushes trigger a single Resume/Join.
 */
export function coalesce(action: () => Promise<void>): () => Promise<void> {
  let running: Promise<void> | null = null;
  let pending = false;
  const run = (): Promise<void> => {
    if (running) {
      pending = true;
      return running;
    }
    running = (async () => {
      try {
        do {
          pending = false;
          await action();
        } while (pending);
      } finally {
        running = null;
      }
    })();
    return running;
  };
  return run;
}
