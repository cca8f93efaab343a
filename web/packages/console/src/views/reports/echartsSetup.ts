// Apache ECharts, only the parts the Reports page draws (line, bar, pie; grid, tooltip, legend; canvas). Imported
// with import() from charts.ts, so it is a chunk of its own that only the Reports page loads: the console's main
// bundle does not grow. Its size is in docs/reports.md.
import * as echarts from 'echarts/core';
import { BarChart, LineChart } from 'echarts/charts';
import { GridComponent, LegendComponent, TooltipComponent } from 'echarts/components';
import { CanvasRenderer } from 'echarts/renderers';

echarts.use([LineChart, BarChart, GridComponent, TooltipComponent, LegendComponent, CanvasRenderer]);

export { echarts };
