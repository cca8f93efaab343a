import { describe, expect, it } from 'vitest';
import { displayName, isGeneratedName } from '../src/visitorNames';

describe('displayName', () => {
  it('renders the generated default in the reader’s language', () => {
    expect(displayName('Visitor EB27BB', 'zh-CN')).toBe('访客 EB27BB');
    expect(displayName('Visitor EB27BB', 'en')).toBe('Visitor EB27BB');
  });

  it('keeps a name a person gave, even one that only resembles the default', () => {
    expect(displayName('王小明', 'zh-CN')).toBe('王小明');
    expect(displayName('Visitor eb27bb', 'zh-CN')).toBe('Visitor eb27bb');
    expect(displayName('Visitor EB27BB2', 'zh-CN')).toBe('Visitor EB27BB2');
    expect(isGeneratedName('Visitor 0A1B2C')).toBe(true);
    expect(isGeneratedName('Alice')).toBe(false);
  });

  it('falls back when there is no name', () => {
    expect(displayName(null, 'zh-CN')).toBe('访客');
    expect(displayName('', 'en', 'Someone')).toBe('Someone');
  });
});
