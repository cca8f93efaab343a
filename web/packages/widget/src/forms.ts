import type { PreChatField } from '@parley/shared';
import type { Strings } from './i18n';
import { el, fieldLabel } from './view';

export interface FormField extends PreChatField {
  multiline?: boolean;
  /** A choice (select) instead of free text: value and shown label. */
  options?: { value: string; label: string }[];
}

/**
 * A small accessible form: labelled inputs, native validation for required/email, an error line with
 * role="alert". `submit` receives the values; a thrown error's `code` picks the message shown.
 */
export function buildForm(
  t: Strings,
  opts: { testId: string; title: string; intro?: string; fields: FormField[]; submitText: string; submit(values: Record<string, string>): Promise<void> },
): HTMLFormElement {
  const form = el('form', { class: 'card', 'data-testid': opts.testId, novalidate: '' });
  form.append(el('h2', { class: 'card-title' }, opts.title));
  if (opts.intro) form.append(el('p', { class: 'card-intro' }, opts.intro));
  const inputs: [string, HTMLInputElement | HTMLTextAreaElement | HTMLSelectElement][] = [];
  for (const f of opts.fields) {
    const id = `f-${opts.testId}-${f.key}`;
    const label = el('label', { for: id }, fieldLabel(t, f));
    const input = f.options
      ? choice(id, f.key, f.options)
      : f.multiline
      ? el('textarea', { id, name: f.key, rows: '3', 'data-testid': `field-${f.key}` })
      : el('input', {
          id,
          name: f.key,
          type: f.key === 'email' ? 'email' : f.key === 'phone' ? 'tel' : 'text',
          autocomplete: f.key === 'name' ? 'name' : f.key === 'email' ? 'email' : f.key === 'phone' ? 'tel' : 'off',
          'data-testid': `field-${f.key}`,
        });
    if (f.required) input.required = true;
    form.append(label, input);
    inputs.push([f.key, input]);
  }
  const error = el('p', { class: 'card-error', role: 'alert', 'data-testid': `${opts.testId}-error` });
  error.hidden = true;
  const button = el('button', { type: 'submit', class: 'primary', 'data-testid': `${opts.testId}-submit` }, opts.submitText);
  form.append(error, button);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const values: Record<string, string> = {};
    let firstInvalid: HTMLElement | null = null;
    for (const [key, input] of inputs) {
      values[key] = input.value.trim();
      const invalid = (input.required && !values[key]) || (input.type === 'email' && values[key] !== '' && !input.checkValidity());
      input.setAttribute('aria-invalid', String(invalid));
      if (invalid) firstInvalid ??= input;
    }
    if (firstInvalid) {
      showError(t.formErrors.field_required);
      firstInvalid.focus();
      return;
    }
    button.disabled = true;
    opts
      .submit(values)
      .catch((err: unknown) => {
        const code = (err as { code?: string }).code;
        showError(code && code in t.formErrors ? t.formErrors[code as keyof Strings['formErrors']] : t.formErrors.generic);
      })
      .finally(() => {
        button.disabled = false;
      });
  });
  function showError(text: string): void {
    error.hidden = false;
    error.textContent = text;
  }
  return form;
}

function choice(id: string, key: string, options: { value: string; label: string }[]): HTMLSelectElement {
  const select = el('select', { id, name: key, 'data-testid': `field-${key}` });
  select.append(el('option', { value: '' }, '—'), ...options.map((o) => el('option', { value: o.value }, o.label)));
  return select;
}

/** 1–5 rating as a radio group of buttons, then an optional comment. */
export function buildRating(t: Strings, submit: (score: number, comment: string) => Promise<void>): HTMLFormElement {
  const form = el('form', { class: 'card', 'data-testid': 'csat-form' });
  const title = el('h2', { class: 'card-title', id: 'csat-title' }, t.rateTitle);
  const group = el('div', { class: 'stars', role: 'radiogroup', 'aria-labelledby': 'csat-title' });
  let score = 0;
  const stars: HTMLButtonElement[] = [];
  for (let n = 1; n <= 5; n++) {
    const b = el('button', { type: 'button', class: 'star', role: 'radio', 'aria-checked': 'false', 'aria-label': t.stars(n), 'data-testid': `csat-${n}` }, '★');
    b.addEventListener('click', () => {
      score = n;
      stars.forEach((s, i) => {
        s.setAttribute('aria-checked', String(i + 1 === n));
        s.classList.toggle('on', i < n);
      });
    });
    stars.push(b);
    group.append(b);
  }
  const comment = el('textarea', { rows: '2', 'aria-label': t.rateComment, placeholder: t.rateComment, 'data-testid': 'csat-comment' });
  const button = el('button', { type: 'submit', class: 'primary', 'data-testid': 'csat-submit' }, t.rateSend);
  form.append(title, group, comment, button);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    if (!score) {
      stars[0]?.focus();
      return;
    }
    button.disabled = true;
    submit(score, comment.value.trim())
      .then(() => form.replaceChildren(el('p', { class: 'card-intro', 'data-testid': 'csat-thanks' }, t.rateThanks)))
      .catch(() => {
        button.disabled = false;
      });
  });
  return form;
}
