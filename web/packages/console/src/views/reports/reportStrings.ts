// The Reports page's strings, English and Simplified Chinese (kept beside the page, as QueueView does).
const en = {
  title: 'Reports',
  from: 'From',
  to: 'To',
  last7: 'Last 7 days',
  last30: 'Last 30 days',
  businessHours: 'Business hours only',
  timeZone: 'Time zone',
  refresh: 'Refresh',
  failed: 'Could not load the report',
  invalidRange: 'Choose a range of at most 366 days, the start not after the end.',
  kpi: {
    created: 'Conversations', closed: 'Closed', missed: 'Missed', abandoned: 'Abandoned', messagesIn: 'Messages in', messagesOut: 'Messages out',
    firstResponse: 'First response (median)', resolution: 'Resolution (median)', queueWait: 'Queue wait (median)', handleTime: 'Handle time (median)',
    csat: 'CSAT', responseRate: 'Rating rate', handOff: 'Bot hand-off', botResolved: 'Resolved by bot',
  },
  p90: 'p90', avg: 'avg',
  volume: 'Volume over time', responseTimes: 'Response time distribution', csatTitle: 'Satisfaction (CSAT)',
  createdSeries: 'Created', closedSeries: 'Closed', missedSeries: 'Missed', firstResponseSeries: 'First response', queueWaitSeries: 'Queue wait',
  ratings: 'Ratings', score: (n: number) => `${n}★`,
  agents: 'Agents', agent: 'Agent', unassigned: 'Unassigned', trend: 'Trend',
  comments: 'Comments', noComments: 'No comments in this range.', noData: 'No conversations in this range.',
  export: 'CSV', loadingCharts: 'Loading charts…',
  buckets: ['<30s', '30s–1m', '1–2m', '2–5m', '5–10m', '10–30m', '30–60m', '≥1h'],
};
type Strings = typeof en;
const zh: Strings = {
  title: '报表',
  from: '开始',
  to: '结束',
  last7: '最近 7 天',
  last30: '最近 30 天',
  businessHours: '仅工作时间',
  timeZone: '时区',
  refresh: '刷新',
  failed: '无法加载报表',
  invalidRange: '请选择不超过 366 天的范围，且开始日期不晚于结束日期。',
  kpi: {
    created: '会话数', closed: '已结束', missed: '未接入', abandoned: '访客放弃', messagesIn: '访客消息', messagesOut: '客服消息',
    firstResponse: '首次响应（中位数）', resolution: '解决时长（中位数）', queueWait: '排队时长（中位数）', handleTime: '处理时长（中位数）',
    csat: '满意度', responseRate: '评价率', handOff: '机器人转人工', botResolved: '机器人解决',
  },
  p90: 'p90', avg: '平均',
  volume: '会话量趋势', responseTimes: '响应时长分布', csatTitle: '满意度（CSAT）',
  createdSeries: '新建', closedSeries: '结束', missedSeries: '未接入', firstResponseSeries: '首次响应', queueWaitSeries: '排队',
  ratings: '评价数', score: (n: number) => `${n}星`,
  agents: '客服', agent: '客服', unassigned: '未分配', trend: '趋势',
  comments: '评价留言', noComments: '此范围内没有留言。', noData: '此范围内没有会话。',
  export: 'CSV', loadingCharts: '正在加载图表…',
  buckets: ['<30秒', '30秒–1分', '1–2分', '2–5分', '5–10分', '10–30分', '30–60分', '≥1小时'],
};

export const reportStrings = { en, 'zh-CN': zh };
