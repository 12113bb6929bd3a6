/** The layer-wise reconstruction error the repair algorithms minimise, computed from input statistics. */
import { InferenceBackend } from '../../runtime/backend';
import { LayerInputStats } from './layer-inputs';
import { dot, freeProduct } from './ort-matmul';

/** Σ over rows of a_r M b_rᵀ (a, b [rows, cols], M [cols, cols]). */
export function bilinear(a: Float64Array, b: Float64Array, rows: number, cols: number, m: Float64Array | Float32Array): number {
  let total = 0;
  const t = new Float64Array(cols);
  for (let r = 0; r < rows; r++) {
    const x = a.subarray(r * cols, (r + 1) * cols);
    t.fill(0);
    for (let i = 0; i < cols; i++) { const xi = x[i]; if (xi === 0) continue; const base = i * cols; for (let j = 0; j < cols; j++) t[j] += xi * m[base + j]; }
    let s = 0;
    for (let j = 0; j < cols; j++) s += t[j] * b[r * cols + j];
    total += s;
  }
  return total;
}

/** Σ over rows of Δw_r H Δw_rᵀ (Δ = quantized - float, [rows, cols]), the output error energy over the sampled inputs. */
export function errorEnergy(delta: Float64Array, rows: number, cols: number, h: Float64Array): number {
  return bilinear(delta, delta, rows, cols, h);
}

/**
 * SQNR (dB) of the layer's output (before its bias) with weights `q` against `w`, over the calibration rows:
 * 10 log10(Σ (w x)² / Σ (q x̂ - w x + δb)²), x̂ = x unless the statistics are sequential (`stats.quantized`: the
 * input once the layers before are quantized); `biasShift` (per row, added to the output) enters through the means.
 */
export function layerSqnrDb(w: Float64Array, q: Float64Array, rows: number, cols: number, stats: LayerInputStats, biasShift?: Float64Array): number {
  const delta = new Float64Array(w.length);
  for (let i = 0; i < w.length; i++) delta[i] = q[i] - w[i];
  const n = Math.max(1, stats.rows);
  const sq = stats.quantized;
  let noise = sq ? (bilinear(delta, delta, rows, cols, sq.h) + 2 * bilinear(w, delta, rows, cols, sq.crossT) + bilinear(w, w, rows, cols, sq.dd)) / n : errorEnergy(delta, rows, cols, stats.h) / n;
  if (biasShift) {
    const dm = meanError(w, q, rows, cols, stats);
    for (let r = 0; r < rows; r++) noise += 2 * biasShift[r] * dm[r] + biasShift[r] * biasShift[r];
  }
  const signal = errorEnergy(w, rows, cols, stats.h) / n;
  if (noise <= 0) return 200;
  return Math.max(-200, Math.min(200, 10 * Math.log10(signal / noise)));
}

/** Per output row, the mean output error E[q x̂] - E[w x] over every input position. */
export function meanError(w: Float64Array, q: Float64Array, rows: number, cols: number, stats: LayerInputStats): Float64Array {
  const out = new Float64Array(rows);
  const mq = stats.quantized?.mean ?? stats.mean;
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let c = 0; c < cols; c++) s += q[r * cols + c] * mq[c] - w[r * cols + c] * stats.mean[c];
    out[r] = s;
  }
  return out;
}

/** The values as float32: float32 statistics as they are (fed to ONNX Runtime, never written), others converted. */
const f32 = (a: Float64Array | Float32Array): Float32Array => (a instanceof Float32Array ? a : Float32Array.from(a));

/** Measures the layer output SQNR of candidate weights for one layer (see layerSqnrDb); release() frees its session. */
export interface LayerErrorMeter {
  sqnrDb(q: Float64Array, biasShift?: Float64Array): Promise<number>;
  release(): Promise<void>;
}

/**
 * layerSqnrDb with the products by ONNX Runtime (float32) and the terms of the float weights computed once, so that
 * each candidate costs one [rows, K] × [K, K] product (wide layers: the JS loops took tens of seconds per layer).
 */
export async function layerErrorMeter(backend: InferenceBackend, w: Float64Array, rows: number, cols: number, stats: LayerInputStats): Promise<LayerErrorMeter> {
  const n = Math.max(1, stats.rows);
  const sq = stats.quantized;
  // one session for every product (the matrices are fed: no K x K model to encode and prepack per product)
  const product = await freeProduct(backend);
  const wf = Float32Array.from(w);
  const h = f32(sq ? sq.h : stats.h);
  let signal: number, p: Float32Array | undefined, wdd = 0;
  try {
    signal = dot(sq ? await product.run(wf, rows, cols, Float32Array.from(stats.h), cols) : await product.run(wf, rows, cols, h, cols), w) / n;
    if (sq) {
      p = await product.run(wf, rows, cols, f32(sq.crossT), cols);
      wdd = dot(await product.run(wf, rows, cols, f32(sq.dd), cols), w) / n;
    }
  } catch (e) {
    await product.release();
    throw e;
  }
  return {
    async sqnrDb(q, biasShift) {
      const delta = new Float32Array(w.length);
      for (let i = 0; i < w.length; i++) delta[i] = q[i] - w[i];
      let noise = dot(await product.run(delta, rows, cols, h, cols), delta) / n + (p ? 2 * dot(delta, p) / n : 0) + wdd;
      if (biasShift) {
        const dm = meanError(w, q, rows, cols, stats);
        for (let r = 0; r < rows; r++) noise += 2 * biasShift[r] * dm[r] + biasShift[r] * biasShift[r];
      }
      if (noise <= 0) return 200;
      return Math.max(-200, Math.min(200, 10 * Math.log10(signal / noise)));
    },
    release: () => product.release(),
  };
}
