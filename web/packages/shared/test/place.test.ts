import { describe, expect, it } from 'vitest';
import { flagEmoji, placeLabel, placeName, timeIn, type VisitorLocation } from '../src/place';

const shanghai: VisitorLocation = {
  countryCode: 'CN',
  country: { en: 'China', 'zh-CN': '中国' },
  region: { en: 'Shanghai', 'zh-CN': '上海' },
  city: { en: 'Shanghai', 'zh-CN': '上海' },
  timeZone: 'Asia/Shanghai',
};

describe('visitor location', () => {
  it('turns an ISO country code into its flag', () => {
    expect(flagEmoji('CN')).toBe('🇨🇳');
    expect(flagEmoji('gb')).toBe('🇬🇧');
    expect(flagEmoji(null)).toBe('');
    expect(flagEmoji('C1')).toBe('');
    expect(flagEmoji('CHN')).toBe('');
  });

  it('names the place in the console language, falling back to English', () => {
    expect(placeLabel(shanghai, 'en')).toBe('Shanghai, China');
    expect(placeLabel(shanghai, 'zh-CN')).toBe('中国 上海');
    const austin: VisitorLocation = { countryCode: 'US', country: { en: 'United States' }, region: { en: 'Texas' }, city: { en: 'Austin' }, timeZone: null };
    expect(placeLabel(austin, 'en')).toBe('Austin, Texas, United States');
    expect(placeLabel(austin, 'zh-CN')).toBe('Austin, Texas, United States'); // no Chinese names: English order
    expect(placeName({ de: 'Deutschland' }, 'en')).toBe('Deutschland');
  });

  it('shows the country alone for a Country database, and nothing without data', () => {
    expect(placeLabel({ countryCode: 'DE', country: { en: 'Germany' }, region: null, city: null, timeZone: null }, 'en')).toBe('Germany');
    expect(placeLabel({ countryCode: 'DE', country: null, region: null, city: null, timeZone: null }, 'en')).toBe('DE');
    expect(placeLabel(null, 'en')).toBeNull();
  });

  it('tells the time in the visitor zone and ignores unknown zones', () => {
    const noonUtc = Date.UTC(2026, 0, 15, 12, 0);
    expect(timeIn('Asia/Shanghai', 'en', noonUtc)).toMatch(/^08:00\s?PM$/);
    expect(timeIn('Asia/Shanghai', 'zh-CN', noonUtc)).toBe('20:00');
    expect(timeIn('Not/AZone', 'en', noonUtc)).toBeNull();
    expect(timeIn(null, 'en', noonUtc)).toBeNull();
  });
});
