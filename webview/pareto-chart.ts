/** The Pareto chart: weights size (x) against output SQNR (y) with axes and ticks, the target line, the chosen point and the current selection. */
import type { ParetoPoint, Target } from '../src/shared/report';
import { linear, niceTicks } from './chart-geometry';
import { s } from './dom';
import { formatBytes, formatDb } from './format';

/** What to mark on the chart besides the points. */
export interface ParetoMarks {
  target: Target;
  /** The recommended point (ringed). */
  chosen?: ParetoPoint;
  /** The current selection: its weights size and, when measured, its SQNR. */
  selection?: { sizeBytes: number; sqnrDb?: number };
}

const M = { left: 46, right: 12, top: 12, bottom: 34 };

/** Draws the chart; clicking a point selects its layers. */
export function paretoChart(points: readonly ParetoPoint[], marks: ParetoMarks, onPick?: (p: ParetoPoint) => void, width = 400, height = 220): SVGElement {
  const fin = points.filter((p) => Number.isFinite(p.sizeBytes));
  const ys = fin.map((p) => p.metrics.sqnrDb).filter(Number.isFinite);
  if (marks.target.kind === 'min-sqnr-db') ys.push(marks.target.value);
  if (marks.selection?.sqnrDb !== undefined && Number.isFinite(marks.selection.sqnrDb)) ys.push(marks.selection.sqnrDb);
  const xs = fin.map((p) => p.sizeBytes);
  if (marks.target.kind === 'max-size-bytes') xs.push(marks.target.value);
  if (marks.selection) xs.push(marks.selection.sizeBytes);
  const pad = (lo: number, hi: number) => (hi > lo ? (hi - lo) * 0.06 : Math.max(1, Math.abs(lo) * 0.1));
  const y0 = Math.min(...ys), y1 = Math.max(...ys), x0 = Math.min(...xs), x1 = Math.max(...xs);
  const yd: [number, number] = [y0 - pad(y0, y1), y1 + pad(y0, y1)];
  const xd: [number, number] = [x0 - pad(x0, x1), x1 + pad(x0, x1)];
  const sx = linear(xd[0], xd[1], M.left, width - M.right);
  const sy = linear(yd[0], yd[1], height - M.bottom, M.top);
  const yOf = (db: number) => (Number.isFinite(db) ? sy(db) : db > 0 ? M.top : height - M.bottom);
  const sorted = fin.slice().sort((a, b) => a.sizeBytes - b.sizeBytes);
  const path = sorted.map((p, i) => `${i ? 'L' : 'M'}${sx(p.sizeBytes).toFixed(1)},${yOf(p.metrics.sqnrDb).toFixed(1)}`).join(' ');
  const isChosen = (p: ParetoPoint) => p === marks.chosen;
  const t = marks.target;
  return s('svg', { class: 'chart pareto', width, height, viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': 'Pareto curve: weights size against output SQNR, with the target and the current selection' },
    s('title', {}, 'Weights size against output SQNR'),
    // axes, ticks, labels
    s('line', { class: 'axis-line', x1: M.left, x2: width - M.right, y1: height - M.bottom, y2: height - M.bottom }),
    s('line', { class: 'axis-line', x1: M.left, x2: M.left, y1: M.top, y2: height - M.bottom }),
    ...niceTicks(yd[0], yd[1], 4).flatMap((v) => [
      s('line', { class: 'grid-line', x1: M.left, x2: width - M.right, y1: sy(v), y2: sy(v) }),
      s('text', { class: 'axis end', x: M.left - 4, y: sy(v) + 3 }, `${Number(v.toFixed(1))}`)]),
    ...niceTicks(xd[0], xd[1], 4).flatMap((v) => [
      s('line', { class: 'tick', x1: sx(v), x2: sx(v), y1: height - M.bottom, y2: height - M.bottom + 4 }),
      s('text', { class: 'axis middle', x: sx(v), y: height - M.bottom + 14 }, formatBytes(v))]),
    s('text', { class: 'axis middle', x: (M.left + width - M.right) / 2, y: height - 3 }, 'weights size →'),
    s('text', { class: 'axis', x: 2, y: M.top - 2 }, 'output SQNR (dB) ↑'),
    // the target
    t.kind === 'min-sqnr-db' ? s('line', { class: 'target-line', x1: M.left, x2: width - M.right, y1: sy(t.value), y2: sy(t.value) }) : null,
    t.kind === 'min-sqnr-db' ? s('text', { class: 'axis target-label end', x: width - M.right, y: sy(t.value) - 3 }, `target ${formatDb(t.value)}`) : null,
    t.kind === 'max-size-bytes' ? s('line', { class: 'target-line', x1: sx(t.value), x2: sx(t.value), y1: M.top, y2: height - M.bottom }) : null,
    t.kind === 'max-size-bytes' ? s('text', { class: 'axis target-label', x: sx(t.value) + 3, y: M.top + 8 }, `target ${formatBytes(t.value)}`) : null,
    sorted.length > 1 ? s('path', { d: path, class: 'pareto-line' }) : null,
    ...sorted.map((p) => s('circle', {
      cx: sx(p.sizeBytes), cy: yOf(p.metrics.sqnrDb), r: isChosen(p) ? 6 : 4, tabindex: onPick ? 0 : undefined,
      class: `pareto-point${isChosen(p) ? ' chosen' : ''}${p.verified ? '' : ' estimated'}`,
      'data-kept': p.kept.length,
      onclick: onPick ? () => onPick(p) : undefined,
      onkeydown: onPick ? (e) => { const k = (e as KeyboardEvent).key; if (k === 'Enter' || k === ' ') { e.preventDefault(); onPick(p); } } : undefined,
    }, s('title', {}, `${p.kept.length} layers kept · ${formatBytes(p.sizeBytes)} weights · ${formatDb(p.metrics.sqnrDb)}${p.verified ? ' (measured)' : ' (estimated)'}${p.repaired?.length ? ` · ${p.repaired.length} repaired` : ''}${isChosen(p) ? ' · recommended' : ''}${onPick ? ' — click to use these layers' : ''}`))),
    // the current selection
    marks.selection ? (marks.selection.sqnrDb !== undefined
      ? s('path', { class: 'selection-mark', d: diamond(sx(marks.selection.sizeBytes), yOf(marks.selection.sqnrDb)) }, s('title', {}, `your selection: ${formatBytes(marks.selection.sizeBytes)} weights · ${formatDb(marks.selection.sqnrDb)}`))
      : s('line', { class: 'selection-line', x1: sx(marks.selection.sizeBytes), x2: sx(marks.selection.sizeBytes), y1: M.top, y2: height - M.bottom }, s('title', {}, `your selection: ${formatBytes(marks.selection.sizeBytes)} weights (not measured yet)`))) : null,
  );
}

function diamond(x: number, y: number, r = 7): string {
  return `M${x},${y - r} L${x + r},${y} L${x},${y + r} L${x - r},${y} Z`;
}
