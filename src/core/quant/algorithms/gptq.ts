/**
 * GPTQ (Frantar et al., 2022): quantizes a layer's weight one input column at a time and spreads each column's
 * rounding error over the columns not yet quantized, weighted by the inverse Hessian of the layer-wise loss
 * ||W X - Q X||² (H = X Xᵀ from the calibration inputs, dampened by 1% of its mean diagonal). The quantizer
 * (scales, zero points) is the round-to-nearest one of the original weight, so the export is unchanged. With
 * sequential statistics (the layers before already quantized) H is that of the quantized input x̂ and, by default,
 * the target is the float layer's output W x: GPTQ then rounds W* = the least-squares weights for x̂ (see below).
 */
import { cholesky, choleskyInverse } from './linalg';
import { quantizeOne, WeightMatrix } from './layer-matrix';
import { LayerInputStats } from './layer-inputs';
import { InferenceBackend } from '../../runtime/backend';
import { matmul } from './ort-matmul';

/** Options of gptq. */
export interface GptqOptions {
  /** Dampening as a fraction of the mean diagonal of H (default 0.01). */
  damp?: number;
  /** Checked once per row; throw to cancel. */
  check?: () => void;
  /** With sequential statistics, aim at the float layer's output W x (default) instead of W x̂. */
  asymmetric?: boolean;
}

/** The integer codes GPTQ chooses for a weight matrix. */
export async function gptq(m: WeightMatrix, stats: LayerInputStats, backend: InferenceBackend, o: GptqOptions = {}): Promise<Int32Array> {
  const K = m.cols;
  const sq = stats.quantized;
  const h = Float64Array.from(sq ? sq.h : stats.h);
  const dead = new Uint8Array(K);
  let diag = 0;
  for (let i = 0; i < K; i++) { if (h[i * K + i] === 0) { h[i * K + i] = 1; dead[i] = 1; } diag += h[i * K + i]; }
  const damp = (o.damp ?? 0.01) * diag / K;
  for (let i = 0; i < K; i++) h[i * K + i] += damp;
  // upper factor U of H⁻¹ = Uᵀ U: the transpose of the lower Cholesky factor of H⁻¹
  const hinv = choleskyInverse(cholesky(h, K), K);
  const lower = cholesky(hinv, K);
  const u = new Float64Array(K * K);
  for (let i = 0; i < K; i++) for (let j = i; j < K; j++) u[i * K + j] = lower[j * K + i];
  const target = sq && (o.asymmetric ?? true) ? await asymmetricTarget(m, sq.cross, hinv, backend) : m.w;
  const q = new Int32Array(m.w.length);
  const w = new Float64Array(K);
  for (let r = 0; r < m.rows; r++) {
    o.check?.();
    const base = r * K;
    for (let i = 0; i < K; i++) w[i] = dead[i] ? 0 : target[base + i];
    for (let i = 0; i < K; i++) {
      const s = m.scale[base + i], z = m.zero[base + i];
      const code = quantizeOne(w[i], s, z, m.qmin, m.qmax);
      q[base + i] = code;
      const uii = u[i * K + i];
      const err = (w[i] - Math.fround((code - z) * s)) / uii;
      if (err === 0) continue;
      const ui = i * K;
      for (let j = i + 1; j < K; j++) w[j] -= err * u[ui + j];
    }
  }
  return q;
}

/**
 * The weights W* that minimise ||W* x̂ - W x||² over the rows: W* = W - (W Σδx̂ᵀ) H⁻¹ (H = Σ x̂x̂ᵀ dampened), so that
 * ||Q x̂ - W x||² = ||(Q - W*) x̂||² + const and GPTQ on W* with H aims at the float layer's output.
 */
async function asymmetricTarget(m: WeightMatrix, cross: Float64Array, hinv: Float64Array, backend: InferenceBackend): Promise<Float64Array> {
  const K = m.cols;
  const e = await matmul(backend, m.w, m.rows, cross, K, K, true);
  const correction = await matmul(backend, e, m.rows, hinv, K, K);
  const out = Float64Array.from(m.w);
  for (let i = 0; i < out.length; i++) out[i] -= correction[i];
  return out;
}
