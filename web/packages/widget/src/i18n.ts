import type { ConnectionState, Locale } from '@parley/shared';

export interface Strings {
  title: string;
  state: Record<ConnectionState, string>;
  inputLabel: string;
  placeholder: string;
  send: string;
  close: string;
  sending: string;
  sent: string;
  read: string;
  failed: string;
  errors: Record<'body_too_large' | 'body_empty' | 'invalid_body' | 'attachment_too_large' | 'attachment_type_not_allowed' | 'contact_blocked' | 'rate_limited' | 'generic', string>;
  blocked: string;
  /** "You are number 3 in line", and the estimated wait when known (seconds). */
  queued: (position: number, waitSeconds: number | null) => string;
  offered: string;
  /** The bot-first button, and the bot badge beside a bot's name. */
  talkToPerson: string;
  bot: string;
  empty: string;
  closedNotice: string;
  siteNotFound: string;
  loadError: string;
  busy: string;
  busyTitle: string;
  messages: string;
  you: string;
  today: string;
  yesterday: string;
  typing: (name: string | null) => string;
  emoji: string;
  attach: string;
  uploading: string;
  fields: Record<'name' | 'email' | 'phone' | 'message' | 'team', string>;
  optional: string;
  preChatTitle: string;
  start: string;
  offlineTitle: string;
  offlineIntro: string;
  offlineSend: string;
  offlineDone: string;
  rateTitle: string;
  rateComment: string;
  rateSend: string;
  rateThanks: string;
  stars: (n: number) => string;
  transcript: string;
  transcriptSend: string;
  transcriptDone: string;
  formErrors: Record<'field_required' | 'invalid_email' | 'invalid_phone' | 'invalid_department' | 'generic', string>;
}

const en: Strings = {
  title: 'Chat',
  state: { connecting: 'Connecting…', connected: 'Online', reconnecting: 'Reconnecting…', disconnected: 'Offline — retrying' },
  inputLabel: 'Your message',
  placeholder: 'Type a message…',
  send: 'Send',
  close: 'Close chat',
  sending: 'Sending…',
  sent: 'Sent',
  read: 'Read',
  failed: 'Not sent',
  errors: {
    body_too_large: 'This message is too long. Please shorten it and send it again.',
    invalid_body: 'This message contains characters that cannot be sent. Please retype it.',
    body_empty: 'An empty message cannot be sent.',
    attachment_too_large: 'This file is too large.',
    attachment_type_not_allowed: 'This type of file cannot be sent. Images, PDF, ZIP and text files are fine.',
    contact_blocked: 'You cannot send messages in this chat.',
    rate_limited: 'Too many messages at once. Sending again in a moment…',
    generic: 'This message could not be sent.',
  },
  blocked: 'This chat is not available to you. Messages you write will not be delivered.',
  queued: (position, wait) =>
    `You are number ${position} in line` +
    (wait === null ? '.' : wait < 60 ? ' — an agent will be with you in less than a minute.' : ` — estimated wait about ${Math.round(wait / 60)} min.`),
  offered: 'Connecting you to an agent…',
  talkToPerson: 'Talk to a person',
  bot: 'Bot',
  empty: 'Hi! Ask us anything — we usually reply within a few minutes.',
  closedNotice: 'This conversation has ended. Send a message to start a new one.',
  siteNotFound: 'This chat is not available.',
  loadError: 'Cannot reach the chat service. Retrying…',
  busy: 'We are very busy right now. Please leave a message, or try again in a moment.',
  busyTitle: 'Busy right now: leave a message',
  messages: 'Messages',
  you: 'You',
  today: 'Today',
  yesterday: 'Yesterday',
  typing: (name) => `${name || 'Support'} is typing…`,
  emoji: 'Emoji',
  attach: 'Attach a file',
  uploading: 'Uploading',
  fields: { name: 'Name', email: 'Email', phone: 'Phone', message: 'Message', team: 'Department' },
  optional: '(optional)',
  preChatTitle: 'Before we start, please tell us a little about you.',
  start: 'Start chat',
  offlineTitle: 'We are away right now',
  offlineIntro: 'Leave a message and your email address, and we will get back to you.',
  offlineSend: 'Send message',
  offlineDone: 'Thanks! We will reply by email as soon as we can.',
  rateTitle: 'How was this conversation?',
  rateComment: 'Anything to add? (optional)',
  rateSend: 'Send rating',
  rateThanks: 'Thank you for your feedback!',
  stars: (n) => `${n} of 5`,
  transcript: 'Email me a transcript',
  transcriptSend: 'Send transcript',
  transcriptDone: 'Check your inbox: open the link we sent to receive the transcript.',
  formErrors: {
    field_required: 'Please fill in the required fields.',
    invalid_email: 'Please enter a valid email address.',
    invalid_phone: 'Please enter a valid phone number.',
    invalid_department: 'Please choose one of the listed departments.',
    generic: 'Something went wrong. Please try again.',
  },
};

