import { describe, expect, it } from 'vitest';
import { fileSize, parseAttachment } from '../src/attachment';

describe('attachment bodies', () => {
  const ok = { id: '1', name: 'box.png', contentType: 'image/png', size: 68, image: true, url: '/api/v1/attachments/1?k=abc' };

  it('accepts our own download path only', () => {
    expect(parseAttachment(JSON.stringify(ok))).toEqual(ok);
    expect(parseAttachment(JSON.stringify({ ...ok, url: 'https://evil.example/x.png' }))).toBeNull();
    expect(parseAttachment(JSON.stringify({ ...ok, url: 'javascript:alert(1)' }))).toBeNull();
    expect(parseAttachment('not json')).toBeNull();
    expect(parseAttachment('null')).toBeNull();
  });

  it('formats sizes', () => {
    expect(fileSize(512)).toBe('512 B');
    expect(fileSize(40 * 1024)).toBe('40 KB');
    expect(fileSize(3.2 * 1048576)).toBe('3.2 MB');
  });
});
