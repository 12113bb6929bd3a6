/**
 * AdaRound (Nagel et al., 2020): learns, per weight, whether to round down or up. The rounding offset is a
 * rectified sigmoid h(V) = clip(σ(V)(ζ - γ) + γ, 0, 1) (ζ = 1.1, γ = -0.1) of a free variable V, optimised with
 * Adam on the layer-wise reconstruction loss ||(W̃ - W) x||² averaged over the calibration rows and output
 * channels, plus λ Σ (1 - |2h - 1|^β), a regulariser that pushes every h to 0 or 1 as β is annealed from 20 to
 * 2 (off for the first 20% of the iterations). With sequential statistics (repair.ts, the default) the loss is
 * the paper's asymmetric one, ||W̃ x̂ - W x||²: x̂ is the input once the layers before are quantized, so a layer
 * also makes up for the error of those before it. The gradient needs (W̃ - W) H with H = Σ x̂ x̂ᵀ (plus a fixed
 * term): a [rows, K] × [K, K] product per iteration, which ONNX Runtime computes (a one-MatMul session with H
 * baked in: a [64, 784] x [784, 784] product per step on the MNIST CNN's first fully connected layer); the rest is
 * elementwise JS. The quantizer (scales, zero points) stays round to nearest's, so only the codes change.
 * Deterministic: no random numbers (full-batch gradient from H).
 */
import { GraphBuilder } from '../../onnx/builder';
import { DataType } from '../../onnx/proto';
import { InferenceBackend } from '../../runtime/backend';
import { LayerInputStats } from './layer-inputs';
import { WeightMatrix } from './layer-matrix';
import { matmul } from './ort-matmul';
import { createProtoSession } from '../../runtime/proto-session';

/** Options of adaround. */
export interface AdaRoundOptions {
  /**
   * Adam iterations (default 1000: on the MNIST CNN at W2 per-channel, with sequential inputs, 500 left 6-13% of the
   * soft roundings undecided when β reached 2 (accuracy 88%); 1000 gave 93.5%, 2000 93.3%).
   */
  iterations?: number;
  /** Adam learning rate on V (default 0.01). */
  learningRate?: number;
  /** Weight of the rounding regulariser (default 0.5: measured on the MNIST CNN at W2, 0.01 left the soft rounding undecided; 0.3-1 lifted the layer SQNRs by 3-7 dB). */
  lambda?: number;
  /** Called every 50 iterations with (done, total); may throw to cancel. */
  onIteration?: (done: number, total: number) => void;
}

const ZETA = 1.1;
const GAMMA = -0.1;

/** A function computing D H (D [rows, K]) with ONNX Runtime, H fixed; release() frees the session. */
async function hessianProduct(backend: InferenceBackend, h: Float64Array | Float32Array, rows: number, K: number): Promise<{ run(d: Float32Array): Promise<Float32Array>; release(): Promise<void> }> {
  const b = new GraphBuilder('adaround_grad');
  b.input('d', DataType.FLOAT, [rows, K]);
  const hn = b.initializer('h', { type: DataType.FLOAT, dims: [K, K], data: Float32Array.from(h) });
  b.node('MatMul', ['d', hn], {}, { name: 'dh', output: 'g' });
  b.output('g', DataType.FLOAT, [rows, K]);
  // no memory arena: freed outputs and temporaries go back to the system (see gramProduct)
  const session = await createProtoSession(backend, b.model(13), { optimization: 'all', threads: 1, arena: false });
  return {
    run: async (d) => (await session.run({ d: { type: DataType.FLOAT, dims: [rows, K], data: d } }, ['g'])).g.data as Float32Array,
    release: () => session.release(),
  };
}

/** The integer codes AdaRound learns for a weight matrix (the quantizer `m` gives the grid). */
export async function adaround(m: WeightMatrix, stats: LayerInputStats, backend: InferenceBackend, o: AdaRoundOptions = {}): Promise<Int32Array> {
  const iters = o.iterations ?? 1000;
  const lr = o.learningRate ?? 0.01;
  const lambda = o.lambda ?? 0.5;
  const n = m.w.length;
  const K = m.cols;
  const floor = new Float64Array(n);
  const v = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const x = Math.fround(m.w[i] / m.scale[i]);
    const f = Math.floor(x);
    floor[i] = f;
    // start at h(V) = the fractional part, i.e. the unrounded weight
    const rest = Math.min(Math.max(x - f, 0.01), 0.99);
    v[i] = -Math.log((ZETA - GAMMA) / (rest - GAMMA) - 1);
  }
  const mAdam = new Float64Array(n), vAdam = new Float64Array(n);
  const d = new Float32Array(n);
  const hval = new Float64Array(n);
  const sgv = new Float64Array(n);
  const inside = new Uint8Array(n);
  const norm = 2 / Math.max(1, stats.rows);
  // sequential statistics: the loss ||W̃ x̂ - W x||² has gradient 2 (Δ Σx̂x̂ᵀ + W Σδx̂ᵀ) / rows; the second term is fixed
  const sq = stats.quantized;
  // W Σδx̂ᵀ: row r, column i = Σ_j W[r, j] crossT[j K + i] (crossT = Σ δ x̂ᵀ)
  const offset = sq ? await matmul(backend, m.w, m.rows, sq.crossT, K, K) : undefined;
  const product = await hessianProduct(backend, sq ? sq.h : stats.h, m.rows, K);
  const warmup = Math.floor(iters * 0.2);
  try {
    for (let t = 1; t <= iters; t++) {
      for (let i = 0; i < n; i++) {
        const sg = 1 / (1 + Math.exp(-v[i]));
        sgv[i] = sg;
        const h = Math.min(1, Math.max(0, sg * (ZETA - GAMMA) + GAMMA));
        hval[i] = h;
        const code = floor[i] + h + m.zero[i];
        const c = code < m.qmin ? m.qmin : code > m.qmax ? m.qmax : code;
        inside[i] = code >= m.qmin && code <= m.qmax ? 1 : 0;
        d[i] = (c - m.zero[i]) * m.scale[i] - m.w[i];
      }
      const g = await product.run(d);
      const beta = t <= warmup ? 0 : 20 - (18 * (t - warmup)) / Math.max(1, iters - warmup);
      const c1 = 1 / (1 - 0.9 ** t), c2 = 1 / (1 - 0.999 ** t);
      for (let i = 0; i < n; i++) {
        const h = hval[i];
        if (h <= 0 || h >= 1) continue; // rectified: no gradient through the clip
        const sg = sgv[i];
        let dh = inside[i] ? (g[i] + (offset ? offset[i] : 0)) * norm * m.scale[i] : 0;
        if (beta > 0) {
          const u = 2 * h - 1;
          if (u !== 0) dh -= 2 * lambda * beta * Math.pow(u < 0 ? -u : u, beta - 1) * (u < 0 ? -1 : 1);
        }
        const grad = dh * sg * (1 - sg) * (ZETA - GAMMA);
        const ma = 0.9 * mAdam[i] + 0.1 * grad, va = 0.999 * vAdam[i] + 0.001 * grad * grad;
        mAdam[i] = ma;
        vAdam[i] = va;
        v[i] -= (lr * ma * c1) / (Math.sqrt(va * c2) + 1e-8);
      }
      if (t % 50 === 0) o.onIteration?.(t, iters);
    }
  } finally {
    await product.release();
  }
  const q = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const code = floor[i] + (v[i] >= 0 ? 1 : 0) + m.zero[i];
    q[i] = code < m.qmin ? m.qmin : code > m.qmax ? m.qmax : code;
  }
  return q;
}
