import { ref } from 'vue';

export type Status = 'online' | 'away';

/**
 * The agent's availability. "away" is set by hand or after IDLE_MS without keyboard/mouse activity (and then
 * lifted again on the next activity). The server is told through the agent hub's SetStatus (routing's
 * presence); a server that does not know the method yet leaves the status local. Disconnects are the
 * server's business (its presence marks the agent away after a grace period).
 */
export class AgentStatus {
  static readonly IDLE_MS = 5 * 60_000;
  readonly state = ref<Status>('online');
  private auto = false;
  private last = Date.now();
  private timer = 0;
  private readonly onActivity = () => {
    this.last = Date.now();
    if (this.auto) {
      this.auto = false;
      this.apply('online');
    }
  };

  constructor(private readonly send: (s: Status) => Promise<unknown>) {}

  start(): void {
    for (const e of ['keydown', 'mousedown', 'mousemove', 'touchstart', 'focus']) window.addEventListener(e, this.onActivity, { passive: true });
    this.timer = window.setInterval(() => {
      if (this.state.value === 'online' && Date.now() - this.last > AgentStatus.IDLE_MS) {
        this.auto = true;
        this.apply('away');
      }
    }, 15_000);
    this.apply(this.state.value);
  }

  stop(): void {
    for (const e of ['keydown', 'mousedown', 'mousemove', 'touchstart', 'focus']) window.removeEventListener(e, this.onActivity);
    clearInterval(this.timer);
  }

  set(s: Status): void {
    this.auto = false;
    this.apply(s);
  }

  private apply(s: Status): void {
    this.state.value = s;
    void this.send(s).catch(() => undefined);
  }
}

const DISMISS_KEY = 'parley:console:notify-dismissed';

/**
 * Desktop notifications and a short chime for new and assigned chats. Permission is never requested on load:
 * a banner offers it, and the browser prompt only appears when the agent clicks "Enable".
 */
export class Notifier {
  readonly ask = ref(false);
  private audio: AudioContext | null = null;

  constructor() {
    let dismissed = false;
    try {
      dismissed = localStorage.getItem(DISMISS_KEY) === '1';
    } catch {
      /* storage disabled */
    }
    this.ask.value = typeof Notification !== 'undefined' && Notification.permission === 'default' && !dismissed;
  }

  async request(): Promise<void> {
    this.ask.value = false;
    if (typeof Notification !== 'undefined') await Notification.requestPermission().catch(() => 'denied');
  }

  dismiss(): void {
    this.ask.value = false;
    try {
      localStorage.setItem(DISMISS_KEY, '1');
    } catch {
      /* ignore */
    }
  }

  notify(title: string, body: string, onClick: () => void): void {
    this.chime();
    if (typeof Notification === 'undefined' || Notification.permission !== 'granted' || document.hasFocus()) return;
    const n = new Notification(title, { body, tag: title + body });
    n.onclick = () => {
      window.focus();
      onClick();
      n.close();
    };
  }

  /** Two short tones through WebAudio: no audio file to ship, and silent until the page has had a user gesture. */
  private chime(): void {
    try {
      this.audio ??= new AudioContext();
      const ctx = this.audio;
      if (ctx.state === 'suspended') {
        void ctx.resume().catch(() => undefined); // allowed once the agent has interacted with the page
        return;
      }
      for (const [i, f] of [880, 1320].entries()) {
        const o = ctx.createOscillator();
        const g = ctx.createGain();
        o.frequency.value = f;
        g.gain.setValueAtTime(0.08, ctx.currentTime + i * 0.12);
        g.gain.exponentialRampToValueAtTime(0.0001, ctx.currentTime + i * 0.12 + 0.25);
        o.connect(g).connect(ctx.destination);
        o.start(ctx.currentTime + i * 0.12);
        o.stop(ctx.currentTime + i * 0.12 + 0.25);
      }
    } catch {
      /* no audio */
    }
  }
}
