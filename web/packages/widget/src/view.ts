import { ICONS, clockTime, fileSize, parseAttachment, renderSystemLine, toDate, type ConnectionState, type Locale, type PreChatField, type QueueStatus, type SenderKind, type Timestamp } from '@parley/shared';
import { strings, type Strings } from './i18n';

/** One row of the message list: a stored message, a queued one, an upload in progress, or one the server refused. */
export interface ViewMessage {
  /** The client id: stable from "sending" to "sent", so the element is reused, not recreated. */
  key: string;
  seq: number | null;
  senderKind: SenderKind;
  senderName: string | null;
  kind: 'text' | 'note' | 'event' | 'attachment' | 'upload';
  body: string;
  createdAt: Timestamp | null;
  state: 'sending' | 'sent' | 'read' | 'failed';
  /** Protocol error code of a failed row (body_too_large, attachment_type_not_allowed, …). */
  error?: string;
  /** Upload progress, 0…1. */
  progress?: number;
}

export interface ViewCallbacks {
  onSend(text: string): void;
  onClose(): void;
  onTyping(active: boolean): void;
  onFile(file: File): void;
  onDismiss(key: string): void;
  /** "Talk to a person" (bot-first sites). */
  onRequestPerson(): void;
}

export type NoticeKind = 'empty' | 'closed' | 'siteNotFound' | 'loadError' | 'blocked' | 'busy';

/** Small element helper. Text goes in with textContent only: user text must never become HTML. */
export function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, text?: string): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

