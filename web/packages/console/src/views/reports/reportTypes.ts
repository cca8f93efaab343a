// The report API's shapes (docs/reports.md; server: Features/Reports/ReportDtos.cs).
export interface DurationStats { count: number; median: number | null; p90: number | null; average: number | null }
export interface CsatStats { responses: number; average: number | null; responseRate: number | null; distribution: number[] }
export interface ReportMetrics {
  created: number; closed: number; missed: number; abandoned: number; messagesIn: number; messagesOut: number;
  firstResponse: DurationStats; resolution: DurationStats; queueWait: DurationStats; handleTime: DurationStats;
  csat: CsatStats; botConversations: number; handedOff: number; botResolved: number; handOffRate: number | null; botResolvedRate: number | null;
}
export interface ReportRange { from: string; to: string; timeZone: string; businessHours: boolean }
export interface ReportSummary { range: ReportRange; metrics: ReportMetrics }
export interface TimeSeries { range: ReportRange; interval: string; points: { start: string; metrics: ReportMetrics }[] }
export interface BreakdownRow { key: string | null; name: string | null; metrics: ReportMetrics; daily: number[] }
export interface Breakdown { range: ReportRange; by: string; rows: BreakdownRow[] }
export interface CsatComment { conversationId: string; score: number; comment: string; ratedAt: string; agentId: string | null; agentName: string | null }
export interface CsatReport { range: ReportRange; csat: CsatStats; comments: CsatComment[] }
export interface ResponseTimes { range: ReportRange; firstResponse: DurationStats; queueWait: DurationStats; buckets: { fromSeconds: number; toSeconds: number | null; firstResponse: number; queueWait: number }[] }

/** Seconds as "45s", "3m 20s", "2h 5m"; null as "—". */
export function duration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined) return '—';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return s % 60 ? `${m}m ${s % 60}s` : `${m}m`;
  return `${Math.floor(m / 60)}h ${m % 60}m`;
}

export function percent(rate: number | null | undefined): string {
  return rate === null || rate === undefined ? '—' : `${Math.round(rate * 1000) / 10}%`;
}
