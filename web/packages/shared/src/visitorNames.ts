// A visitor who never gave a name is stored as "Visitor XXXXXX" (the last six hex digits of the contact id; server:
// VisitorProfiles.GeneratedName, docs/protocol.md "Default visitor names"). Readers render that default in their own
// language; a name a person typed is shown as typed, whatever it looks like otherwise.
import type { Locale } from './format';

const GENERATED = /^Visitor ([0-9A-F]{6})$/;

const WORD: Record<Locale, string> = { en: 'Visitor', 'zh-CN': '访客' };

/** The name to show for a person: a generated visitor name in the reader's language, else the name, else the fallback. */
export function displayName(name: string | null | undefined, locale: Locale, fallback = WORD[locale]): string {
  if (!name) return fallback;
  const m = GENERATED.exec(name);
  return m ? `${WORD[locale]} ${m[1]}` : name;
}

/** Whether a stored name is the generated default rather than one a person gave. */
export function isGeneratedName(name: string | null | undefined): boolean {
  return !!name && GENERATED.test(name);
}
