/**
 * Streaming activation-range calibrators: min-max, percentile, MSE-optimal clipping and entropy (KL).
 *
 * All but min-max keep one streaming histogram of the values over [-R, R] (4096 bins, 2048 per side).
 * R starts at the first non-zero batch's absolute maximum and doubles whenever a later batch exceeds
 * it; doubling merges pairs of adjacent bins, which is exact (no re-binning error). The observed
 * min/max are tracked exactly, and every range returned lies inside them.
 */
import { NumberFormat } from '../../shared/formats';
import { CalibrationSpec } from '../../shared/recipe';
import { QuantLensError } from '../errors';
import { asIntFormat, intRange, scaleZeroPoint } from './qparams';

/** A calibrator sees batches of an activation and proposes its quantization range. */
export interface Calibrator {
  /** Adds a batch of values (NaNs are ignored). */
  observe(x: Float32Array): void;
  /** The range to quantize to; [0, 0] before any value was seen. */
  range(): { min: number; max: number };
}

/** Number of histogram bins over [-R, R] (must be divisible by 4 for exact doubling). */
export const HISTOGRAM_BINS = 4096;

/** Tracks the exact minimum and maximum. */
export class MinMaxCalibrator implements Calibrator {
  min = Infinity;
  max = -Infinity;
  /** Adds a batch. */
  observe(x: Float32Array): void {
    let mn = this.min;
    let mx = this.max;
    for (let i = 0; i < x.length; i++) {
      const v = x[i];
      if (v < mn) mn = v;
      if (v > mx) mx = v;
    }
    this.min = mn;
    this.max = mx;
  }
  /** The observed range. */
  range(): { min: number; max: number } {
    if (this.min === -Infinity || this.max === Infinity) {
      throw new QuantLensError('calibration-infinite', 'an activation took an infinite value during calibration (overflow in the model or bad input data)');
    }
    return this.min <= this.max ? { min: this.min, max: this.max } : { min: 0, max: 0 };
  }
}

/** A symmetric histogram over [-R, R] that grows by exact doubling. */
export class StreamingHistogram {
  readonly counts = new Float64Array(HISTOGRAM_BINS);
  /** Half-width of the covered range (0 until a non-zero value was seen). */
  radius = 0;
  /** Values seen while the radius was still 0 (all zeros). */
  zeros = 0;
  total = 0;
  readonly exact = new MinMaxCalibrator();

  /** Adds a batch. */
  observe(x: Float32Array): void {
    let absmax = 0;
    for (let i = 0; i < x.length; i++) { const a = Math.abs(x[i]); if (a > absmax) absmax = a; }
    if (!Number.isFinite(absmax)) throw new QuantLensError('calibration-infinite', 'an activation took an infinite value during calibration (overflow in the model or bad input data)');
    this.exact.observe(x);
    if (absmax > 0) {
      if (this.radius === 0) this.radius = absmax;
      while (absmax > this.radius) this.grow();
    }
    const B = HISTOGRAM_BINS;
    const R = this.radius;
    const c = this.counts;
    if (R === 0) {
      let n = 0;
      for (let i = 0; i < x.length; i++) if (x[i] === x[i]) n++;
      this.zeros += n;
      this.total += n;
      return;
    }
    const k = B / (2 * R);
    let n = 0;
    for (let i = 0; i < x.length; i++) {
      const v = x[i];
      if (v !== v) continue;
      let b = Math.floor((v + R) * k);
      if (b >= B) b = B - 1;
      else if (b < 0) b = 0;
      c[b]++;
      n++;
    }
    this.total += n;
    if (this.zeros) { c[B / 2] += this.zeros; this.zeros = 0; }
  }

  private grow(): void {
    const B = HISTOGRAM_BINS;
    const old = Float64Array.from(this.counts);
    this.counts.fill(0);
    for (let i = 0; i < B; i++) this.counts[B / 4 + (i >> 1)] += old[i];
    this.radius *= 2;
  }

  /** Width of one bin. */
  get binWidth(): number {
    return (2 * this.radius) / HISTOGRAM_BINS;
  }

  /** Left edge of bin i. */
  edge(i: number): number {
    return -this.radius + i * this.binWidth;
  }

  /** Histogram of |x| with HISTOGRAM_BINS / 2 bins over [0, R]. */
  absolute(): Float64Array {
    const half = HISTOGRAM_BINS / 2;
    const out = new Float64Array(half);
    for (let i = 0; i < half; i++) out[i] = this.counts[half + i] + this.counts[half - 1 - i];
    return out;
  }
}

