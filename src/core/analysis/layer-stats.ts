/** Distributions shown per layer: weight histogram and input-activation statistics (range, calibrated range, outliers). */
import { Tensor, toFloat32 } from '../onnx/tensor-data';
import { Calibrator, createCalibrator, PercentileCalibrator } from '../quant/calibrate';
import { CalibrationSpec } from '../../shared/recipe';
import { mustParseFormat, NumberFormat } from '../../shared/formats';
import { Histogram, LayerReport } from '../../shared/report';
import { activationRange, SensitivityContext } from './sensitivity';
import { BatchPart } from './batch-slices';

/** Number of bins of report histograms. */
export const HISTOGRAM_BINS_REPORT = 64;

/** Equal-width histogram of values between their min and max. */
export function histogramOf(chunks: Iterable<ArrayLike<number>>, min: number, max: number, bins = HISTOGRAM_BINS_REPORT): Histogram {
  const counts = new Array<number>(bins).fill(0);
  const width = max > min ? (max - min) / bins : 1;
  for (const x of chunks) {
    for (let i = 0; i < x.length; i++) {
      const v = x[i];
      if (!Number.isFinite(v)) continue;
      const k = Math.min(bins - 1, Math.max(0, Math.floor((v - min) / width)));
      counts[k]++;
    }
  }
  return { min, max, counts };
}

/** Histogram of a weight tensor. */
export function weightHistogram(w: Float32Array): Histogram {
  let mn = Infinity, mx = -Infinity;
  for (let i = 0; i < w.length; i++) { if (w[i] < mn) mn = w[i]; if (w[i] > mx) mx = w[i]; }
  if (!w.length) { mn = 0; mx = 0; }
  return histogramOf([w], mn, mx);
}

/**
 * Statistics of a layer's input activation over the cached data: observed range, the range calibration
 * gives for uint8, the outlier ratio and a histogram. The outlier ratio is the absolute max over the
 * 99.99th percentile of |x|, or over a lower percentile when there are too few values for the 99.99th to
 * leave at least 10 values above it (so one spike in a small calibration set still counts as an outlier).
 */
export function activationStats(ctx: SensitivityContext, tensor: string): NonNullable<LayerReport['activation']> {
  if (ctx.observer?.has(tensor)) return ctx.observer.stats(tensor, activationRange(ctx, tensor, mustParseFormat('uint8')));
  // One read of each batch (it may come back from disk): exact range, and the values kept for the percentile and
  // the histogram (every value up to HISTOGRAM_SAMPLE_LIMIT per tensor, a regular stride beyond).
  let n = 0;
  for (let b = 0; b < ctx.cache.batches; b++) n += ctx.cache.get(b, tensor).data.length;
  const stride = Math.max(1, Math.ceil(n / HISTOGRAM_SAMPLE_LIMIT));
  const kept: Float32Array[] = [];
  let mn = Infinity, mx = -Infinity;
  for (let b = 0; b < ctx.cache.batches; b++) {
    const x = toFloat32(ctx.cache.get(b, tensor));
    for (let i = 0; i < x.length; i++) { const v = x[i]; if (v < mn) mn = v; if (v > mx) mx = v; }
    if (stride === 1) kept.push(x);
    else { const s = new Float32Array(Math.ceil(x.length / stride)); for (let i = 0, k = 0; i < x.length; i += stride) s[k++] = x[i]; kept.push(s); }
  }
  if (!(mn <= mx)) { mn = 0; mx = 0; }
  const m = kept.reduce((s, x) => s + x.length, 0);
  const q = Math.max(50.01, Math.min(99.99, 100 * (1 - 10 / Math.max(1, m))));
  const p = new PercentileCalibrator(q, true);
  for (const x of kept) p.observe(x);
  const absMax = Math.max(Math.abs(mn), Math.abs(mx));
  const pr = p.range();
  const bulk = Math.max(Math.abs(pr.min), Math.abs(pr.max));
  const cal = activationRange(ctx, tensor, mustParseFormat('uint8'));
  return {
    tensor, min: mn, max: mx, calibratedMin: cal.min, calibratedMax: cal.max,
    outlierRatio: bulk > 0 ? absMax / bulk : 1,
    histogram: histogramOf(kept, mn, mx),
  };
}

