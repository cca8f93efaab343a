import { clockTime, type ConnectionState, type Locale, type MessageKind, type SenderKind, type Timestamp } from '@parley/shared';
import { strings, type Strings } from './i18n';

/** One row of the message list: a stored message, a queued one, or one the server refused. */
export interface ViewMessage {
  /** The client id: stable from "sending" to "sent", so the element is reused, not recreated. */
  key: string;
  seq: number | null;
  senderKind: SenderKind;
  senderName: string | null;
  kind: MessageKind;
  body: string;
  createdAt: Timestamp | null;
  state: 'sending' | 'sent' | 'failed';
  /** Protocol error code of a failed row (body_too_large, body_empty, …). */
  error?: string;
}

export interface ViewCallbacks {
  onSend(text: string): void;
  onClose(): void;
}

/** Small element helper. Text goes in with textContent only: user text must never become HTML. */
function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, text?: string): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

export class WidgetView {
  private t: Strings;
  private locale: Locale;
  private state: ConnectionState = 'connecting';
  private readonly title = el('h1', { class: 'title' });
  private readonly stateEl = el('span', { class: 'conn', 'data-testid': 'connection-state', role: 'status', 'data-state': 'connecting' });
  private readonly closeBtn = el('button', { type: 'button', class: 'close', 'data-testid': 'widget-close' });
  private readonly list = el('div', { class: 'list', 'data-testid': 'message-list', role: 'log', 'aria-live': 'polite', 'aria-relevant': 'additions', tabindex: '0' });
  private readonly notice = el('p', { class: 'notice', 'data-testid': 'notice' });
  private readonly label = el('label', { class: 'sr-only', for: 'parley-input' });
  private readonly input = el('textarea', { id: 'parley-input', 'data-testid': 'composer-input', rows: '1', enterkeyhint: 'send', autocomplete: 'off' });
  private readonly sendBtn = el('button', { type: 'submit', class: 'send', 'data-testid': 'composer-send' });
  private readonly rows = new Map<string, HTMLElement>();
  private siteName = '';
  private items: ViewMessage[] = [];

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
      this.closeBtn.append(svgIcon('M6.4 5 12 10.6 17.6 5 19 6.4 13.4 12l5.6 5.6-1.4 1.4L12 13.4 6.4 19 5 17.6 10.6 12 5 6.4z'));
      this.closeBtn.addEventListener('click', () => cb.onClose());
      header.append(this.closeBtn);
    }
    const form = el('form', { class: 'composer' });
    this.sendBtn.append(svgIcon('M3.4 20.4 21 12 3.4 3.6 3.4 10l12.6 2-12.6 2z'));
    form.append(this.label, this.input, this.sendBtn);
    form.addEventListener('submit', (e) => {
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
    this.input.addEventListener('input', () => this.autosize());
    const main = el('main', { class: 'body' });
    main.append(this.notice, this.list);
    root.append(header, main, form);
    this.applyTexts();
  }

  setLocale(locale: Locale): void {
    this.locale = locale;
    this.t = strings(locale);
    this.applyTexts();
    this.renderMessages(this.items, false);
  }

  setSiteName(name: string): void {
    this.siteName = name;
    this.applyTexts();
  }

  setConnection(state: ConnectionState): void {
    this.state = state;
    this.stateEl.setAttribute('data-state', state);
    this.stateEl.textContent = this.t.state[state];
  }

  /** A notice above the list (empty state, conversation ended, errors); null hides it. */
  setNotice(kind: 'empty' | 'closed' | 'siteNotFound' | 'loadError' | null): void {
    this.notice.hidden = kind === null;
    this.notice.setAttribute('data-kind', kind ?? '');
    if (kind) this.notice.textContent = this.t[kind === 'closed' ? 'closedNotice' : kind];
  }

  setEnabled(enabled: boolean): void {
    this.input.disabled = !enabled;
    this.sendBtn.disabled = !enabled;
  }

  focusInput(): void {
    this.input.focus({ preventScroll: true });
  }

  scrollToBottom(): void {
    this.list.scrollTop = this.list.scrollHeight;
  }

  /**
   * Keyed update: rows are matched by client id, so a message keeps its element when it goes from
   * "sending" to "sent" (no flicker, focus and screen-reader position kept). Stays at the bottom when the
   * reader was already there.
   */
  renderMessages(items: ViewMessage[], forceScroll: boolean): void {
    this.items = items;
    const atBottom = this.list.scrollHeight - this.list.scrollTop - this.list.clientHeight < 40;
    const keep = new Set<string>();
    let prev: Element | null = null;
    for (const m of items) {
      keep.add(m.key);
      let row = this.rows.get(m.key);
      if (!row) {
        row = this.createRow();
        this.rows.set(m.key, row);
      }
      this.updateRow(row, m);
      const expected: Element | null = prev ? prev.nextElementSibling : this.list.firstElementChild;
      if (expected !== row) this.list.insertBefore(row, expected);
      prev = row;
    }
    for (const [key, row] of this.rows) {
      if (!keep.has(key)) {
        row.remove();
        this.rows.delete(key);
      }
    }
    if (forceScroll || atBottom) this.scrollToBottom();
  }

  private createRow(): HTMLElement {
    const row = el('div', { class: 'msg', 'data-testid': 'message' });
    const name = el('div', { class: 'name' });
    const bubble = el('div', { class: 'bubble' });
    bubble.append(el('span', { 'data-testid': 'message-body' }));
    const meta = el('div', { class: 'meta' });
    row.append(name, bubble, meta);
    return row;
  }

  private updateRow(row: HTMLElement, m: ViewMessage): void {
    const side = m.kind === 'event' || m.senderKind === 'system' ? 'center' : m.senderKind === 'visitor' ? 'right' : 'left';
    row.className = `msg msg--${side} msg--${m.kind}${m.state === 'failed' ? ' msg--failed' : ''}`;
    if (m.seq === null) row.removeAttribute('data-seq');
    else row.setAttribute('data-seq', String(m.seq));
    row.setAttribute('data-sender-kind', m.senderKind);
    row.setAttribute('data-state', m.state);
    const [name, bubble, meta] = row.children as unknown as [HTMLElement, HTMLElement, HTMLElement];
    const showName = side === 'left' && !!m.senderName;
    name.hidden = !showName;
    name.textContent = showName ? m.senderName : '';
    const body = bubble.firstElementChild as HTMLElement;
    if (body.textContent !== m.body) body.textContent = m.body;
    const status = m.state === 'sending' ? this.t.sending : m.state === 'failed' ? `${this.t.failed} · ${errorText(this.t, m.error)}` : clockTime(m.createdAt, this.locale);
    meta.textContent = side === 'center' ? '' : status;
    meta.hidden = side === 'center';
    if (m.state === 'failed') meta.setAttribute('role', 'alert');
    else meta.removeAttribute('role');
  }

  private submit(): void {
    const text = this.input.value;
    if (!text.trim()) return;
    this.input.value = '';
    this.autosize();
    this.cb.onSend(text);
    this.focusInput();
  }

  private autosize(): void {
    this.input.style.height = 'auto';
    this.input.style.height = `${Math.min(this.input.scrollHeight, 140)}px`;
  }

  private applyTexts(): void {
    document.documentElement.lang = this.locale;
    this.title.textContent = this.siteName || this.t.title;
    document.title = this.siteName ? `${this.siteName} · ${this.t.title}` : this.t.title;
    this.label.textContent = this.t.inputLabel;
    this.input.placeholder = this.t.placeholder;
    this.sendBtn.setAttribute('aria-label', this.t.send);
    this.sendBtn.title = this.t.send;
    this.closeBtn.setAttribute('aria-label', this.t.close);
    this.closeBtn.title = this.t.close;
    this.list.setAttribute('aria-label', this.t.messages);
    this.setConnection(this.state);
    const kind = this.notice.getAttribute('data-kind');
    if (kind) this.setNotice(kind as 'empty');
  }
}

function svgIcon(d: string): SVGSVGElement {
  const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('aria-hidden', 'true');
  const path = document.createElementNS('http://www.w3.org/2000/svg', 'path');
  path.setAttribute('d', d);
  svg.append(path);
  return svg;
}

function errorText(t: Strings, code: string | undefined): string {
  return code === 'body_too_large' || code === 'body_empty' ? t.errors[code] : t.errors.generic;
}