const EMOJI = '😀 😂 😊 😍 😘 😉 😎 🤔 😅 😭 😢 😡 👍 👎 👌 🙏 👏 🙌 💪 👋 ❤️ 💔 🎉 🔥 ✨ ⭐ ✅ ❌ ❓ ❗ 📦 🚚 💳 📷 📎 ☕ 🌹 😴 🤝 🙂'.split(' ');
const LINK = /\b(?:https?:\/\/|mailto:)[^\s<>"']+/gi;

/**
 * Appends text with links made clickable: only http, https and mailto, checked with the URL parser;
 * trailing punctuation stays text. Links open in a new tab without access to this window.
 */
export function appendLinked(parent: HTMLElement, text: string): void {
  let last = 0;
  for (const match of text.matchAll(LINK)) {
    let href = match[0];
    const trail = /[).,!?;:'"\]]+$/.exec(href);
    if (trail) href = href.slice(0, -trail[0].length);
    const at = match.index ?? 0;
    let ok = false;
    try {
      ok = ['http:', 'https:', 'mailto:'].includes(new URL(href).protocol);
    } catch {
      ok = false;
    }
    if (!ok || !href) continue;
    if (at > last) parent.append(text.slice(last, at));
    parent.append(el('a', { href, target: '_blank', rel: 'noopener noreferrer nofollow' }, href));
    last = at + href.length;
  }
  if (last < text.length) parent.append(text.slice(last));
}

function dayKey(d: Date): string {
  return `${d.getFullYear()}-${d.getMonth() + 1}-${d.getDate()}`;
}

export class WidgetView {
  t: Strings;
  private locale: Locale;
  private state: ConnectionState = 'connecting';
  private readonly title = el('h1', { class: 'title' });
  private readonly stateEl = el('span', { class: 'conn', 'data-testid': 'connection-state', role: 'status', 'data-state': 'connecting' });
  private readonly closeBtn = el('button', { type: 'button', class: 'close', 'data-testid': 'widget-close' });
  private readonly list = el('div', { class: 'list', 'data-testid': 'message-list', role: 'log', 'aria-live': 'polite', 'aria-relevant': 'additions', tabindex: '0' });
  private readonly notice = el('p', { class: 'notice', 'data-testid': 'notice' });
  private readonly typingEl = el('div', { class: 'typing', 'data-testid': 'typing-indicator', 'aria-live': 'polite' });
  private readonly queueEl = el('p', { class: 'queue', 'data-testid': 'queue-status', role: 'status', 'aria-live': 'polite' });
  private readonly personBtn = el('button', { type: 'button', class: 'person', 'data-testid': 'talk-to-person' });
  private queue: QueueStatus | null = null;
  /** Forms (pre-chat, offline, rating, transcript) live here, between the list and the composer. */
  readonly panel = el('div', { class: 'panel' });
  private readonly form = el('form', { class: 'composer' });
  private readonly label = el('label', { class: 'sr-only', for: 'parley-input' });
  private readonly input = el('textarea', { id: 'parley-input', 'data-testid': 'composer-input', rows: '1', enterkeyhint: 'send', autocomplete: 'off' });
  private readonly sendBtn = el('button', { type: 'submit', class: 'send', 'data-testid': 'composer-send' });
  private readonly emojiBtn = el('button', { type: 'button', class: 'tool', 'data-testid': 'emoji-button', 'aria-expanded': 'false', 'aria-controls': 'parley-emoji' });
  private readonly attachBtn = el('button', { type: 'button', class: 'tool', 'data-testid': 'attach-button' });
  private readonly fileInput = el('input', { type: 'file', hidden: '', 'data-testid': 'file-input', accept: 'image/png,image/jpeg,image/gif,image/webp,application/pdf,application/zip,text/plain,.txt,.zip,.pdf' });
  private readonly emojiPanel = el('div', { id: 'parley-emoji', class: 'emoji', role: 'group', hidden: '', 'data-testid': 'emoji-panel' });
  private readonly rows = new Map<string, HTMLElement>();
  private siteName = '';
  private greeting: string | null = null;
  private items: ViewMessage[] = [];
  private typingTimer = 0;
  private typingName: string | null = null;

  constructor(
    private readonly root: HTMLElement,
    locale: Locale,
    embedded: boolean,
    private readonly cb: ViewCallbacks,
  ) {
    this.locale = locale;
    this.t = strings(locale);
    const header = el('header', { class: 'header' });
    const heading = el('div', { class: 'heading' });
    heading.append(this.title, this.stateEl);
    header.append(heading);
    if (embedded) {
      this.closeBtn.append(svgIcon(ICONS.close));
      this.closeBtn.addEventListener('click', () => cb.onClose());
      header.append(this.closeBtn);
    }
    this.sendBtn.append(svgIcon(ICONS.send));
    this.emojiBtn.append(svgIcon(ICONS.emoji));
    this.attachBtn.append(svgIcon(ICONS.attach));
    for (const e of EMOJI) {
      const b = el('button', { type: 'button', class: 'em' }, e);
      b.addEventListener('click', () => this.insert(e));
      this.emojiPanel.append(b);
    }
    this.emojiPanel.addEventListener('keydown', (e) => {
      if (e.key === 'Escape') this.toggleEmoji(false, true);
    });
    this.emojiBtn.addEventListener('click', () => this.toggleEmoji(this.emojiPanel.hidden !== false, false));
    this.attachBtn.addEventListener('click', () => this.fileInput.click());
    this.fileInput.addEventListener('change', () => {
      for (const f of Array.from(this.fileInput.files ?? [])) cb.onFile(f);
      this.fileInput.value = '';
    });
    this.form.append(this.label, this.emojiBtn, this.attachBtn, this.fileInput, this.input, this.sendBtn);
    this.form.addEventListener('submit', (e) => {
      e.preventDefault();
      this.submit();
    });
    this.input.addEventListener('keydown', (e) => {
      // Enter sends, Shift+Enter is a newline; never send while an IME (Chinese input) is composing.
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
        e.preventDefault();
        this.submit();
      } else if (e.key === 'Escape' && embedded) {
        cb.onClose();
      }
    });
    this.input.addEventListener('input', () => {
      this.autosize();
      cb.onTyping(this.input.value.trim().length > 0);
    });
    this.input.addEventListener('blur', () => cb.onTyping(false));
    // Pasting an image from the clipboard sends it like a picked file.
    this.input.addEventListener('paste', (e) => {
      const files = Array.from(e.clipboardData?.files ?? []);
      if (files.length) {
        e.preventDefault();
        for (const f of files) cb.onFile(f);
      }
    });
    this.typingEl.hidden = true;
    const main = el('main', { class: 'body' });
    this.queueEl.hidden = true;
    this.personBtn.hidden = true;
    this.personBtn.addEventListener('click', () => cb.onRequestPerson());
    main.append(this.notice, this.queueEl, this.personBtn, this.list, this.typingEl);
    root.append(header, main, this.panel, this.emojiPanel, this.form);
    this.applyTexts();
  }

  setLocale(locale: Locale): void {
    this.locale = locale;
    this.t = strings(locale);
    this.applyTexts();
    this.rows.clear();
    this.list.textContent = '';
    this.renderMessages(this.items, false);
  }

  setSiteName(name: string, greeting: string | null): void {
    this.siteName = name;
    this.greeting = greeting;
    this.applyTexts();
  }

  setConnection(state: ConnectionState): void {
    this.state = state;
    this.stateEl.setAttribute('data-state', state);
    this.stateEl.textContent = this.t.state[state];
  }

  /** A notice above the list (empty state, conversation ended, errors); null hides it. */
  setNotice(kind: NoticeKind | null): void {
    this.notice.hidden = kind === null;
    this.notice.setAttribute('data-kind', kind ?? '');
    if (kind) this.notice.textContent = kind === 'empty' && this.greeting ? this.greeting : this.t[kind === 'closed' ? 'closedNotice' : kind];
  }

  setEnabled(enabled: boolean): void {
    this.input.disabled = !enabled;
    this.sendBtn.disabled = !enabled;
    this.attachBtn.disabled = !enabled;
    this.emojiBtn.disabled = !enabled;
  }

  /** Hide the composer while a form (pre-chat, offline) stands in for it. */
  showComposer(visible: boolean): void {
    this.form.hidden = !visible;
    if (!visible) this.toggleEmoji(false, false);
  }

  focusInput(): void {
    this.input.focus({ preventScroll: true });
  }

  scrollToBottom(): void {
    this.list.scrollTop = this.list.scrollHeight;
  }

  /** Place in the waiting queue and estimated wait, live; null hides it (assigned, closed, offline form). */
  /** Shows or hides "Talk to a person" (bot-first sites, while the bot has the conversation). */
  setPersonButton(visible: boolean): void {
    this.personBtn.hidden = !visible;
    this.personBtn.textContent = this.t.talkToPerson;
  }

  setQueue(queue: QueueStatus | null): void {
    this.queue = queue;
    this.queueEl.hidden = queue === null;
    this.queueEl.setAttribute('data-state', queue?.state ?? '');
    this.queueEl.setAttribute('data-position', String(queue?.position ?? 0));
    this.queueEl.textContent = !queue ? '' : queue.state === 'queued' ? this.t.queued(queue.position, queue.estimatedWaitSeconds) : this.t.offered;
  }

  /** "Anna is typing…" until it stops, a message from them arrives, or 6 s pass without a repeat. */
  setTyping(typing: boolean, name: string | null): void {
    clearTimeout(this.typingTimer);
    this.typingName = name ?? this.typingName;
    this.typingEl.hidden = !typing;
    this.typingEl.textContent = typing ? this.t.typing(this.typingName) : '';
    if (typing) {
      this.typingTimer = window.setTimeout(() => this.setTyping(false, null), 6000);
      this.scrollToBottom();
    }
  }

  /**
   * Keyed update: rows are matched by client id, so a message keeps its element when it goes from
   * "sending" to "sent" (no flicker, focus and screen-reader position kept). Day separators are rows too.
   * Stays at the bottom when the reader was already there.
   */
  renderMessages(items: ViewMessage[], forceScroll: boolean): void {
    this.items = items;
    const atBottom = this.list.scrollHeight - this.list.scrollTop - this.list.clientHeight < 40;
    const keep = new Set<string>();
    let prev: Element | null = null;
    let lastDay = '';
    const place = (key: string, make: () => HTMLElement, update: (row: HTMLElement) => void): void => {
      keep.add(key);
      let row = this.rows.get(key);
      if (!row) {
        row = make();
        this.rows.set(key, row);
      }
      update(row);
      const expected: Element | null = prev ? prev.nextElementSibling : this.list.firstElementChild;
      if (expected !== row) this.list.insertBefore(row, expected);
      prev = row;
    };
    for (const m of items) {
      const d = toDate(m.createdAt) ?? new Date();
      const day = dayKey(d);
      if (day !== lastDay) {
        lastDay = day;
        place(`day:${day}`, () => el('div', { class: 'day', role: 'separator', 'data-testid': 'day-separator' }), (row) => {
          row.textContent = this.dayLabel(d);
        });
      }
      place(m.key, () => this.createRow(), (row) => this.updateRow(row, m));
    }
    for (const [key, row] of this.rows) {
      if (!keep.has(key)) {
        row.remove();
        this.rows.delete(key);
      }
    }
    if (forceScroll || atBottom) this.scrollToBottom();
  }

  private dayLabel(d: Date): string {
    const today = new Date();
    const yesterday = new Date(today.getFullYear(), today.getMonth(), today.getDate() - 1);
    if (dayKey(d) === dayKey(today)) return this.t.today;
    if (dayKey(d) === dayKey(yesterday)) return this.t.yesterday;
    return d.toLocaleDateString(this.locale, { year: 'numeric', month: 'long', day: 'numeric' });
  }

  private createRow(): HTMLElement {
    const row = el('div', { class: 'msg', 'data-testid': 'message' });
    row.append(el('div', { class: 'name' }), el('div', { class: 'bubble' }), el('div', { class: 'meta' }));
    return row;
  }

  private updateRow(row: HTMLElement, m: ViewMessage): void {
    const side = m.kind === 'event' || m.senderKind === 'system' ? 'center' : m.senderKind === 'visitor' ? 'right' : 'left';
    row.className = `msg msg--${side} msg--${m.kind}${m.state === 'failed' ? ' msg--failed' : ''}`;
    if (m.seq === null) row.removeAttribute('data-seq');
    else row.setAttribute('data-seq', String(m.seq));
    row.setAttribute('data-sender-kind', m.senderKind);
    row.setAttribute('data-state', m.state);
    row.setAttribute('data-kind', m.kind);
    const [name, bubble, meta] = row.children as unknown as [HTMLElement, HTMLElement, HTMLElement];
    const showName = side === 'left' && !!m.senderName;
    name.hidden = !showName;
    // A bot says so (its name is the site's choice, so the badge is not).
    name.textContent = !showName ? '' : m.senderKind === 'bot' ? `${m.senderName} · ${this.t.bot}` : m.senderName;
    // Rebuild the bubble only when its content changed (keeps images from reloading).
    const signature = `${m.kind}|${m.body}|${m.kind === 'event' ? this.locale : ''}|${m.kind === 'upload' ? Math.round((m.progress ?? 0) * 100) : ''}`;
    if (bubble.dataset.sig !== signature) {
      bubble.dataset.sig = signature;
      bubble.textContent = '';
      this.fillBubble(bubble, m);
    }
    const status =
      m.state === 'sending' ? (m.kind === 'upload' ? this.t.uploading : this.t.sending)
        : m.state === 'failed' ? `${this.t.failed} · ${errorText(this.t, m.error)}`
        : `${clockTime(m.createdAt, this.locale)}${side === 'right' ? ` · ${m.state === 'read' ? this.t.read : this.t.sent}` : ''}`;
    meta.textContent = side === 'center' ? '' : status;
    meta.hidden = side === 'center';
    meta.setAttribute('data-testid', 'message-meta');
    if (m.state === 'failed') {
      meta.setAttribute('role', 'alert');
      if (m.kind === 'upload') {
        const dismiss = el('button', { type: 'button', class: 'link', 'data-testid': 'dismiss' }, '×');
        dismiss.setAttribute('aria-label', this.t.close);
        dismiss.addEventListener('click', () => this.cb.onDismiss(m.key));
        meta.append(' ', dismiss);
      }
    } else meta.removeAttribute('role');
  }

  private fillBubble(bubble: HTMLElement, m: ViewMessage): void {
    const body = el('span', { 'data-testid': 'message-body' });
    bubble.append(body);
    if (m.kind === 'upload') {
      body.textContent = m.body;
      const bar = el('progress', { max: '1', 'data-testid': 'upload-progress' });
      bar.value = m.progress ?? 0;
      bubble.append(bar);
      return;
    }
    if (m.kind === 'attachment') {
      const a = parseAttachment(m.body);
      if (!a) {
        body.append(svgIcon(ICONS.attach));
        return;
      }
      const link = el('a', { href: a.url, target: '_blank', rel: 'noopener noreferrer', class: 'file', 'data-testid': 'attachment' });
      if (a.image) {
        // No server thumbnails: the browser scales the image down with CSS (max 220×220) and loads it lazily.
        link.append(el('img', { src: a.url, alt: a.name, loading: 'lazy', class: 'thumb', 'data-testid': 'attachment-image' }));
      } else {
        link.setAttribute('download', a.name);
        link.append(svgIcon(ICONS.attach), ` ${a.name} (${fileSize(a.size)})`);
      }
      body.append(link);
      return;
    }
    if (m.kind === 'event') {
      body.textContent = renderSystemLine(m.body, this.locale);
      return;
    }
    appendLinked(body, m.body);
  }

  private insert(text: string): void {
    const { selectionStart: s, selectionEnd: e, value } = this.input;
    this.input.value = value.slice(0, s) + text + value.slice(e);
    this.input.selectionStart = this.input.selectionEnd = s + text.length;
    this.autosize();
    this.focusInput();
  }

  private toggleEmoji(open: boolean, focusButton: boolean): void {
    this.emojiPanel.hidden = !open;
    this.emojiBtn.setAttribute('aria-expanded', String(open));
    if (open) (this.emojiPanel.firstElementChild as HTMLElement | null)?.focus();
    else if (focusButton) this.emojiBtn.focus();
  }

  private submit(): void {
    const text = this.input.value;
    if (!text.trim()) return;
    this.input.value = '';
    this.autosize();
    this.toggleEmoji(false, false);
    this.cb.onSend(text);
    this.focusInput();
  }

  private autosize(): void {
    this.input.style.height = 'auto';
    this.input.style.height = `${Math.min(this.input.scrollHeight, 140)}px`;
  }

  private applyTexts(): void {
    document.documentElement.lang = this.locale;
    this.personBtn.textContent = this.t.talkToPerson;
    this.setQueue(this.queue);
    this.title.textContent = this.siteName || this.t.title;
    document.title = this.siteName ? `${this.siteName} · ${this.t.title}` : this.t.title;
    this.label.textContent = this.t.inputLabel;
    this.input.placeholder = this.t.placeholder;
    for (const [b, text] of [[this.sendBtn, this.t.send], [this.closeBtn, this.t.close], [this.emojiBtn, this.t.emoji], [this.attachBtn, this.t.attach]] as const) {
      b.setAttribute('aria-label', text);
      b.title = text;
    }
    this.emojiPanel.setAttribute('aria-label', this.t.emoji);
    this.list.setAttribute('aria-label', this.t.messages);
    this.setConnection(this.state);
    const kind = this.notice.getAttribute('data-kind');
    if (kind) this.setNotice(kind as NoticeKind);
  }
}

export function svgIcon(d: string): SVGSVGElement {
  const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('aria-hidden', 'true');
  const path = document.createElementNS('http://www.w3.org/2000/svg', 'path');
  path.setAttribute('d', d);
  svg.append(path);
  return svg;
}

function errorText(t: Strings, code: string | undefined): string {
  return code && code in t.errors ? t.errors[code as keyof Strings['errors']] : t.errors.generic;
}

/** Fields for the pre-chat and offline forms; built-in keys get translated labels. */
export function fieldLabel(t: Strings, f: PreChatField): string {
  const builtIn = f.key === 'name' || f.key === 'email' || f.key === 'phone' || f.key === 'message' || f.key === 'team' ? t.fields[f.key] : null;
  return `${f.label || builtIn || f.key}${f.required ? ' *' : ` ${t.optional}`}`;
}
