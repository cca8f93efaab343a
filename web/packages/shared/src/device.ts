/**
 * A short, human label for a User-Agent string, for the agent's contact panel: "Chrome 156 · Windows",
 * "WeChat · iOS · mobile". Best effort by design: an unknown agent falls back to its first product token.
 */
export function deviceLabel(userAgent: string | null | undefined): string {
  const ua = (userAgent ?? '').trim();
  if (!ua) return '';
  const parts = [browserOf(ua), osOf(ua)].filter((p) => p);
  if (/Mobi|iPhone|iPod|Android.+Mobile|MicroMessenger/i.test(ua) && !/iPad|Tablet/i.test(ua)) parts.push('mobile');
  else if (/iPad|Tablet/i.test(ua)) parts.push('tablet');
  return parts.length ? parts.join(' · ') : ua.split(/[\s/]/)[0]!.slice(0, 40);
}

function browserOf(ua: string): string {
  // Order matters: embedded browsers and Chromium derivatives also say "Chrome" and "Safari".
  const known: Array<[RegExp, string]> = [
    [/MicroMessenger\/(\d+)/, 'WeChat'],
    [/DingTalk\/(\d+)/, 'DingTalk'],
    [/Edg(?:e|A|iOS)?\/(\d+)/, 'Edge'],
    [/(?:OPR|Opera)\/(\d+)/, 'Opera'],
    [/SamsungBrowser\/(\d+)/, 'Samsung Internet'],
    [/UCBrowser\/(\d+)/, 'UC Browser'],
    [/Firefox\/(\d+)/, 'Firefox'],
    [/FxiOS\/(\d+)/, 'Firefox'],
    [/CriOS\/(\d+)/, 'Chrome'],
    [/Chrom(?:e|ium)\/(\d+)/, 'Chrome'],
    [/Version\/(\d+)[\d.]* (?:Mobile\/\S+ )?Safari\//, 'Safari'],
  ];
  for (const [pattern, name] of known) {
    const m = pattern.exec(ua);
    if (m) return name === 'WeChat' || name === 'DingTalk' ? name : `${name} ${m[1]}`;
  }
  return '';
}

function osOf(ua: string): string {
  if (/iPhone|iPad|iPod/.test(ua)) return 'iOS';
  if (/Android/.test(ua)) return 'Android';
  if (/HarmonyOS/.test(ua)) return 'HarmonyOS';
  if (/Windows NT/.test(ua)) return 'Windows';
  if (/CrOS/.test(ua)) return 'ChromeOS';
  if (/Mac OS X|Macintosh/.test(ua)) return 'macOS';
  if (/Linux/.test(ua)) return 'Linux';
  return '';
}
