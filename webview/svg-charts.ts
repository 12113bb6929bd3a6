/** Small SVG charts: histograms with the clipping range, per-channel ranges, the Pareto curve. Colours come from CSS classes (theme variables). */
import type { Histogram, ParetoPoint } from '../src/shared/report';
import { channelBars, clipLines, histogramBars, median, scatterPoints } from './chart-geometry';
import { s } from './dom';
import { formatBytes, formatDb, formatNumber } from './format';

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

/** The Pareto curve: size (x) against output SQNR (y); the chosen point highlighted. */
export function paretoChart(points: readonly ParetoPoint[], chosenSize: number | undefined, onPick?: (p: ParetoPoint) => void, width = 360, height = 180): SVGElement {
  const placed = scatterPoints(points.map((p) => ({ x: p.sizeBytes, y: p.metrics.sqnrDb })), width, height - 18, 12);
  const path = placed.slice().sort((a, b) => a.x - b.x).map((p, i) => `${i ? 'L' : 'M'}${p.x.toFixed(1)},${p.y.toFixed(1)}`).join(' ');
  return s('svg', { class: 'chart pareto', width, height, viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': 'Pareto curve of model size against output SQNR' },
    s('title', {}, 'Model size against output SQNR'),
    placed.length > 1 && s('path', { d: path, class: 'pareto-line' }),
    ...placed.map((p) => {
      const pt = points[p.i];
      const chosen = chosenSize !== undefined && pt.sizeBytes === chosenSize;
      return s('circle', { cx: p.x, cy: p.y, r: chosen ? 5 : 4, class: `${chosen ? 'pareto-point chosen' : 'pareto-point'}${pt.verified ? '' : ' estimated'}`, onclick: onPick ? () => onPick(pt) : undefined },
        s('title', {}, `${pt.kept.length} kept · ${formatBytes(pt.sizeBytes)} · ${formatDb(pt.metrics.sqnrDb)}${pt.verified ? '' : ' (estimated)'}${onPick ? ' — click to use these layers' : ''}`));
    }),
    s('text', { x: 0, y: height - 3, class: 'axis' }, `size ${formatBytes(Math.min(...points.map((p) => p.sizeBytes)))}`),
    s('text', { x: width, y: height - 3, class: 'axis end' }, `${formatBytes(Math.max(...points.map((p) => p.sizeBytes)))} →`),
    s('text', { x: 0, y: 10, class: 'axis' }, `↑ output SQNR (max ${formatDb(Math.max(...points.map((p) => p.metrics.sqnrDb).filter(Number.isFinite)))})`),
  );
}
