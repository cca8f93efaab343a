// The chart library is loaded on first use (dynamic import): see echartsSetup.ts.
import type { EChartsCoreOption } from 'echarts/core';

type ECharts = typeof import('echarts/core');
let loading: Promise<ECharts> | null = null;

export function loadCharts(): Promise<ECharts> {
  loading ??= import('./echartsSetup').then((m) => m.echarts);
  return loading;
}

export interface ChartHandle {
  set(option: EChartsCoreOption): void;
  dispose(): void;
}

/** A chart in an element, resized with it. */
export async function mountChart(el: HTMLElement): Promise<ChartHandle> {
  const echarts = await loadCharts();
  const chart = echarts.init(el, undefined, { renderer: 'canvas' });
  const observer = new ResizeObserver(() => chart.resize());
  observer.observe(el);
  return {
    set: (option) => chart.setOption(option, { notMerge: true }),
    dispose: () => {
      observer.disconnect();
      chart.dispose();
    },
  };
}
