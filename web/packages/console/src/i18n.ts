import { computed, ref } from 'vue';
import { pickLocale, type ConnectionState, type ConversationStatus, type Locale } from '@parley/shared';

const en = {
  brand: 'Parley',
  loading: 'Loading…',
  state: { connecting: 'Connecting…', connected: 'Live', reconnecting: 'Reconnecting…', disconnected: 'Offline — retrying' } as Record<ConnectionState, string>,
  status: { open: 'Open', pending: 'Pending', closed: 'Closed' } as Record<ConversationStatus, string>,
  setup: {
    title: 'Set up Parley',
    intro: 'Create the first administrator account.',
    email: 'Email',
    name: 'Your name',
    password: 'Password (at least 8 characters)',
    submit: 'Create account',
  },
  login: { title: 'Sign in', email: 'Email', password: 'Password', submit: 'Sign in', invalid: 'Wrong email or password.', failed: 'Sign-in failed. Please try again.' },
  nav: { inbox: 'Inbox', install: 'Install', signOut: 'Sign out', language: 'Language' },
  inbox: { title: 'Conversations', open: 'Open', closed: 'Closed', empty: 'No conversations here yet.', more: 'Load more', unread: 'Unread', visitor: 'Visitor' },
  conv: {
    pick: 'Select a conversation from the inbox.',
    assignMe: 'Assign to me',
    close: 'Close',
    reopen: 'Reopen',
    assignedTo: 'Assigned to',
    unassigned: 'Unassigned',
    older: 'Load older messages',
    noOlder: 'Beginning of the conversation',
    messages: 'Messages',
    note: 'Internal note',
    you: 'You',
  },
  composer: {
    label: 'Reply',
    placeholder: 'Reply to the visitor… (Enter to send, Shift+Enter for a new line)',
    notePlaceholder: 'Write an internal note — visitors never see it',
    send: 'Send',
    note: 'Note',
    noteHint: 'Internal note (not sent to the visitor)',
    sending: 'Sending…',
    failed: 'Not sent',
    errors: { body_too_large: 'Too long: shorten the message.', body_empty: 'Empty message.', conversation_closed: 'The conversation is closed.', generic: 'Could not send.' } as Record<string, string>,
  },
  install: {
    title: 'Install the chat widget',
    intro: 'Paste this snippet before </body> on every page of the site.',
    copy: 'Copy',
    copied: 'Copied',
    demo: 'Open demo page',
    h5: 'Full-screen chat page',
    none: 'No sites yet.',
  },
  error: { generic: 'Something went wrong. Please try again.', network: 'Cannot reach the server.' },
};

type Strings = typeof en;

const zh: Strings = {
  brand: 'Parley',
  loading: '加载中…',
  state: { connecting: '正在连接…', connected: '实时', reconnecting: '正在重新连接…', disconnected: '已离线，正在重试' },
  status: { open: '进行中', pending: '待处理', closed: '已关闭' },
  setup: { title: '设置 Parley', intro: '创建第一个管理员账户。', email: '邮箱', name: '您的名字', password: '密码（至少 8 个字符）', submit: '创建账户' },
  login: { title: '登录', email: '邮箱', password: '密码', submit: '登录', invalid: '邮箱或密码错误。', failed: '登录失败，请重试。' },
  nav: { inbox: '收件箱', install: '安装', signOut: '退出登录', language: '语言' },
  inbox: { title: '会话', open: '进行中', closed: '已关闭', empty: '暂无会话。', more: '加载更多', unread: '未读', visitor: '访客' },
  conv: {
    pick: '从左侧选择一个会话。',
    assignMe: '分配给我',
    close: '关闭会话',
    reopen: '重新打开',
    assignedTo: '负责人',
    unassigned: '未分配',
    older: '加载更早的消息',
    noOlder: '会话开始',
    messages: '消息',
    note: '内部备注',
    you: '我',
  },
  composer: {
    label: '回复',
    placeholder: '回复访客…（Enter 发送，Shift+Enter 换行）',
    notePlaceholder: '撰写内部备注——访客看不到',
    send: '发送',
    note: '备注',
    noteHint: '内部备注（不会发送给访客）',
    sending: '发送中…',
    failed: '未发送',
    errors: { body_too_large: '消息太长，请缩短。', body_empty: '消息为空。', conversation_closed: '会话已关闭。', generic: '发送失败。' },
  },
  install: {
    title: '安装聊天组件',
    intro: '将以下代码粘贴到网站每个页面的 </body> 之前。',
    copy: '复制',
    copied: '已复制',
    demo: '打开演示页面',
    h5: '全屏聊天页面',
    none: '还没有站点。',
  },
  error: { generic: '出错了，请重试。', network: '无法连接服务器。' },
};

const STORAGE_KEY = 'parley:console:locale';

function initial(): Locale {
  let saved: string | null = null;
  try {
    saved = localStorage.getItem(STORAGE_KEY);
  } catch {
    /* storage disabled */
  }
  const fromQuery = new URLSearchParams(location.search).get('locale');
  return pickLocale(fromQuery ?? saved, navigator.languages ?? [navigator.language]);
}

export const locale = ref<Locale>(initial());
export const t = computed<Strings>(() => (locale.value === 'zh-CN' ? zh : en));

export function setLocale(l: Locale): void {
  locale.value = l;
  document.documentElement.lang = l;
  try {
    localStorage.setItem(STORAGE_KEY, l);
  } catch {
    /* ignore */
  }
}
document.documentElement.lang = locale.value;
