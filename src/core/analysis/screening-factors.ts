/**
 * Screening of big MatMul weights without weight-sized gradients. For Y = X·W (W [in, out], X [rows, in]) the weight
 * gradient of one run is Xᵀ·gY, so its Fisher term Σᵢⱼ δᵢⱼ² (Σᵣ Xᵣᵢ gYᵣⱼ)² needs only X and gY (rows x (in + out)
 * values per run instead of in x out). The screening graph returns X and gY, and the term is computed here row by row
 * of W after the runs, one weight format at a time (no gradient, no accumulated Fisher diagonal the size of W). The
 * graph reads such a weight as an input fed from the float weight already in memory (ONNX Runtime uses the buffer in
 * place), and its backward passes gX = gY·Wᵀ through Gemm(transB) so that no transposed copy of W is folded.
 */
import { GradContext, GradRule } from '../train/grad-context';

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

/** The gradient rule of a factored MatMul: only gX = gY·Wᵀ (as Gemm with transB, no Transpose of W). */
export const factorMatMulRule: GradRule = (ctx: GradContext, n, [gy]) => {
  const [a, w] = n.inputs;
  if (!gy || !ctx.needs(a)) return [];
  const as = ctx.shape(a), ws = ctx.shape(w);
  const rows = as.slice(0, -1).reduce((p, c) => p * c, 1);
  const g = ctx.op('Gemm', [ctx.reshape(gy, [rows, ws[1]]), w], { transB: 1 });
  return [ctx.reshape(g, as), undefined];
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
