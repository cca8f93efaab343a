import { toDate, type Timestamp } from './types';

export type Locale = 'en' | 'zh-CN';

/** `?locale=` wins, then the browser language; anything Chinese maps to zh-CN, everything else to en. */
export function pickLocale(requested?: string | null, browser?: readonly string[]): Locale {
  const candidates = [requested ?? '', ...(browser ?? [])];
  for (const c of candidates) {
    const l = c.toLowerCase();
    if (!l) continue;
    if (l.startsWith('zh')) return 'zh-CN';
    if (l.startsWith('en')) return 'en';
    if (c === requested) continue; // unknown explicit value: fall through to the browser's choice
  }
  return 'en';
}

/** Short relative time ("now", "5m", "3h", "2d", or a date) for inbox rows. */
export function relativeTime(value: Timestamp | null | undefined, locale: Locale, now: number = Date.now()): string {
  const d = toDate(value);
  if (!d) return '';
  const s = Math.max(0, Math.round((now - d.getTime()) / 1000));
  const zh = locale === 'zh-CN';
  if (s < 45) return zh ? '刚刚' : 'now';
  const m = Math.round(s / 60);
  if (m < 60) return zh ? `${m} 分钟前` : `${m}m`;
  const h = Math.round(m / 60);
  if (h < 24) return zh ? `${h} 小时前` : `${h}h`;
  const days = Math.round(h / 24);
  if (days < 7) return zh ? `${days} 天前` : `${days}d`;
  return d.toLocaleDateString(locale);
}

/** Clock time for a message ("14:05"). */
export function clockTime(value: Timestamp | null | undefined, locale: Locale): string {
  const d = toDate(value);
  return d ? d.toLocaleTimeString(locale, { hour: '2-digit', minute: '2-digit' }) : '';
}
