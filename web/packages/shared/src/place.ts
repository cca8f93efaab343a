import type { Locale } from './format';

/** Place names by locale, as the server sends them (`en`, and `zh-CN` when the GeoIP database has it). */
export type PlaceNames = Partial<Record<string, string>>;

/** Where a visitor is, from the client IP (GET /api/v1/conversations/{id}/visitor, page.location). */
export interface VisitorLocation {
  countryCode: string | null;
  country: PlaceNames | null;
  region: PlaceNames | null;
  city: PlaceNames | null;
  timeZone: string | null;
}

/** The flag emoji of an ISO 3166-1 alpha-2 code ("CN" → 🇨🇳): two regional indicator symbols. */
export function flagEmoji(countryCode: string | null | undefined): string {
  if (!countryCode || !/^[A-Za-z]{2}$/.test(countryCode)) return '';
  const upper = countryCode.toUpperCase();
  return String.fromCodePoint(0x1f1e6 + upper.charCodeAt(0) - 65, 0x1f1e6 + upper.charCodeAt(1) - 65);
}

/** The name in the console's language, else English, else any. */
export function placeName(names: PlaceNames | null | undefined, locale: Locale): string | null {
  if (!names) return null;
  return names[locale] || names.en || Object.values(names).find((n) => !!n) || null;
}

/**
 * "Shanghai, China" in English; "中国 上海" with Chinese names (largest first). The region is shown when it adds
 * something (not when it repeats the city, as for Shanghai or Singapore).
 */
export function placeLabel(location: VisitorLocation | null | undefined, locale: Locale): string | null {
  if (!location) return null;
  const city = placeName(location.city, locale);
  const region = placeName(location.region, locale);
  const country = placeName(location.country, locale) ?? location.countryCode;
  const parts = [city, region && region !== city ? region : null, country].filter((p): p is string => !!p);
  if (parts.length === 0) return null;
  const chinese = locale === 'zh-CN' && !!(location.city?.['zh-CN'] || location.country?.['zh-CN']);
  return chinese ? parts.reverse().join(' ') : parts.join(', ');
}

/** The time now in an IANA time zone ("14:05"), or null for a zone this browser does not know. */
export function timeIn(timeZone: string | null | undefined, locale: Locale, now: number = Date.now()): string | null {
  if (!timeZone) return null;
  try {
    return new Intl.DateTimeFormat(locale, { timeZone, hour: '2-digit', minute: '2-digit' }).format(now);
  } catch {
    return null; // RangeError: unknown time zone
  }
}
