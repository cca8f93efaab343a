// What a form says when it refuses input: one text per error-catalogue code (src/Parley.Server/Infrastructure/
// ErrorCatalogue.cs), used alike for a rule the client checks before sending and for the server's problem answer, so
// both say the same thing. The client checks only rules the server enforces (each names where); anything else is
// left to the server.
import { computed } from 'vue';
import { ApiError } from './api';
import { locale } from './i18n';

type Texts = Record<string, string>;

const en: Texts = {
  field_required: 'A required field is missing.',
  forbidden: 'Your role or departments do not allow this.',
  conflict: 'The data changed meanwhile; try again.',
  rate_limited: 'Too many requests; try again in a moment.',
  invalid_request: 'A field is missing or malformed.',
  invalid_name: 'Enter a name of 1 to 200 characters.',
  invalid_body: 'The text is empty, too long, or holds control characters.',
  invalid_scope: 'Choose at least one scope: read, write, or AREA:read / AREA:write.',
  invalid_expiry: 'The expiry is longer than this server allows.',
  token_not_found: 'No such token (it may have been revoked already).',
  webhook_url_invalid: 'Enter an absolute http or https URL without a user name or password.',
  webhook_target_forbidden: 'The URL points at a loopback or private address; outbound requests there are blocked.',
  webhook_event_types_required: 'Choose at least one event type (or all events).',
  webhook_event_type_invalid: 'An event type is not one Parley emits.',
  webhook_not_found: 'No such webhook (it may have been deleted).',
  webhook_disabled: 'Enable the endpoint before redelivering.',
  delivery_not_found: 'No such delivery.',
  alert_channel_invalid: 'Check the channel: a name, an absolute http(s) URL (WeCom with its key, DingTalk with its access_token), and a valid secret.',
  alert_target_forbidden: 'The URL points at a loopback or private address; outbound requests there are blocked.',
  alert_channel_not_found: 'No such alert channel (it may have been deleted).',
  alert_rule_invalid: 'The rule is not valid: check its type, department and threshold range.',
  alert_rule_not_found: 'No such alert rule (it may have been deleted).',
  invalid_shortcut: "The shortcut must be 1-64 letters, digits, '-' or '_'.",
  canned_reply_exists: 'A canned reply with this shortcut already exists.',
  canned_reply_not_found: 'No such canned reply.',
  canned_reply_team_invalid: 'Only a shared reply can be limited to departments, and each must exist.',
  no_assignee: 'Nobody else holds this conversation: a whisper goes to its assigned agent.',
  conversation_not_found: 'No such conversation, or not one you may use.',
  body_empty: 'The message is empty.',
  body_too_large: 'The message is too long.',
  invalid_totp: 'The authenticator code is wrong or expired.',
  totp_enabled: 'Two-factor sign-in is already on; turn it off first.',
  totp_not_enabled: 'Two-factor sign-in is not on.',
  totp_not_set_up: 'Start the set-up first.',
};

const zh: Texts = {
  field_required: '缺少必填项。',
  forbidden: '你的角色或部门不允许此操作。',
  conflict: '数据已被修改，请重试。',
  rate_limited: '请求过于频繁，请稍后再试。',
  invalid_request: '有字段缺失或格式不正确。',
  invalid_name: '请输入 1 到 200 个字符的名称。',
  invalid_body: '内容为空、过长或含有控制字符。',
  invalid_scope: '请至少选择一个权限范围：read、write 或 区域:read / 区域:write。',
  invalid_expiry: '有效期超过了服务器允许的上限。',
  token_not_found: '没有这个令牌（可能已被吊销）。',
  webhook_url_invalid: '请输入不含用户名和密码的 http 或 https 绝对地址。',
  webhook_target_forbidden: '该地址指向回环或内网地址，出站请求已被阻止。',
  webhook_event_types_required: '请至少选择一种事件类型（或全部事件）。',
  webhook_event_type_invalid: '有事件类型不是 Parley 会发出的。',
  webhook_not_found: '没有这个 Webhook（可能已被删除）。',
  webhook_disabled: '请先启用该端点再重新投递。',
  delivery_not_found: '没有这次投递。',
  alert_channel_invalid: '请检查通道：名称、http(s) 绝对地址（企业微信需带 key，钉钉需带 access_token）以及密钥格式。',
  alert_target_forbidden: '该地址指向回环或内网地址，出站请求已被阻止。',
  alert_channel_not_found: '没有这个告警通道（可能已被删除）。',
  alert_rule_invalid: '规则无效：请检查类型、部门和阈值范围。',
  alert_rule_not_found: '没有这条告警规则（可能已被删除）。',
  invalid_shortcut: '快捷词须为 1-64 个字母、数字、“-”或“_”。',
  canned_reply_exists: '已有使用该快捷词的快捷回复。',
  canned_reply_not_found: '没有这条快捷回复。',
  canned_reply_team_invalid: '只有共享回复可以限定部门，且每个部门都必须存在。',
  no_assignee: '没有其他人负责此会话：悄悄话只发给负责的客服。',
  conversation_not_found: '没有这个会话，或你无权使用。',
  body_empty: '消息为空。',
  body_too_large: '消息过长。',
  invalid_totp: '验证码错误或已过期。',
  totp_enabled: '两步验证已开启，请先关闭。',
  totp_not_enabled: '两步验证未开启。',
  totp_not_set_up: '请先开始设置。',
};

