/**
 * Parley widget loader (wwwroot/widget.js).
 *
 *   <script src="https://HOST/widget.js" data-site="SITE_KEY" async></script>
 *
 * Injects a launcher button and an iframe running the widget app from HOST, so the host page's CSS and JS
 * cannot reach the chat (and vice versa). Everything lives in an open shadow root with its own styles.
 * Talks to the iframe with postMessage, accepting only messages from HOST and from that iframe.
 * Budget: 5 KB gzip, no dependencies. See docs/widget.md for the JS API.
 */

type EventName = 'open' | 'close' | 'ready' | 'message';
type Handler = (data?: unknown) => void;
type QueuedCall = [string, ...unknown[]];

/** What the host page knows about its signed-in user; `hash` is the HMAC its backend computed (docs/widget.md). */
interface ParleyUser {
  id?: string;
  name?: string;
  email?: string;
  phone?: string;
  attributes?: Record<string, string | number | boolean>;
  hash?: string;
}

interface ParleyApi {
  open(): void;
  close(): void;
  toggle(): void;
  setLocale(locale: string): void;
  setUser(user: ParleyUser | null): void;
  setAttributes(attributes: Record<string, string | number | boolean>): void;
  setSound(on: boolean): void;
  trackPage(): void;
  on(event: EventName, fn: Handler): void;
  off(event: EventName, fn: Handler): void;
  isOpen(): boolean;
  q?: QueuedCall[];
  loaded?: boolean;
}

interface ParleyWindow extends Window {
  Parley?: Partial<ParleyApi> & { q?: QueuedCall[] };
}

/** Messages exchanged with the iframe; both sides check the `parley` marker and the origin. */
interface FrameMessage {
  parley: 1;
  type: string;
  [key: string]: unknown;
}

