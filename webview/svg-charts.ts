/** Small SVG charts: histograms with the clipping range, per-channel ranges (the Pareto chart is in pareto-chart.ts). Colours come from CSS classes (theme variables). */
import type { Histogram } from '../src/shared/report';
import { channelBars, clipLines, histogramBars, median } from './chart-geometry';
import { s } from './dom';
import { formatNumber } from './format';

/** A histogram with optional clipping lines [lo, hi]; values outside are drawn as clipped. */
export function histogramChart(hist: Histogram, clip: { lo: number; hi: number } | undefined, label: string, width = 320, height = 110): SVGElement {
  const bars = histogramBars(hist, width, height - 16);
  const lines = clip ? clipLines(hist, clip.lo, clip.hi, width) : undefined;
  return s('svg', { class: 'chart histogram', width, height, viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': label },
    s('title', {}, label),
    ...bars.map((b) => s('rect', { x: b.x, y: b.y, width: b.w, height: b.h, class: lines && (b.x + b.w / 2 < lines.lo || b.x + b.w / 2 > lines.hi) ? 'bin clipped' : 'bin' })),
    lines && s('line', { x1: lines.lo, x2: lines.lo, y1: 0, y2: height - 16, class: 'clip-line' }),
    lines && s('line', { x1: lines.hi, x2: lines.hi, y1: 0, y2: height - 16, class: 'clip-line' }),
    s('text', { x: 0, y: height - 3, class: 'axis' }, formatNumber(hist.min)),
    s('text', { x: width, y: height - 3, class: 'axis end' }, formatNumber(hist.max)),
  );
}

/** Per-output-channel absolute max, with the median drawn; wide channels stand out. */
export function channelRangeChart(values: readonly number[], label: string, width = 320, height = 90): SVGElement {
  const bars = channelBars(values, width, height - 14);
  const max = Math.max(...values.map(Math.abs), 1e-30);
  const med = median(values.map(Math.abs));
  const my = (height - 14) - (med / max) * (height - 14);
  return s('svg', { class: 'chart channels', width, height, viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': label },
    s('title', {}, label),
    ...bars.map((b, i) => s('rect', { x: b.x, y: b.y, width: b.w, height: b.h, class: Math.abs(values[i]) > 4 * med ? 'bin wide' : 'bin' })),
    s('line', { x1: 0, x2: width, y1: my, y2: my, class: 'median-line' }),
    s('text', { x: 0, y: height - 2, class: 'axis' }, `${values.length} channels · median ${formatNumber(med)} · max ${formatNumber(max)}`),
  );
}
