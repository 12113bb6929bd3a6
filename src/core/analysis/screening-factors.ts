/**
 * Screening of big MatMul weights without weight-sized gradients. For Y = X·W (W [in, out], X [rows, in]) the weight
 * gradient of one run is Xᵀ·gY, so its Fisher term Σᵢⱼ δᵢⱼ² (Σᵣ Xᵣᵢ gYᵣⱼ)² needs only X and gY (rows x (in + out)
 * values per run instead of in x out). The screening graph returns X and gY, and the term is computed here row by row
 * of W after the runs, one weight format at a time (no gradient, no accumulated Fisher diagonal the size of W). The
 * graph reads such a weight as an input fed from the float weight already in memory (ONNX Runtime uses the buffer in
 * place), and its backward passes gX = gY·Wᵀ through Gemm(transB) so that no transposed copy of W is folded.
 */
import { GradRule } from '../train/grad-context';
import { GRAD_RULES } from '../train/grad-rules/index';

/** Weights with at least this many values are screened through their factors (X, gY) instead of their gradient. */
export const FACTOR_MIN_VALUES = 1 << 24;

/** Most values of stored factors per layer (over all runs); beyond, the layer is measured exactly instead. */
export const FACTOR_STORE_VALUES = 1 << 26;

/** A layer screened through its factors: the fetched tensors and the shapes. */
export interface FactorLayer {
  layer: string;
  /** Fetch names of X (the layer input) and gY (the gradient of its output). */
  x: string;
  gy: string;
  inDim: number;
  outDim: number;
}

/** True when a MatMul of this weight shape is worth screening through its factors. */
export function factorable(opType: string, weightInput: number, weightDims: readonly number[], minValues = FACTOR_MIN_VALUES): boolean {
  return opType === 'MatMul' && weightInput === 1 && weightDims.length === 2 && weightDims[0] * weightDims[1] >= minValues;
}

/**
 * The screening's gradient rule of a MatMul by a 2-D right operand (a layer's weight, or its copy): with X as [rows, in]
 * and gY as [rows, out], gX = gY·Wᵀ is a Gemm with transB (no Transpose of W for ONNX Runtime to fold into a copy) and
 * gW = Xᵀ·gY a Gemm with transA, written as [in, out] directly (the general rule's batched MatMul, ReduceSum over the
 * size-1 batch axis and Reshape copied every weight gradient three times: 2.5 of 11.4 s of kernel time on ViT-B/16).
 * A factored weight is a graph input without a gradient, so only gX is emitted for it. Other operand
 * ranks (a 1-D operand, a batched right operand) go to the general rule.
 */
export const weightMatMulRule: GradRule = (c, n, gys) => {
  const [a, w] = n.inputs;
  const as = c.shape(a), ws = c.shape(w);
  if (as.length < 2 || ws.length !== 2) return GRAD_RULES.MatMul(c, n, gys);
  const [gy] = gys;
  if (!gy) return [];
  const rows = as.slice(0, -1).reduce((p, d) => p * d, 1);
  const gy2 = c.reshape(gy, [rows, ws[1]]);
  const ga = c.needs(a) ? c.reshape(c.op('Gemm', [gy2, w], { transB: 1 }), as) : undefined;
  const gw = c.needs(w) ? c.op('Gemm', [c.reshape(a, [rows, ws[0]]), gy2], { transA: 1 }) : undefined;
  return [ga, gw];
};

/** The factors (X, gY) of every run, per layer, within FACTOR_STORE_VALUES. */
export class FactorStore {
  private readonly runs = new Map<string, { x: Float32Array; gy: Float32Array }[]>();
  private readonly values = new Map<string, number>();

  constructor(readonly limit = FACTOR_STORE_VALUES) {}

  /** Keeps one run's factors; false (and everything of the layer dropped) once the layer's factors exceed the limit. */
  add(layer: string, x: Float32Array, gy: Float32Array): boolean {
    const v = (this.values.get(layer) ?? 0) + x.length + gy.length;
    if (v > this.limit) { this.runs.delete(layer); this.values.set(layer, Infinity); return false; }
    this.values.set(layer, v);
    let l = this.runs.get(layer);
    if (!l) this.runs.set(layer, (l = []));
    l.push({ x, gy });
    return true;
  }

  /** Σ over runs and weight elements of δ² (Xᵀ·gY)², δ = fake − w (W [inDim, outDim], row-major). */
  fisher(f: FactorLayer, w: Float32Array, fake: Float32Array): number {
    const runs = this.runs.get(f.layer) ?? [];
    const { inDim, outDim } = f;
    const g = new Float64Array(outDim);
    const G = new Float64Array(outDim);
    let e = 0;
    for (let i = 0; i < inDim; i++) {
      G.fill(0);
      for (const { x, gy } of runs) {
        const rows = x.length / inDim;
        g.fill(0);
        for (let r = 0; r < rows; r++) {
          const xi = x[r * inDim + i];
          if (xi === 0) continue;
          const base = r * outDim;
          for (let j = 0; j < outDim; j++) g[j] += xi * gy[base + j];
        }
        for (let j = 0; j < outDim; j++) G[j] += g[j] * g[j];
      }
      const base = i * outDim;
      for (let j = 0; j < outDim; j++) { const d = fake[base + j] - w[base + j]; e += G[j] * d * d; }
    }
    return e;
  }
}