/** The value below which a fraction `q` of the histogram's mass lies (linear inside the bin). */
function quantile(counts: Float64Array, total: number, q: number, left: number, width: number): number {
  const target = q * total;
  let cum = 0;
  for (let i = 0; i < counts.length; i++) {
    const c = counts[i];
    if (cum + c >= target && c > 0) return left + (i + (target - cum) / c) * width;
    cum += c;
  }
  return left + counts.length * width;
}

/**
 * Percentile calibration (ONNX Runtime's HistogramCollector convention): symmetric formats clip |x| at
 * its p-th percentile, range [-t, t]; asymmetric formats cut (100 - p) / 2 percent from each tail.
 * Percentiles interpolate linearly inside a bin. The result is intersected with the observed range.
 */
export class PercentileCalibrator implements Calibrator {
  readonly hist = new StreamingHistogram();
  constructor(readonly percentile: number, readonly symmetric: boolean) {}
  /** Adds a batch. */
  observe(x: Float32Array): void { this.hist.observe(x); }
  /** The clipped range. */
  range(): { min: number; max: number } {
    const h = this.hist;
    const ex = h.exact.range();
    if (h.radius === 0 || h.total === 0) return ex;
    const p = this.percentile / 100;
    if (this.symmetric) {
      const t = quantile(h.absolute(), h.total, p, 0, h.binWidth);
      return { min: Math.max(-t, ex.min), max: Math.min(t, ex.max) };
    }
    const cut = (1 - p) / 2;
    const lo = quantile(h.counts, h.total, cut, -h.radius, h.binWidth);
    const hi = quantile(h.counts, h.total, 1 - cut, -h.radius, h.binWidth);
    return { min: Math.max(lo, ex.min), max: Math.min(hi, ex.max) };
  }
}

/**
 * MSE-optimal clipping: scans 200 shrink factors a in (0, 1] of the observed range [a*min, a*max]
 * and keeps the one whose quantizer (scale and zero point for the format) gives the least expected
 * squared error over the histogram: values inside the representable range contribute scale^2 / 12
 * (uniform rounding noise), values outside contribute their squared distance to it (clipping).
 */
export class MseCalibrator implements Calibrator {
  readonly hist = new StreamingHistogram();
  constructor(readonly format: NumberFormat, readonly steps = 200) {}
  /** Adds a batch. */
  observe(x: Float32Array): void { this.hist.observe(x); }
  /** The range with least expected quantization MSE. */
  range(): { min: number; max: number } {
    const h = this.hist;
    const ex = h.exact.range();
    if (h.radius === 0 || h.total === 0) return ex;
    const f = asIntFormat(this.format);
    const { qmin, qmax } = intRange(f.bits, f.signed);
    const counts = h.counts;
    const B = counts.length;
    const w = h.binWidth;
    let best = { min: ex.min, max: ex.max };
    let bestErr = Infinity;
    for (let s = this.steps; s >= 1; s--) {
      const a = s / this.steps;
      const cand = { min: ex.min * a, max: ex.max * a };
      const { scale, zeroPoint } = scaleZeroPoint(cand.min, cand.max, f);
      const lo = (qmin - zeroPoint) * scale;
      const hi = (qmax - zeroPoint) * scale;
      const noise = (scale * scale) / 12;
      let err = 0;
      for (let i = 0; i < B; i++) {
        const c = counts[i];
        if (c === 0) continue;
        const x = -h.radius + (i + 0.5) * w;
        if (x < lo) err += c * ((lo - x) * (lo - x) + noise);
        else if (x > hi) err += c * ((x - hi) * (x - hi) + noise);
        else err += c * noise;
      }
      if (err < bestErr) { bestErr = err; best = cand; }
    }
    return best;
  }
}

/**
 * Entropy calibration (TensorRT's KL method) on the histogram of |x| (2048 bins): for each candidate
 * threshold bin i, the reference distribution P is the first i bins with the clipped tail added to the
 * last one; Q is P merged into `levels` equal groups and spread back evenly over each group's non-empty
 * bins; the threshold minimizing KL(P || Q) wins. `levels` is adapted to the bit width: 2^(bits-1)
 * (128 for 8 bits) for signed formats or data with negative values, 2^bits for unsigned formats on
 * non-negative data. When `levels` reaches the bin count no clipping helps and the observed range is returned.
 * The first |x| bin's count is replaced by the second's before the search (as NVIDIA's pytorch-quantization
 * `_compute_amax_entropy` does): values that small quantize to the exact zero level whatever the threshold, but a
 * spike there (ReLU zeros, a sigmoid's background ~1e-4) would be spread over its merge group in Q and make every
 * wide threshold look costly, collapsing the range (PaddleOCR det's probability map was clipped to 0.21 of 1).
 * Candidates that would clip more than MAX_ENTROPY_CLIPPED of the values are not considered (the threshold is at
 * least the 99.9th percentile of |x|): Q is normalized over the unclipped values only, so a threshold whose last
 * bin holds a spike (constant image regions, ReLU6 saturation) makes P's last bin, with all the clipped mass,
 * look matched whatever that mass is (det's ReLU6 output: 94% of its values clipped from 6 to 0.75 at KL 0.07,
 * vs 1.8 for the full range). On smooth data (Gaussian, Laplace) the KL optimum clips far less and is unchanged.
 */