/** Values per tensor the activation percentile and histogram look at (a regular stride over bigger tensors; the range is exact). */
export const HISTOGRAM_SAMPLE_LIMIT = 1 << 21;

/**
 * Input-activation statistics and calibration gathered batch by batch while the float pass runs, without keeping the
 * tensors: exact range, a regular subsample (at most `limit` values per tensor) for the percentile and the histogram,
 * and one calibrator per integer format when the calibration is not min-max.
 */
export class ActivationObserver {
  private readonly seen = new Map<string, { min: number; max: number; kept: Float32Array[]; cals: Map<string, Calibrator>; stride: number }>();

  constructor(private readonly calibration: CalibrationSpec, private readonly formats: readonly NumberFormat[], private readonly perBatch: number) {}

  /** True when a batch may come in slices (`part`): min-max calibration (a histogram calibrator's bins follow the batches it gets). */
  get takesSlices(): boolean {
    return this.calibration.method === 'minmax';
  }

  /** Adds one batch of a tensor, or a slice of one (`part`: the same statistics as the whole batch, when the batch is the first axis). */
  observe(name: string, t: Tensor, part?: BatchPart): void {
    const x = toFloat32(t);
    let s = this.seen.get(name);
    if (!s) {
      const cals = new Map<string, Calibrator>();
      if (this.calibration.method !== 'minmax') for (const f of this.formats) if (f.kind === 'int') cals.set(JSON.stringify(f), createCalibrator(this.calibration, f));
      this.seen.set(name, (s = { min: Infinity, max: -Infinity, kept: [], cals, stride: 1 }));
    }
    if (part && s.cals.size) throw new Error('a histogram calibrator cannot take a batch in slices');
    for (let i = 0; i < x.length; i++) { const v = x[i]; if (v < s.min) s.min = v; if (v > s.max) s.max = v; }
    // a regular subsample of the batch: every stride-th value of the whole batch, wherever its slices cut it
    const offset = part ? Math.round(part.offset) : 0, total = part ? Math.round(part.total) : x.length;
    if (offset === 0) {
      s.stride = Math.max(1, Math.ceil(total / this.perBatch));
      s.kept.push(new Float32Array(Math.ceil(total / s.stride)));
    }
    const k = s.kept[s.kept.length - 1], stride = s.stride;
    for (let g = Math.ceil(offset / stride) * stride; g < offset + x.length && g / stride < k.length; g += stride) k[g / stride] = x[g - offset];
    for (const c of s.cals.values()) c.observe(x);
  }

  /** Lets go of the subsamples (about 1 MB a tensor) once the report's statistics are taken; ranges stay. */
  dropSamples(): void {
    for (const v of this.seen.values()) v.kept.length = 0;
    this.dropped = true;
  }

  private dropped = false;

  /** True when the tensor was observed. */
  has(name: string): boolean {
    return this.seen.has(name);
  }

  /** The calibrated range of a tensor for a format (min-max: the exact range). */
  range(name: string, format: NumberFormat): { min: number; max: number } | undefined {
    const s = this.seen.get(name);
    if (!s) return undefined;
    const c = format.kind === 'int' ? s.cals.get(JSON.stringify(format)) : undefined;
    if (c) return c.range();
    return s.min <= s.max ? { min: s.min, max: s.max } : { min: 0, max: 0 };
  }

  /** The report's statistics of an observed tensor. */
  stats(name: string, calibrated: { min: number; max: number }): NonNullable<LayerReport['activation']> {
    if (this.dropped) throw new Error('the observer let go of its samples: statistics come before dropSamples');
    const s = this.seen.get(name)!;
    const mn = s.min <= s.max ? s.min : 0, mx = s.min <= s.max ? s.max : 0;
    const m = s.kept.reduce((a, x) => a + x.length, 0);
    const p = new PercentileCalibrator(Math.max(50.01, Math.min(99.99, 100 * (1 - 10 / Math.max(1, m)))), true);
    for (const x of s.kept) p.observe(x);
    const pr = p.range();
    const bulk = Math.max(Math.abs(pr.min), Math.abs(pr.max));
    return { tensor: name, min: mn, max: mx, calibratedMin: calibrated.min, calibratedMax: calibrated.max, outlierRatio: bulk > 0 ? Math.max(Math.abs(mn), Math.abs(mx)) / bulk : 1, histogram: histogramOf(s.kept, mn, mx) };
  }
}