(() => {
  const w = window as ParleyWindow;
  if (w.Parley && w.Parley.loaded) return; // the snippet was pasted twice

  // document.currentScript is null when the script runs async in some browsers/old engines: fall back
  // to the first Parley script tag.
  const script = (document.currentScript as HTMLScriptElement | null) ??
    document.querySelector<HTMLScriptElement>('script[data-site][src*="widget.js"]') ??
    document.querySelector<HTMLScriptElement>('script[data-site]');
  const site = script?.getAttribute('data-site');
  if (!script || !site) {
    console.warn('[parley] widget.js: missing data-site attribute');
    return;
  }
  const serverOrigin = new URL(script.src, location.href).origin;
  let locale = script.getAttribute('data-locale') || navigator.language || 'en';
  const isZh = (): boolean => /^zh/i.test(locale);

  const handlers: Record<string, Handler[]> = {};
  let open = false;
  let ready = false;
  let unread = 0;
  let user: ParleyUser | null = null;
  let sound = script.getAttribute('data-sound') === 'true';
  let left = false;

  // ---- DOM ------------------------------------------------------------------------------------------
  const host = document.createElement('div');
  host.id = 'parley-widget';
  // Inline so host CSS like `div { … }` cannot move or hide the container itself.
  host.setAttribute('style', 'all:initial;position:fixed;z-index:2147483000;bottom:0;right:0;width:0;height:0;');
  const root = host.attachShadow({ mode: 'open' });

  const style = document.createElement('style');
  style.textContent =
    ':host{all:initial}' +
    '.l{position:fixed;right:20px;bottom:20px;width:56px;height:56px;border-radius:50%;border:0;padding:0;margin:0;' +
    'background:#2563eb;color:#fff;cursor:pointer;box-shadow:0 4px 14px rgba(0,0,0,.25);display:flex;' +
    'align-items:center;justify-content:center;transition:transform .15s;font:600 12px/1 system-ui,sans-serif}' +
    '.z .l,.z .f{right:auto;left:20px}' +
    '.l:hover{transform:scale(1.06)}.l:focus-visible{outline:3px solid #93c5fd;outline-offset:2px}' +
    '.l svg{width:26px;height:26px;fill:currentColor}' +
    '.b{position:absolute;top:-2px;right:-2px;min-width:18px;height:18px;border-radius:9px;background:#dc2626;' +
    'color:#fff;font:600 11px/18px system-ui,sans-serif;text-align:center;padding:0 4px;box-sizing:border-box}' +
    '.f{position:fixed;right:20px;bottom:88px;width:380px;height:min(640px,calc(100vh - 108px));border:0;' +
    'border-radius:14px;box-shadow:0 12px 40px rgba(0,0,0,.22);background:#fff;display:none;margin:0;padding:0}' +
    '.f.o{display:block}' +
    // Phones: the chat takes the whole screen; its own header has a close button.
    '@media (max-width:480px){.f{inset:0;width:100%;height:100%;height:100dvh;border-radius:0;box-shadow:none}' +
    '.l.o{display:none}}';

  const launcher = document.createElement('button');
  launcher.type = 'button';
  launcher.className = 'l';
  launcher.setAttribute('data-testid', 'parley-launcher');
  launcher.setAttribute('aria-haspopup', 'dialog');
  launcher.setAttribute('aria-expanded', 'false');
  launcher.setAttribute('aria-controls', 'parley-frame');
  const icon = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  icon.setAttribute('viewBox', '0 0 24 24');
  icon.setAttribute('aria-hidden', 'true');
  const path = document.createElementNS('http://www.w3.org/2000/svg', 'path');
  icon.appendChild(path);
  const badge = document.createElement('span');
  badge.className = 'b';
  badge.setAttribute('aria-hidden', 'true');
  badge.hidden = true;
  launcher.append(icon, badge);

  const frame = document.createElement('iframe');
  frame.id = 'parley-frame';
  frame.className = 'f';
  frame.setAttribute('data-testid', 'parley-frame');
  const params = new URLSearchParams({ site, embed: '1', origin: location.origin });
  if (script.getAttribute('data-locale')) params.set('locale', locale);
  frame.src = `${serverOrigin}/widget/?${params.toString()}`;

  const CHAT_ICON = 'M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H8l-4 4V6a2 2 0 0 1 2-2z';
  const CLOSE_ICON = 'M6.4 5 12 10.6 17.6 5 19 6.4 13.4 12l5.6 5.6-1.4 1.4L12 13.4 6.4 19 5 17.6 10.6 12 5 6.4z';

  const wrap = document.createElement('div');

  function render(): void {
    const zh = isZh();
    wrap.className = left ? 'z' : '';
    path.setAttribute('d', open ? CLOSE_ICON : CHAT_ICON);
    const label = zh ? '聊天' : 'Chat';
    launcher.setAttribute(
      'aria-label',
      open ? (zh ? '关闭聊天' : 'Close chat') : unread ? `${label} (${unread} ${zh ? '条未读' : 'unread'})` : label,
    );
    launcher.setAttribute('aria-expanded', String(open));
    launcher.classList.toggle('o', open);
    frame.classList.toggle('o', open);
    frame.title = zh ? '聊天窗口' : 'Chat window';
    badge.hidden = open || unread === 0;
    badge.textContent = unread > 9 ? '9+' : String(unread);
  }

  // ---- messaging with the iframe ----------------------------------------------------------------------
  function post(type: string, data: Record<string, unknown> = {}): void {
    // Before `ready` the frame may still show about:blank; the targetOrigin makes that a no-op.
    frame.contentWindow?.postMessage({ parley: 1, type, ...data }, serverOrigin);
  }

  function emit(event: EventName, data?: unknown): void {
    for (const fn of (handlers[event] ?? []).slice()) {
      try {
        fn(data);
      } catch (e) {
        console.error('[parley] handler failed', e);
      }
    }
  }

  window.addEventListener('message', (e: MessageEvent) => {
    if (e.origin !== serverOrigin || e.source !== frame.contentWindow) return;
    const msg = e.data as FrameMessage | null;
    if (!msg || typeof msg !== 'object' || msg.parley !== 1) return;
    switch (msg.type) {
      case 'ready':
        ready = true;
        // Everything the app needs before it opens its session: the page (it cannot read ours), the user, the locale.
        post('init', {
          locale,
          open,
          user,
          page: { url: location.href, title: document.title, referrer: document.referrer },
        });
        emit('ready', { site: msg.site });
        break;
      case 'settings':
        left = msg.position === 'left';
        if (typeof msg.color === 'string' && /^#[0-9a-f]{6}$/i.test(msg.color)) launcher.style.background = msg.color;
        render();
        break;
      case 'message':
        if (!open) {
          unread++;
          render();
          if (sound) beep();
        }
        emit('message', msg.message);
        break;
      case 'close':
        api.close();
        break;
    }
  });

  // ---- public API ------------------------------------------------------------------------------------
  /** A short soft tone for unread messages (opt-in; browsers may block audio before any user gesture). */
  function beep(): void {
    try {
      const Ctx = window.AudioContext || (window as unknown as { webkitAudioContext: typeof AudioContext }).webkitAudioContext;
      const ctx = new Ctx();
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      osc.frequency.value = 880;
      gain.gain.setValueAtTime(0.08, ctx.currentTime);
      gain.gain.exponentialRampToValueAtTime(0.0001, ctx.currentTime + 0.25);
      osc.connect(gain).connect(ctx.destination);
      osc.start();
      osc.stop(ctx.currentTime + 0.25);
      osc.onended = () => void ctx.close();
    } catch {
      // no audio: the badge still shows
    }
  }

  function setOpen(next: boolean): void {
    if (next === open) return;
    open = next;
    if (open) unread = 0;
    render();
    if (ready) post(open ? 'open' : 'close');
    if (open) frame.focus();
    else if (root.activeElement === frame || document.activeElement === host) launcher.focus();
    emit(open ? 'open' : 'close');
  }

  const api: ParleyApi = {
    loaded: true,
    open: () => setOpen(true),
    close: () => setOpen(false),
    toggle: () => setOpen(!open),
    isOpen: () => open,
    setLocale(l: string) {
      locale = String(l || 'en');
      render();
      if (ready) post('locale', { locale });
    },
    setUser(u: ParleyUser | null) {
      user = u && typeof u === 'object' ? { ...u } : null;
      if (ready) post('user', { user });
    },
    setAttributes(attributes) {
      user = { ...(user ?? {}), attributes: { ...(user?.attributes ?? {}), ...attributes } };
      if (ready) post('user', { user });
    },
    setSound(on: boolean) {
      sound = !!on;
    },
    trackPage() {
      if (ready) post('page', { page: { url: location.href, title: document.title, referrer: document.referrer } });
    },
    on(event, fn) {
      (handlers[event] ||= []).push(fn);
    },
    off(event, fn) {
      handlers[event] = (handlers[event] ?? []).filter((h) => h !== fn);
    },
  };

  launcher.addEventListener('click', () => api.toggle());
  // Single-page apps: back/forward and hash navigation are reported; pushState-based routers call Parley.trackPage().
  window.addEventListener('popstate', () => api.trackPage());
  window.addEventListener('hashchange', () => api.trackPage());
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && open && document.activeElement === host) api.close();
  });

  // Calls made through a stub before this script loaded: window.Parley = { q: [['open'], ['on', 'message', fn]] }.
  const queued = w.Parley?.q ?? [];
  w.Parley = api;

  wrap.append(launcher, frame);
  root.append(style, wrap);
  render();
  const mount = (): void => {
    document.body.appendChild(host);
    for (const [method, ...args] of queued) {
      const fn = (api as unknown as Record<string, unknown>)[method];
      if (typeof fn === 'function') (fn as (...a: unknown[]) => void).apply(api, args);
    }
  };
  if (document.body) mount();
  else document.addEventListener('DOMContentLoaded', mount);
})();