export class EntropyCalibrator implements Calibrator {
  readonly hist = new StreamingHistogram();
  constructor(readonly format: NumberFormat) {}
  /** Adds a batch. */
  observe(x: Float32Array): void { this.hist.observe(x); }
  /** The KL-optimal range. */
  range(): { min: number; max: number } {
    const h = this.hist;
    const ex = h.exact.range();
    if (h.radius === 0 || h.total === 0) return ex;
    const f = asIntFormat(this.format);
    const abs = h.absolute();
    const n = abs.length;
    abs[0] = abs[1];
    const levels = !f.signed && ex.min >= 0 ? 2 ** f.bits : 2 ** (f.bits - 1);
    if (levels >= n) return ex;
    let last = n;
    while (last > 0 && abs[last - 1] === 0) last--;
    if (last <= levels) return ex;
    // the smallest candidate clipping at most MAX_ENTROPY_CLIPPED of all values
    let first = last;
    let clipped = 0;
    while (first > levels && clipped + abs[first - 1] <= MAX_ENTROPY_CLIPPED * h.total) clipped += abs[--first];
    const t = klThresholdBin(abs, levels, last, first);
    const thr = t * h.binWidth;
    return { min: Math.max(-thr, ex.min), max: Math.min(thr, ex.max) };
  }
}

/** Largest fraction of the values the entropy calibrator may clip (its threshold is at least that |x| percentile). */
export const MAX_ENTROPY_CLIPPED = 0.001;

/** TensorRT's threshold search: the bin count i in [max(levels, first), last] minimizing KL(P || Q). */
export function klThresholdBin(hist: Float64Array, levels: number, last: number, first = levels): number {
  let bestKl = Infinity;
  let bestI = last;
  const p = new Float64Array(last);
  const q = new Float64Array(last);
  let tail = 0;
  for (let i = last; i < hist.length; i++) tail += hist[i];
  // Candidates are visited from the widest down, so the clipped tail can be accumulated.
  const tails = new Float64Array(last + 1);
  tails[last] = tail;
  for (let i = last - 1; i >= levels; i--) tails[i] = tails[i + 1] + hist[i];
  for (let i = Math.max(levels, first); i <= last; i++) {
    for (let k = 0; k < i; k++) p[k] = hist[k];
    p[i - 1] += tails[i];
    // Q: the unclipped first i bins merged into `levels` groups (the tail goes to P only, as in TensorRT)
    const per = i / levels;
    for (let g = 0; g < levels; g++) {
      const start = Math.floor(g * per);
      const end = g === levels - 1 ? i : Math.floor((g + 1) * per);
      let sum = 0;
      let nonzero = 0;
      for (let k = start; k < end; k++) { sum += hist[k]; if (hist[k] !== 0) nonzero++; }
      const v = nonzero ? sum / nonzero : 0;
      for (let k = start; k < end; k++) q[k] = hist[k] !== 0 ? v : 0;
    }
    const kl = klDivergence(p, q, i);
    if (kl < bestKl) { bestKl = kl; bestI = i; }
  }
  return bestI + 0.5;
}

/** KL(P || Q) of two unnormalized histograms over their first n bins (Q smoothed where P > 0 = Q). */
function klDivergence(p: Float64Array, q: Float64Array, n: number): number {
  let ps = 0;
  let qs = 0;
  for (let k = 0; k < n; k++) { ps += p[k]; qs += q[k]; }
  if (ps === 0 || qs === 0) return Infinity;
  let kl = 0;
  const eps = 1e-10;
  for (let k = 0; k < n; k++) {
    if (p[k] === 0) continue;
    const pk = p[k] / ps;
    const qk = q[k] > 0 ? q[k] / qs : eps;
    kl += pk * Math.log(pk / qk);
  }
  return kl;
}

/** Creates the calibrator a recipe's calibration setting names, for an activation in `format`. */
export function createCalibrator(spec: CalibrationSpec, format: NumberFormat): Calibrator {
  if (spec.method === 'minmax' || format.kind !== 'int') return new MinMaxCalibrator();
  switch (spec.method) {
    case 'percentile': return new PercentileCalibrator(spec.percentile, format.symmetric);
    case 'mse': return new MseCalibrator(format);
    case 'entropy': return new EntropyCalibrator(format);
  }
}
