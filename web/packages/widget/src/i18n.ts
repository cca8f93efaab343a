import type { ConnectionState, Locale } from '@parley/shared';

export interface Strings {
  title: string;
  state: Record<ConnectionState, string>;
  inputLabel: string;
  placeholder: string;
  send: string;
  close: string;
  sending: string;
  failed: string;
  errors: { body_too_large: string; body_empty: string; generic: string };
  empty: string;
  closedNotice: string;
  siteNotFound: string;
  loadError: string;
  messages: string;
  you: string;
}

const en: Strings = {
  title: 'Chat',
  state: { connecting: 'Connecting…', connected: 'Online', reconnecting: 'Reconnecting…', disconnected: 'Offline — retrying' },
  inputLabel: 'Your message',
  placeholder: 'Type a message…',
  send: 'Send',
  close: 'Close chat',
  sending: 'Sending…',
  failed: 'Not sent',
  errors: {
    body_too_large: 'This message is too long. Please shorten it and send it again.',
    body_empty: 'An empty message cannot be sent.',
    generic: 'This message could not be sent.',
  },
  empty: 'Hi! Ask us anything — we usually reply within a few minutes.',
  closedNotice: 'This conversation has ended. Send a message to start a new one.',
  siteNotFound: 'This chat is not available.',
  loadError: 'Cannot reach the chat service. Retrying…',
  messages: 'Messages',
  you: 'You',
};

const zh: Strings = {
  title: '聊天',
  state: { connecting: '正在连接…', connected: '在线', reconnecting: '正在重新连接…', disconnected: '已离线，正在重试' },
  inputLabel: '输入消息',
  placeholder: '输入消息…',
  send: '发送',
  close: '关闭聊天',
  sending: '发送中…',
  failed: '未发送',
  errors: {
    body_too_large: '消息太长，请缩短后重新发送。',
    body_empty: '不能发送空消息。',
    generic: '消息发送失败。',
  },
  empty: '您好！有什么可以帮您？我们通常会在几分钟内回复。',
  closedNotice: '本次会话已结束。发送消息即可开始新的会话。',
  siteNotFound: '此聊天不可用。',
  loadError: '无法连接聊天服务，正在重试…',
  messages: '消息',
  you: '我',
};

export function strings(locale: Locale): Strings {
  return locale === 'zh-CN' ? zh : en;
}
