/** Geometry for the small SVG charts (histograms with clipping range, per-channel ranges, Pareto). Pure. */
import type { Histogram } from '../src/shared/report';

/** A rectangle in chart pixels. */
export interface Rect { x: number; y: number; w: number; h: number }

/** Maps a value in [d0, d1] to [r0, r1]; a zero-width domain maps to the middle. */
export function linear(d0: number, d1: number, r0: number, r1: number): (v: number) => number {
  const span = d1 - d0;
  if (!(span > 0) || !Number.isFinite(span)) return () => (r0 + r1) / 2;
  return (v) => r0 + ((v - d0) / span) * (r1 - r0);
}

/** Bars of a histogram in a width x height box; `log` uses log1p counts so tails stay visible. */
export function histogramBars(h: Histogram, width: number, height: number, log = true): Rect[] {
  const n = h.counts.length;
  if (!n) return [];
  const t = (c: number) => (log ? Math.log1p(c) : c);
  const max = Math.max(...h.counts.map(t), 1e-12);
  const bw = width / n;
  return h.counts.map((c, i) => {
    const bh = (t(c) / max) * height;
    return { x: i * bw, y: height - bh, w: Math.max(bw - (bw > 3 ? 1 : 0), 0.5), h: bh };
  });
}

/** X positions of a clipping range [lo, hi] on a histogram's axis, clamped to the box. */
export function clipLines(h: Histogram, lo: number, hi: number, width: number): { lo: number; hi: number } {
  const x = linear(h.min, h.max, 0, width);
  const c = (v: number) => Math.max(0, Math.min(width, x(v)));
  return { lo: c(lo), hi: c(hi) };
}

/** Per-channel bars (one per channel, height = value / max), for the weight range plot. */
export function channelBars(values: readonly number[], width: number, height: number): Rect[] {
  if (!values.length) return [];
  const max = Math.max(...values.map((v) => Math.abs(v)), 1e-30);
  const bw = width / values.length;
  return values.map((v, i) => {
    const bh = (Math.abs(v) / max) * height;
    return { x: i * bw, y: height - bh, w: Math.max(bw - (bw > 3 ? 1 : 0), 0.5), h: bh };
  });
}

/** The median of a list (0 for empty). */
export function median(values: readonly number[]): number {
  if (!values.length) return 0;
  const s = values.slice().sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** A point of a scatter/line chart in pixels, carrying its index. */
export interface PlotPoint { x: number; y: number; i: number }

/** Places (size, dB) points in a box with padding; infinite dB is drawn at the top. */
export function scatterPoints(points: ReadonlyArray<{ x: number; y: number }>, width: number, height: number, pad = 8): PlotPoint[] {
  const fin = points.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y));
  if (!fin.length) return [];
  const xs = fin.map((p) => p.x);
  const ys = fin.map((p) => p.y);
  const x0 = Math.min(...xs); const x1 = Math.max(...xs);
  const y0 = Math.min(...ys); const y1 = Math.max(...ys);
  const sx = x1 > x0 ? linear(x0, x1, pad, width - pad) : () => width / 2;
  const sy = y1 > y0 ? linear(y0, y1, height - pad, pad) : () => height / 2;
  return points.flatMap((p, i) => {
    if (!Number.isFinite(p.x)) return [];
    const y = Number.isFinite(p.y) ? sy(p.y) : p.y > 0 ? pad : height - pad;
    return [{ x: sx(p.x), y, i }];
  });
}

/** About `count` round tick values (1, 2, 5 × 10^k steps) covering [d0, d1]. */
export function niceTicks(d0: number, d1: number, count = 5): number[] {
  if (!Number.isFinite(d0) || !Number.isFinite(d1)) return [];
  if (d1 < d0) [d0, d1] = [d1, d0];
  if (d1 === d0) return [d0];
  const raw = (d1 - d0) / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let v = Math.ceil(d0 / step) * step; v <= d1 + step * 1e-9; v += step) out.push(Math.abs(v) < step * 1e-9 ? 0 : Number(v.toPrecision(12)));
  return out;
}
