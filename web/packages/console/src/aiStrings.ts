// The `ai` section of the console's strings (i18n.ts plugs it in as t.ai): intent and sentiment badges, the
// takeover banner and the suggested replies. Its own module so the pure label rules can be unit-tested in both
// languages without a browser.
import type { InsightStrings } from './insights';

const en = {
  intents: { complaint: 'Complaint', consult: 'Question', sales: 'Sales', after_sales: 'After-sales', greeting: 'Greeting' },
  sentiments: { very_negative: 'Very negative', negative: 'Negative', neutral: 'Neutral', positive: 'Positive' },
  takeover: {
    asked_for_person: 'The visitor asked for a person',
    angry: 'The visitor seems angry',
    repeated_question: 'The visitor asked the same thing 3 times',
    frustration_rising: 'Frustration is rising',
    generic: 'A person should take over',
  },
  intentTitle: (label: string, confidence: string) => `Intent: ${label} (confidence ${confidence})`,
  sentimentTitle: (label: string, score: string) => `Sentiment: ${label} (score ${score})`,
  signals: (list: string) => `Signals: ${list}`,
  takeoverLabel: 'Takeover alert',
  dismiss: 'Dismiss',
  dismissHint: 'Hide this alert until the visitor calms down',
  suggestions: 'Suggested replies',
  suggestionsHint: 'From the knowledge base, for the visitor’s latest message',
  insert: 'Insert',
  insertHint: (question: string) => `Insert the answer to “${question}” into the reply box`,
  confidence: (value: string) => `${value} match`,
  collapse: 'Hide suggestions',
  expand: 'Show suggestions',
};

export type AiStrings = typeof en & InsightStrings;

const zh: AiStrings = {
  intents: { complaint: '投诉', consult: '咨询', sales: '售前', after_sales: '售后', greeting: '问候' },
  sentiments: { very_negative: '非常负面', negative: '负面', neutral: '中性', positive: '正面' },
  takeover: {
    asked_for_person: '访客要求转人工',
    angry: '访客似乎很生气',
    repeated_question: '访客已将同一问题问了 3 次',
    frustration_rising: '访客越来越不耐烦',
    generic: '建议人工接管',
  },
  intentTitle: (label: string, confidence: string) => `意图：${label}（置信度 ${confidence}）`,
  sentimentTitle: (label: string, score: string) => `情绪：${label}（得分 ${score}）`,
  signals: (list: string) => `依据：${list}`,
  takeoverLabel: '接管提醒',
  dismiss: '忽略',
  dismissHint: '隐藏此提醒，直到访客情绪平复',
  suggestions: '推荐回复',
  suggestionsHint: '来自知识库，针对访客的最新消息',
  insert: '插入',
  insertHint: (question: string) => `将“${question}”的答案插入回复框`,
  confidence: (value: string) => `匹配度 ${value}`,
  collapse: '收起推荐',
  expand: '展开推荐',
};

export const aiStrings: Record<'en' | 'zh-CN', AiStrings> = { en, 'zh-CN': zh };
