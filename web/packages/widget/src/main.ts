import { pickLocale, type MessageDto } from '@parley/shared';
import { VisitorChat } from './chat';
import { WidgetView } from './view';
import './style.css';

// One app, two ways in: the loader's iframe (/widget/?site=KEY&embed=1&origin=https://customer.example)
// and the full-screen H5 page the server serves at /chat/KEY.
const params = new URLSearchParams(location.search);
const siteKey = params.get('site') ?? decodeURIComponent(/^\/chat\/([^/?#]+)/.exec(location.pathname)?.[1] ?? '');
const embedded = params.get('embed') === '1' && window.parent !== window;
const parentOrigin = embedded ? validOrigin(params.get('origin')) : null;
let locale = pickLocale(params.get('locale'), navigator.languages ?? [navigator.language]);

const root = document.getElementById('app')!;
root.className = embedded ? 'app app--embedded' : 'app';

const view = new WidgetView(root, locale, embedded, {
  onSend: (text) => chat?.send(text),
  onClose: () => postToParent('close'),
});

/** Only ever post to the origin the loader told us, never '*': messages can contain chat text. */
function postToParent(type: string, data: Record<string, unknown> = {}): void {
  if (parentOrigin) window.parent.postMessage({ parley: 1, type, ...data }, parentOrigin);
}

function validOrigin(value: string | null): string | null {
  if (!value) return null;
  try {
    const u = new URL(value);
    return (u.protocol === 'https:' || u.protocol === 'http:') && u.origin === value ? u.origin : null;
  } catch {
    return null;
  }
}

window.addEventListener('message', (e: MessageEvent) => {
  if (!parentOrigin || e.origin !== parentOrigin || e.source !== window.parent) return;
  const msg = e.data as { parley?: number; type?: string; locale?: string } | null;
  if (!msg || typeof msg !== 'object' || msg.parley !== 1) return;
  if (msg.type === 'locale' && typeof msg.locale === 'string') {
    locale = pickLocale(msg.locale, navigator.languages);
    view.setLocale(locale);
  } else if (msg.type === 'open') {
    view.scrollToBottom();
    // Desktop: type right away. Touch devices: don't pop the keyboard over the conversation.
    if (!matchMedia('(pointer: coarse)').matches) view.focusInput();
  }
});

// Keep the composer above the on-screen keyboard: size the app to the *visual* viewport where supported
// (100dvh in CSS covers browsers that resize the layout viewport instead).
const vv = window.visualViewport;
if (vv) {
  const fit = (): void => {
    document.documentElement.style.setProperty('--app-height', `${vv.height}px`);
    window.scrollTo(0, 0);
    view.scrollToBottom();
  };
  vv.addEventListener('resize', fit);
  fit();
}

let chat: VisitorChat | null = null;
if (!siteKey) {
  view.setNotice('siteNotFound');
  view.setEnabled(false);
  view.setConnection('disconnected');
} else {
  let status: 'none' | 'open' | 'closed' = 'none';
  let count = 0;
  chat = new VisitorChat(siteKey, {
    onChange(items, ownSend) {
      count = items.length;
      view.renderMessages(items, ownSend);
      view.setNotice(status === 'closed' ? 'closed' : count === 0 ? 'empty' : null);
    },
    onConnection: (s) => view.setConnection(s),
    onSession: (name) => {
      view.setSiteName(name);
      view.setNotice(count === 0 ? 'empty' : status === 'closed' ? 'closed' : null);
    },
    onStatus(s) {
      status = s;
      view.setNotice(s === 'closed' ? 'closed' : count === 0 ? 'empty' : null);
    },
    onFatal(kind) {
      view.setNotice(kind);
      view.setEnabled(false);
      view.setConnection('disconnected');
    },
    onLoadError: () => view.setNotice('loadError'),
    onIncoming(m: MessageDto) {
      postToParent('message', { message: { seq: m.seq, senderKind: m.senderKind, senderName: m.senderName, body: m.body } });
    },
  });
  void chat.start();
}

postToParent('ready', { site: siteKey });
