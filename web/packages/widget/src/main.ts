import { pickLocale, renderSystemLine, type MessageDto, type WidgetPublicSettings, type WidgetSessionResponse } from '@parley/shared';
import { HttpError, VisitorChat, type ChatInit } from './chat';
import { buildForm, buildRating, type FormField } from './forms';
import { el, WidgetView } from './view';
import './style.css';

// One app, two ways in: the loader's iframe (/widget/?site=KEY&embed=1&origin=https://customer.example)
// and the full-screen H5 page the server serves at /chat/KEY.
const params = new URLSearchParams(location.search);
const siteKey = params.get('site') ?? decodeURIComponent(/^\/chat\/([^/?#]+)/.exec(location.pathname)?.[1] ?? '');
const embedded = params.get('embed') === '1' && window.parent !== window;
const parentOrigin = embedded ? validOrigin(params.get('origin')) : null;
let locale = pickLocale(params.get('locale'), navigator.languages ?? [navigator.language]);
const store = safeStorage();
const key = (name: string): string => `parley:${siteKey}:${name}`;

const root = document.getElementById('app')!;
root.className = embedded ? 'app app--embedded' : 'app';

let chat: VisitorChat | null = null;
let session: WidgetSessionResponse | null = null;
let status: 'none' | 'open' | 'closed' = 'none';
let count = 0;
let open = !embedded;
let offlineSent = false;
/** The server refused a new session under load (503 overloaded): the offline form stands in until it accepts one. */
let busy = false;
/** "Talk to a person" was pressed in this conversation (the button hides at once, even before the hand-off shows). */
let personRequestedFor: string | null = null;

const view = new WidgetView(root, locale, embedded, {
  onSend: (text) => chat?.send(text),
  onClose: () => postToParent('close'),
  onTyping: (active) => chat?.typing(active),
  onFile: (file) => void chat?.upload(file),
  onDismiss: (k) => chat?.dismissUpload(k),
  onRequestPerson: () => {
    const c = chat;
    if (!c) return;
    personRequestedFor = c.conversationId ?? 'new';
    updatePersonButton();
    c.requestPerson().then(
      () => updatePersonButton(),
      () => {
        personRequestedFor = null; // not connected: offer it again
        updatePersonButton();
      },
    );
  },
});

/** The bot-first button shows while the bot has the open conversation (or before the first message). */
function updatePersonButton(): void {
  const c = chat;
  const requested = personRequestedFor !== null && (personRequestedFor === 'new' || personRequestedFor === c?.conversationId);
  view.setPersonButton(!!session?.settings?.botFirst && !!c && status !== 'closed' && !c.withPeople && !requested);
}

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

function safeStorage(): Storage | null {
  try {
    localStorage.getItem('parley:probe');
    return localStorage;
  } catch {
    return null;
  }
}

function setLocale(value: string): void {
  locale = pickLocale(value, navigator.languages);
  view.setLocale(locale);
  refresh();
}

function setOpen(next: boolean): void {
  open = next;
  chat?.setVisible(open && document.visibilityState === 'visible');
  if (open) {
    view.scrollToBottom();
    // Desktop: type right away. Touch devices: don't pop the keyboard over the conversation.
    if (!matchMedia('(pointer: coarse)').matches) view.focusInput();
  }
}
document.addEventListener('visibilitychange', () => chat?.setVisible(open && document.visibilityState === 'visible'));

let resolveInit: ((init: ChatInit & { locale?: string; open?: boolean }) => void) | null = null;
window.addEventListener('message', (e: MessageEvent) => {
  if (!parentOrigin || e.origin !== parentOrigin || e.source !== window.parent) return;
  const msg = e.data as { parley?: number; type?: string; locale?: string; user?: Record<string, unknown> | null; page?: ChatInit['page']; open?: boolean } | null;
  if (!msg || typeof msg !== 'object' || msg.parley !== 1) return;
  if (msg.type === 'init') {
    resolveInit?.({ user: msg.user ?? null, page: msg.page ?? null, locale: msg.locale, open: msg.open });
  } else if (msg.type === 'locale' && typeof msg.locale === 'string') {
    setLocale(msg.locale);
  } else if (msg.type === 'open' || msg.type === 'close') {
    setOpen(msg.type === 'open');
  } else if (msg.type === 'page' && msg.page) {
    void chat?.post('/api/v1/widget/page', { ...msg.page, language: navigator.language, timeZone: Intl.DateTimeFormat().resolvedOptions().timeZone }).catch(() => undefined);
  } else if (msg.type === 'user') {
    void chat?.identify(msg.user ?? null).catch(() => undefined);
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

let panelKey = '';

/**
 * Which form, if any, stands in for (or under) the conversation right now. Rebuilt only when that decision
 * changes, so a half-typed comment survives incoming messages and receipts.
 */
function refresh(): void {
  updatePersonButton();
  const s = session?.settings;
  const t = view.t;
  const convId = chat?.conversationId ?? null;
  const history = chat?.hasHistory ?? false;
  const rated = (store?.getItem(key('rated')) ?? '').split(' ');
  if (!s && busy) {
    showBusyForm();
    return;
  }
  const mode = !s ? 'none'
    : status === 'closed' && convId ? `closed:${convId}:${rated.includes(convId)}`
    : !history && !offlineSent && s.offlineForm && !s.agentsAvailable && !s.botFirst ? 'offline'
    : !history && preChatFields(s).length > 0 && !preChatDone() ? 'prechat'
    : 'chat';
  const next = `${mode}|${locale}|${s?.transcriptAvailable}`;
  if (next === panelKey) return;
  panelKey = next;
  view.panel.replaceChildren();
  let composer = true;
  if (s && status === 'closed' && convId) {
    if (!rated.includes(convId)) {
      view.panel.append(buildRating(t, async (score, comment) => {
        try {
          await chat!.post(`/api/v1/widget/conversations/${convId}/rating`, { score, comment });
        } catch (error) {
          if (!(error instanceof HttpError && error.code === 'already_rated')) throw error;
        }
        store?.setItem(key('rated'), [...rated.slice(-20), convId].join(' '));
        panelKey = `closed:${convId}:true|${locale}|${s.transcriptAvailable}`; // keep the thanks on screen
      }));
    }
    if (s.transcriptAvailable) view.panel.append(transcriptForm(convId));
  } else if (s && !history && !offlineSent && s.offlineForm && !s.agentsAvailable && !s.botFirst) {
    composer = false;
    const fields = [
      { key: 'name', label: null, required: false },
      { key: 'email', label: null, required: true },
      ...s.preChatFields.filter((f) => f.key !== 'name' && f.key !== 'email'),
      { key: 'message', label: null, required: true, multiline: true },
    ];
    view.panel.append(buildForm(t, {
      testId: 'offline-form', title: t.offlineTitle, intro: t.offlineIntro, fields, submitText: t.offlineSend,
      submit: async ({ message = '', ...rest }) => {
        await chat!.sendOffline(rest, message);
        offlineSent = true;
        panelKey = '';
        refresh();
        view.panel.append(el('p', { class: 'card card-intro', 'data-testid': 'offline-done' }, t.offlineDone));
      },
    }));
  } else if (s && !history && preChatFields(s).length > 0 && !preChatDone()) {
    composer = false;
    view.panel.append(buildForm(t, {
      testId: 'prechat-form', title: t.preChatTitle, fields: preChatFields(s), submitText: t.start,
      submit: async ({ name, email, phone, ...fields }) => {
        await chat!.post('/api/v1/widget/profile', { name, email, phone, fields });
        store?.setItem(key('prechat'), '1');
        panelKey = '';
        refresh();
        view.focusInput();
      },
    }));
  }
  view.showComposer(composer);
}

/** The overload variant of the offline form: no site settings yet, so the built-in fields only. */
function showBusyForm(): void {
  const next = `busy|${locale}|${offlineSent}`;
  if (next === panelKey) return;
  panelKey = next;
  const t = view.t;
  view.panel.replaceChildren();
  view.showComposer(false);
  if (offlineSent) {
    view.panel.append(el('p', { class: 'card card-intro', 'data-testid': 'offline-done' }, t.offlineDone));
    return;
  }
  view.panel.append(buildForm(t, {
    testId: 'busy-form', title: t.busyTitle, intro: t.offlineIntro,
    fields: [
      { key: 'name', label: null, required: false },
      { key: 'email', label: null, required: true },
      { key: 'message', label: null, required: true, multiline: true },
    ],
    submitText: t.offlineSend,
    submit: async ({ message = '', ...rest }) => {
      await chat!.sendBusyOffline(rest, message);
      offlineSent = true;
      showBusyForm();
    },
  }));
}

/** The site's pre-chat fields, plus the department choice when the site offers one (it routes the chat). */
function preChatFields(s: WidgetPublicSettings): FormField[] {
  const departments = s.departments ?? [];
  if (!departments.length) return s.preChatFields;
  return [...s.preChatFields, { key: 'team', label: null, required: true, options: departments.map((d) => ({ value: d.id, label: d.name })) }];
}

function preChatDone(): boolean {
  const s = session?.settings;
  if (store?.getItem(key('prechat')) === '1') return true;
  // Everything required is already known (for example from setUser): don't ask again.
  // (The department choice is never known in advance.)
  return !!s && !s.departments?.length && s.preChatFields.some((f) => f.required) && (session?.profile?.missingFields.length ?? 1) === 0;
}

function transcriptForm(convId: string): HTMLFormElement {
  const t = view.t;
  const form = buildForm(t, {
    testId: 'transcript-form', title: t.transcript, fields: [{ key: 'email', label: null, required: true }], submitText: t.transcriptSend,
    submit: async ({ email }) => {
      await chat!.post(`/api/v1/widget/conversations/${convId}/transcript`, { email });
      form.replaceChildren(el('p', { class: 'card-intro', 'data-testid': 'transcript-done' }, t.transcriptDone));
    },
  });
  const input = form.querySelector('input');
  if (input && session?.profile?.email) input.value = session.profile.email;
  return form;
}

function notice(): void {
  view.setNotice(status === 'closed' ? 'closed' : count === 0 ? 'empty' : null);
}

async function boot(): Promise<void> {
  if (!siteKey) {
    view.setNotice('siteNotFound');
    view.setEnabled(false);
    view.setConnection('disconnected');
    return;
  }
  const page = { url: location.href, title: document.title, referrer: document.referrer };
  let init: ChatInit & { locale?: string; open?: boolean } = { user: null, page };
  if (embedded) {
    // The loader answers "ready" with the host page's URL/title/referrer, the user (setUser) and the locale.
    init = await new Promise((resolve) => {
      resolveInit = resolve;
      setTimeout(() => resolve({ user: null, page: null }), 3000);
    });
    resolveInit = null;
    if (init.locale && !params.get('locale')) setLocale(init.locale);
    if (init.open) setOpen(true);
  }
  const tz = Intl.DateTimeFormat().resolvedOptions().timeZone;
  chat = new VisitorChat(siteKey, {
    onChange(items, ownSend) {
      count = items.length;
      view.renderMessages(items, ownSend);
      notice();
      refresh();
    },
    onConnection: (s) => view.setConnection(s),
    onSession: (s) => {
      session = s;
      view.setSiteName(s.site.name, s.settings?.greeting ?? null);
      if (s.settings) {
        document.documentElement.style.setProperty('--accent', s.settings.color);
        postToParent('settings', { color: s.settings.color, position: s.settings.position });
      }
      notice();
      refresh();
    },
    onStatus(s) {
      status = s;
      notice();
      refresh();
    },
    onFatal(kind) {
      view.setNotice(kind);
      view.setEnabled(false);
      view.setConnection('disconnected');
    },
    onLoadError: () => view.setNotice('loadError'),
    onBusy() {
      busy = true;
      view.setNotice('busy');
      refresh();
    },
    onQueue: (q) => {
      view.setQueue(q);
      updatePersonButton();
    },
    onIncoming(m: MessageDto) {
      updatePersonButton();
      postToParent('message', { message: { seq: m.seq, senderKind: m.senderKind, senderName: m.senderName, body: m.kind === 'attachment' ? '📎' : m.kind === 'event' ? renderSystemLine(m.body, locale) : m.body } });
    },
    onTyping: (typing, name) => view.setTyping(typing, name),
  }, { user: init.user, page: { ...(init.page ?? page), language: navigator.language, timeZone: tz } });
  chat.setVisible(open && document.visibilityState === 'visible');
  await chat.start();
}

postToParent('ready', { site: siteKey });
void boot();
