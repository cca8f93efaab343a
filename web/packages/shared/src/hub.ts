import { HubConnectionBuilder, HubConnectionState, LogLevel, type HubConnection } from '@microsoft/signalr';
import { MessagePackHubProtocol } from '@microsoft/signalr-protocol-msgpack';
import { retryDelay } from './retry';

export type ConnectionState = 'connecting' | 'connected' | 'reconnecting' | 'disconnected';

/**
 * The keep-alive contract with the server (src/Parley.Server/Realtime/RealtimeOptions.cs: ClientKeepAliveSeconds and
 * ClientServerTimeoutSeconds; its KeepAliveSeconds may be at most half of SERVER_TIMEOUT_MS and its
 * ClientTimeoutSeconds at least twice KEEP_ALIVE_MS). KeepAliveContractTests fails when the two drift apart.
 * We ping after 30 s without sending anything and give the server up after 60 s of silence.
 */
export const KEEP_ALIVE_MS = 30_000;
export const SERVER_TIMEOUT_MS = 60_000;

/** Retries after which the state is shown as "disconnected" (we are in the slow 10 s phase). */
const SLOW_PHASE = 4;

export interface ManagedHubOptions {
  url: string;
  /** Visitor hub: the visitor token. Agent hub: omitted (cookie auth). */
  accessTokenFactory?: () => string | Promise<string>;
  onState(state: ConnectionState): void;
  /** Called after every successful (re)connection; `resumed` is false only for the very first one. */
  onConnected(resumed: boolean): void | Promise<void>;
  /** Called when a start attempt fails (e.g. to refresh an expired visitor token before the next try). */
  onStartError?(error: unknown): void | Promise<void>;
}

export interface ManagedHub {
  readonly connection: HubConnection;
  readonly connected: boolean;
  /** Starts and keeps the connection up until `stop()`; resolves after the first successful connect. */
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A SignalR connection with MessagePack, the shared back-off, and one thing SignalR does not do by
 * itself: retrying the *initial* start and restarting after a close (automatic reconnect only covers
 * connections that were up). State changes are reported with the values the UI shows.
 */
export function createManagedHub(options: ManagedHubOptions): ManagedHub {
  let stopped = false;
  let everConnected = false;
  let loop: Promise<void> | null = null;
  let wake: (() => void) | null = null;

  const connection = new HubConnectionBuilder()
    .withUrl(options.url, options.accessTokenFactory ? { accessTokenFactory: options.accessTokenFactory } : {})
    .withHubProtocol(new MessagePackHubProtocol())
    .withKeepAliveInterval(KEEP_ALIVE_MS)
    .withServerTimeout(SERVER_TIMEOUT_MS)
    .withAutomaticReconnect({
      nextRetryDelayInMilliseconds: (ctx) => {
        if (ctx.previousRetryCount >= SLOW_PHASE) options.onState('disconnected');
        return retryDelay(ctx.previousRetryCount);
      },
    })
    .configureLogging(LogLevel.Warning)
    .build();

  connection.onreconnecting(() => options.onState('reconnecting'));
  connection.onreconnected(() => {
    options.onState('connected');
    void options.onConnected(true);
  });
  connection.onclose(() => {
    if (stopped) {
      options.onState('disconnected');
      return;
    }
    options.onState(typeof navigator !== 'undefined' && navigator.onLine === false ? 'disconnected' : 'reconnecting');
    void startLoop();
  });

  // Retry immediately when the browser says the network is back instead of waiting out the back-off.
  if (typeof window !== 'undefined') {
    window.addEventListener('online', () => wake?.());
    window.addEventListener('offline', () => {
      // The browser knows the network is gone; a WebSocket can take a keep-alive timeout (60 s) to notice. Drop
      // it now so the state shown is honest and new messages wait in the outbox; `online` reconnects at once.
      options.onState('disconnected');
      if (connection.state === HubConnectionState.Connected) void connection.stop().catch(() => undefined);
    });
  }

  function sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      function done(): void {
        clearTimeout(t);
        wake = null;
        resolve();
      }
      wake = done;
    });
  }

  function startLoop(): Promise<void> {
    if (loop) return loop;
    let run: Promise<void> | null = null;
    run = (async () => {
      for (let attempt = 0; !stopped; attempt++) {
        await sleep(retryDelay(attempt));
        if (stopped) return;
        if (connection.state !== HubConnectionState.Disconnected) return;
        try {
          await connection.start();
          const resumed = everConnected;
          everConnected = true;
          options.onState('connected');
          if (loop === run) loop = null; // a close during onConnected may start a fresh loop
          await options.onConnected(resumed);
          return;
        } catch (error) {
          if (attempt + 1 >= SLOW_PHASE) options.onState('disconnected');
          await options.onStartError?.(error);
        }
      }
    })().finally(() => {
      if (loop === run) loop = null;
    });
    loop = run;
    return run;
  }

  return {
    connection,
    get connected() {
      return connection.state === HubConnectionState.Connected;
    },
    start() {
      stopped = false;
      options.onState(everConnected ? 'reconnecting' : 'connecting');
      return startLoop();
    },
    async stop() {
      stopped = true;
      wake?.();
      await connection.stop();
    },
  };
}
