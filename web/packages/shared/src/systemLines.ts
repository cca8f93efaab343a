// System event lines (messages of kind "event") are stored by the server as a code with parameters, for example
// {"code":"closed","by":"Admin"} (src/Parley.Server/Messaging/SystemLine.cs, docs/protocol.md "System event lines"),
// and rendered here in the reader's language. Rows written before hold plain English text and are shown as they are;
// a code this client does not know yet is shown by its code, never as raw JSON.
import type { Locale } from './format';

type Params = Record<string, string | undefined>;
type Line = (p: Params, locale: Locale) => string;

function untilText(until: string | undefined, locale: Locale): string {
  if (!until) return '';
  const d = new Date(until);
  if (Number.isNaN(d.getTime())) return until;
  return d.toLocaleString(locale, { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
}

const LINES: Record<Locale, Record<string, Line>> = {
  en: {
    closed: (p) => (p.by ? `Closed by ${p.by}` : 'Closed'),
    reopened: (p) => (p.by ? `Reopened by ${p.by}` : 'Reopened'),
    assigned: (p) => `Assigned to ${p.to ?? ''}`,
    unassigned: (p) => (p.by ? `Unassigned by ${p.by}` : 'Unassigned'),
    snoozed: (p, l) => `${p.by ? `Snoozed by ${p.by}` : 'Snoozed'}${p.until ? ` until ${untilText(p.until, l)}` : ''}`,
    unsnoozed: (p) => (p.by ? `Unsnoozed by ${p.by}` : 'Unsnoozed'),
    spam: (p) => `${p.by ? `Marked as spam by ${p.by}` : 'Marked as spam'}; the visitor is blocked`,
    woke_visitor_wrote: () => 'Re-opened: the visitor wrote',
    woke_snooze_ended: () => 'Re-opened: the snooze ended',
    bot_handoff: () => 'The bot handed the conversation to a person',
    content_removed: () => 'Message removed (data retention or erasure)',
  },
  'zh-CN': {
    closed: (p) => (p.by ? `${p.by} 关闭了会话` : '会话已关闭'),
    reopened: (p) => (p.by ? `${p.by} 重新打开了会话` : '会话已重新打开'),
    assigned: (p) => `已分配给 ${p.to ?? ''}`,
    unassigned: (p) => (p.by ? `${p.by} 取消了分配` : '已取消分配'),
    snoozed: (p, l) => `${p.by ? `${p.by} 暂缓了会话` : '会话已暂缓'}${p.until ? `，至 ${untilText(p.until, l)}` : ''}`,
    unsnoozed: (p) => (p.by ? `${p.by} 取消了暂缓` : '已取消暂缓'),
    spam: (p) => `${p.by ? `${p.by} 标记为垃圾信息` : '已标记为垃圾信息'}，访客已被屏蔽`,
    woke_visitor_wrote: () => '访客发来消息，会话已重新打开',
    woke_snooze_ended: () => '暂缓结束，会话已重新打开',
    bot_handoff: () => '机器人已将会话转给人工客服',
    content_removed: () => '消息内容已删除（数据保留期限或删除请求）',
  },
};

/** The code and parameters of a line in code form, or null for a plain (old) line. */
export function parseSystemLine(body: string): { code: string; params: Params } | null {
  if (!body.startsWith('{')) return null;
  try {
    const value: unknown = JSON.parse(body);
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
    const { code, ...rest } = value as Record<string, unknown>;
    if (typeof code !== 'string') return null;
    const params: Params = {};
    for (const [k, v] of Object.entries(rest)) params[k] = typeof v === 'string' ? v : JSON.stringify(v);
    return { code, params };
  } catch {
    return null;
  }
}

/** The text of a system event line in the reader's language. */
export function renderSystemLine(body: string, locale: Locale): string {
  const line = parseSystemLine(body);
  if (!line) return body;
  const render = LINES[locale][line.code] ?? LINES.en[line.code];
  return render ? render(line.params, locale) : line.code;
}
