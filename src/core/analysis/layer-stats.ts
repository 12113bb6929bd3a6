/** Distributions shown per layer: weight histogram and input-activation statistics (range, calibrated range, outliers). */
import { toFloat32 } from '../onnx/tensor-data';
import { PercentileCalibrator } from '../quant/calibrate';
import { mustParseFormat } from '../../shared/formats';
import { Histogram, LayerReport } from '../../shared/report';
import { activationRange, SensitivityContext } from './sensitivity';

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
  let mn = Infinity, mx = -Infinity, n = 0;
  for (let b = 0; b < ctx.cache.batches; b++) {
    const x = toFloat32(ctx.cache.get(b, tensor));
    n += x.length;
    for (let i = 0; i < x.length; i++) { const v = x[i]; if (v < mn) mn = v; if (v > mx) mx = v; }
  }
  if (!(mn <= mx)) { mn = 0; mx = 0; }
  const q = Math.max(50.01, Math.min(99.99, 100 * (1 - 10 / Math.max(1, n))));
  const p = new PercentileCalibrator(q, true);
  for (let b = 0; b < ctx.cache.batches; b++) p.observe(toFloat32(ctx.cache.get(b, tensor)));
  const absMax = Math.max(Math.abs(mn), Math.abs(mx));
  const pr = p.range();
  const bulk = Math.max(Math.abs(pr.min), Math.abs(pr.max));
  const cal = activationRange(ctx, tensor, mustParseFormat('uint8'));
  const chunks = function* () { for (let b = 0; b < ctx.cache.batches; b++) yield toFloat32(ctx.cache.get(b, tensor)); };
  return {
    tensor, min: mn, max: mx, calibratedMin: cal.min, calibratedMax: cal.max,
    outlierRatio: bulk > 0 ? absMax / bulk : 1,
    histogram: histogramOf(chunks(), mn, mx),
  };
}