const zh: Strings = {
  title: '聊天',
  state: { connecting: '正在连接…', connected: '在线', reconnecting: '正在重新连接…', disconnected: '已离线，正在重试' },
  inputLabel: '输入消息',
  placeholder: '输入消息…',
  send: '发送',
  close: '关闭聊天',
  sending: '发送中…',
  sent: '已发送',
  read: '已读',
  failed: '未发送',
  errors: {
    body_too_large: '消息太长，请缩短后重新发送。',
    invalid_body: '消息中含有无法发送的字符，请重新输入。',
    body_empty: '不能发送空消息。',
    attachment_too_large: '文件太大。',
    attachment_type_not_allowed: '不支持此类文件。可以发送图片、PDF、ZIP 和文本文件。',
    contact_blocked: '您无法在此会话中发送消息。',
    rate_limited: '发送过于频繁，稍后将自动重试…',
    generic: '消息发送失败。',
  },
  blocked: '此会话对您不可用，您的消息将不会被送达。',
  queued: (position, wait) =>
    `您正在排队，当前第 ${position} 位` +
    (wait === null ? '。' : wait < 60 ? '，预计不到 1 分钟。' : `，预计等待约 ${Math.round(wait / 60)} 分钟。`),
  offered: '正在为您接通客服…',
  talkToPerson: '转人工',
  bot: '机器人',
  empty: '您好！有什么可以帮您？我们通常会在几分钟内回复。',
  closedNotice: '本次会话已结束。发送消息即可开始新的会话。',
  siteNotFound: '此聊天不可用。',
  loadError: '无法连接聊天服务，正在重试…',
  busy: '当前咨询量较大，请留言，或稍后再试。',
  busyTitle: '当前繁忙，请留言',
  messages: '消息',
  you: '我',
  today: '今天',
  yesterday: '昨天',
  typing: (name) => `${name || '客服'}正在输入…`,
  emoji: '表情',
  attach: '发送文件',
  uploading: '正在上传',
  fields: { name: '姓名', email: '邮箱', phone: '电话', message: '留言', team: '咨询部门' },
  optional: '（选填）',
  preChatTitle: '开始之前，请简单介绍一下您自己。',
  start: '开始聊天',
  offlineTitle: '我们暂时不在线',
  offlineIntro: '请留下您的留言和邮箱，我们会尽快回复您。',
  offlineSend: '提交留言',
  offlineDone: '谢谢！我们会尽快通过邮件回复您。',
  rateTitle: '您对本次服务满意吗？',
  rateComment: '还有什么想说的吗？（选填）',
  rateSend: '提交评价',
  rateThanks: '感谢您的反馈！',
  stars: (n) => `${n} 星（满分 5 星）`,
  transcript: '将聊天记录发送到我的邮箱',
  transcriptSend: '发送聊天记录',
  transcriptDone: '请查收邮件，打开其中的链接即可收到聊天记录。',
  formErrors: {
    field_required: '请填写必填项。',
    invalid_email: '请输入有效的邮箱地址。',
    invalid_phone: '请输入有效的电话号码。',
    invalid_department: '请选择列表中的部门。',
    generic: '出错了，请重试。',
  },
};

export function strings(locale: Locale): Strings {
  return locale === 'zh-CN' ? zh : en;
}