/** A refusal shown beside a form: the catalogue code (data-code in the page) and its text in the console's language. */
export interface FormError {
  code: string | null;
  text: string;
}

export function errorText(code: string): string | undefined {
  return (locale.value === 'zh-CN' ? zh : en)[code];
}

/** The same shape for a client-side refusal and a server problem: known codes use the catalogue text. */
export function formError(e: unknown): FormError {
  if (typeof e === 'string') return { code: e, text: errorText(e) ?? e };
  if (e instanceof ApiError) {
    const code = e.code ?? null;
    return { code, text: (code && errorText(code)) || e.problem.detail || e.problem.title || `HTTP ${e.status}` };
  }
  return { code: null, text: String(e) };
}

/** Re-evaluates an error's text when the language changes. */
export function useErrorText(error: { value: FormError | null }) {
  return computed(() => (error.value?.code ? (errorText(error.value.code) ?? error.value.text) : (error.value?.text ?? '')));
}

// ---- Rules the server enforces, checked before sending (each returns the code the server would answer) ----

/** TextInput.IndexOfForbidden: C0 controls (but tab/LF/CR in multi-line text), DEL, C1 controls, lone surrogates. */
export function hasForbiddenChar(text: string, multiline = true): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20) {
      if (multiline && (c === 9 || c === 10 || c === 13)) continue;
      return true;
    }
    if (c >= 0x7f && c <= 0x9f) return true;
    if (c >= 0xd800 && c <= 0xdbff) {
      const n = text.charCodeAt(i + 1);
      if (n >= 0xdc00 && n <= 0xdfff) {
        i++;
        continue;
      }
      return true;
    }
    if (c >= 0xdc00 && c <= 0xdfff) return true;
  }
  return false;
}

/** WebhookService.ValidateUrlAsync (the address check itself needs DNS and stays on the server). */
export function checkWebhookUrl(value: string): string | null {
  let u: URL;
  try {
    u = new URL(value.trim());
  } catch {
    return 'webhook_url_invalid';
  }
  if ((u.protocol !== 'http:' && u.protocol !== 'https:') || u.username || u.password) return 'webhook_url_invalid';
  return u.href.length > 2000 ? 'webhook_url_invalid' : null;
}

/** AlertService.Name and UrlAsync (the address check itself needs DNS and stays on the server); editing may keep the URL. */
export function checkAlertChannel(kind: string, name: string, url: string, creating: boolean): string | null {
  const n = name.trim();
  if (!n || n.length > 200 || hasForbiddenChar(n, false)) return 'alert_channel_invalid';
  if (!creating && !url.trim()) return null;
  let u: URL;
  try {
    u = new URL(url.trim());
  } catch {
    return 'alert_channel_invalid';
  }
  if ((u.protocol !== 'http:' && u.protocol !== 'https:') || u.username || u.password || u.href.length > 2000) return 'alert_channel_invalid';
  if (kind === 'wecom' && !u.searchParams.get('key')) return 'alert_channel_invalid';
  if (kind === 'dingtalk' && !u.searchParams.get('access_token')) return 'alert_channel_invalid';
  return null;
}

/** WebhookService.EventTypes. */
export function checkEventTypes(types: string[]): string | null {
  if (types.length === 0) return 'webhook_event_types_required';
  return types.some((t) => !t.trim() || t.length > 100 || /\s/.test(t)) ? 'webhook_event_type_invalid' : null;
}

/** AuthApi.CreateTokenAsync: name 1-200 after trimming; ApiTokens.IsValidScope. */
export function checkTokenName(name: string): string | null {
  const n = name.trim();
  return n.length === 0 || n.length > 200 ? 'invalid_name' : null;
}
const scopePattern = /^(read|write|[a-z][a-z-]{0,39}:(read|write))$/;
export function checkScopes(scopes: string[]): string | null {
  return scopes.length === 0 || scopes.some((s) => !scopePattern.test(s.trim())) ? 'invalid_scope' : null;
}

/** CannedReplyService.Validate: shortcut pattern after trimming, a leading '/' and lower-casing; body 1-4000 after trimming. */
const shortcutPattern = /^[\p{L}\p{N}][\p{L}\p{N}_-]{0,63}$/u;
export function checkShortcut(shortcut: string): string | null {
  return shortcutPattern.test(shortcut.trim().replace(/^\/+/, '').toLowerCase()) ? null : 'invalid_shortcut';
}
export function checkCannedBody(body: string): string | null {
  const b = body.trim();
  return b.length === 0 || b.length > 4000 ? 'invalid_body' : null;
}

/** Totp.Verify: six digits (spaces are ignored). */
export function checkTotpCode(code: string): string | null {
  return /^\d{6}$/.test(code.replace(/\s/g, '')) ? null : 'invalid_totp';
}
