import { describe, expect, it } from 'vitest';
import { parseSystemLine, renderSystemLine } from '../src/systemLines';

describe('system event lines', () => {
  it('renders a line stored as a code in the reader language', () => {
    const body = '{"code":"closed","by":"Admin"}';
    expect(renderSystemLine(body, 'en')).toBe('Closed by Admin');
    expect(renderSystemLine(body, 'zh-CN')).toBe('Admin 关闭了会话');
    expect(renderSystemLine('{"code":"assigned","to":"Lin"}', 'zh-CN')).toBe('已分配给 Lin');
    expect(renderSystemLine('{"code":"woke_snooze_ended"}', 'zh-CN')).toBe('暂缓结束，会话已重新打开');
  });

  it('keeps old plain rows as they are', () => {
    expect(renderSystemLine('Closed by Admin', 'zh-CN')).toBe('Closed by Admin');
    expect(renderSystemLine('{not json', 'en')).toBe('{not json');
    expect(parseSystemLine('{"by":"x"}')).toBeNull();
  });

  it('shows a code it does not know by its code, never as JSON', () => {
    expect(renderSystemLine('{"code":"merged","into":"x"}', 'en')).toBe('merged');
  });

  it('renders the snooze time in the reader locale', () => {
    const zh = renderSystemLine('{"code":"snoozed","by":"Ann","until":"2026-12-05T10:30:00Z"}', 'zh-CN');
    expect(zh.startsWith('Ann 暂缓了会话，至 ')).toBe(true);
    expect(zh).not.toContain('T10:30');
  });
});
