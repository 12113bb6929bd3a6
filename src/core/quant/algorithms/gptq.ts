/**
 * GPTQ (Frantar et al., 2022): quantizes a layer's weight one input column at a time and spreads each column's
 * rounding error over the columns not yet quantized, weighted by the inverse Hessian of the layer-wise loss
 * ||W X - Q X||² (H = X Xᵀ from the calibration inputs, dampened by 1% of its mean diagonal). The quantizer
 * (scales, zero points) is the round-to-nearest one of the original weight, so the export is unchanged. With
 * sequential statistics (the layers before already quantized) H is that of the quantized input x̂ and, by default,
 * the target is the float layer's output W x: GPTQ then rounds W* = the least-squares weights for x̂ (see below).
 */
import { inverseUpperFactorOrt } from './ort-linalg';
import { quantizeOne, WeightMatrix } from './layer-matrix';
import { LayerInputStats } from './layer-inputs';
import { InferenceBackend } from '../../runtime/backend';
import { FreeProduct, freeProduct } from './ort-matmul';

/** Options of gptq. */
export interface GptqOptions {
  /** Dampening as a fraction of the mean diagonal of H (default 0.01). */
  damp?: number;
  /** Checked once per row; throw to cancel. */
  check?: () => void;
  /** With sequential statistics, aim at the float layer's output W x (default) instead of W x̂. */
  asymmetric?: boolean;
}

/**
 * Columns GPTQ quantizes together. Inside a block the error spreads column by column in JS; a block first receives the
 * errors of every block before it in one ORT product ("lazy batch" updates, left-looking: W[:, b] -= E[:, <b] U[<b, b]),
 * so JS does about rows x K x (BLOCK / 2 + 1) multiply-adds and ORT the rest (right-looking at 128 columns, JS also
 * subtracted each block's product from every later column: rows x K x (64 + K / 256)). The same codes; 512 x 2304
 * int8 1.36 -> 1.00 s, 1000 x 2048 1.40 -> 0.91 s; ResNet-50's repair candidates + export fit 17.1 -> 14.4 s.
 */
const BLOCK = 32;

/** The integer codes GPTQ chooses for a weight matrix. */
export async function gptq(m: WeightMatrix, stats: LayerInputStats, backend: InferenceBackend, o: GptqOptions = {}): Promise<Int32Array> {
  const K = m.cols, rows = m.rows;
  const sq = stats.quantized;
  const h = Float64Array.from(sq ? sq.h : stats.h);
  const dead = new Uint8Array(K);
  let diag = 0;
  for (let i = 0; i < K; i++) { if (h[i * K + i] === 0) { h[i * K + i] = 1; dead[i] = 1; } diag += h[i * K + i]; }
  const damp = (o.damp ?? 0.01) * diag / K;
  for (let i = 0; i < K; i++) h[i * K + i] += damp;
  // upper factor U of H⁻¹ = Uᵀ U
  const u = await inverseUpperFactorOrt(backend, h, K, o.check, true); // h is this call's own copy
  const product = await freeProduct(backend);
  const earlier = await freeProduct(backend, undefined, { transposeA: true });
  try {
    const target = sq && (o.asymmetric ?? true) ? await asymmetricTarget(m, sq.crossT, u, product) : m.w;
    const w = new Float64Array(rows * K);
    for (let r = 0; r < rows; r++) for (let i = 0; i < K; i++) w[r * K + i] = dead[i] ? 0 : target[r * K + i];
    const q = new Int32Array(m.w.length);
    // the scaled errors, column by column: errT[i * rows + r] for column i of row r (Eᵀ, so a prefix holds every earlier block)
    const errT = new Float32Array(K * rows);
    for (let i1 = 0; i1 < K; i1 += BLOCK) {
      o.check?.();
      const i2 = Math.min(K, i1 + BLOCK), nb = i2 - i1;
      if (i1 > 0) {
        // W[:, i1:i2] -= E[:, :i1] U[:i1, i1:i2]
        const ub = new Float32Array(i1 * nb);
        for (let i = 0; i < i1; i++) for (let j = 0; j < nb; j++) ub[i * nb + j] = u[i * K + i1 + j];
        const d = await earlier.run(errT.subarray(0, i1 * rows), rows, i1, ub, nb);
        for (let r = 0; r < rows; r++) for (let j = 0; j < nb; j++) w[r * K + i1 + j] -= d[r * nb + j];
      }
      for (let r = 0; r < rows; r++) {
        const base = r * K;
        for (let i = i1; i < i2; i++) {
          const s = m.scale[base + i], z = m.zero[base + i];
          const code = quantizeOne(w[base + i], s, z, m.qmin, m.qmax);
          q[base + i] = code;
          const e = (w[base + i] - Math.fround((code - z) * s)) / u[i * K + i];
          if (e === 0) continue;
          errT[i * rows + r] = e;
          const ui = i * K;
          for (let j = i + 1; j < i2; j++) w[base + j] -= e * u[ui + j];
        }
      }
    }
    return q;
  } finally {
    await product.release();
    await earlier.release();
  }
}

/**
 * The weights W* that minimise ||W* x̂ - W x||² over the rows: W* = W - (W Σδx̂ᵀ) H⁻¹ (H = Σ x̂x̂ᵀ dampened), so that
 * ||Q x̂ - W x||² = ||(Q - W*) x̂||² + const and GPTQ on W* with H aims at the float layer's output. H⁻¹ = Uᵀ U.
 */
async function asymmetricTarget(m: WeightMatrix, crossT: Float64Array | Float32Array, u: Float64Array, product: FreeProduct): Promise<Float64Array> {
  const K = m.cols;
  const ut = new Float32Array(K * K), uf = Float32Array.from(u);
  for (let i = 0; i < K; i++) for (let j = 0; j < K; j++) ut[i * K + j] = u[j * K + i];
  const e = await product.run(Float32Array.from(m.w), m.rows, K, crossT instanceof Float32Array ? crossT : Float32Array.from(crossT), K);
  const correction = await product.run(await product.run(e, m.rows, K, ut, K), m.rows, K, uf, K);
  const out = Float64Array.from(m.w);
  for (let i = 0; i < out.length; i++) out[i] -= correction[i];
  return out;
}
