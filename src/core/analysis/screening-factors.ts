/**
 * Screening of big MatMul weights without weight-sized gradients. For Y = X·W (W [in, out], X [rows, in]) the weight
 * gradient of one run is Xᵀ·gY, so its Fisher term Σᵢⱼ δᵢⱼ² (Σᵣ Xᵣᵢ gYᵣⱼ)² needs only X and gY (rows x (in + out)
 * values per run instead of in x out). The screening graph returns X and gY, and the term is computed here row by row
 * of W after the runs, one weight format at a time (no gradient, no accumulated Fisher diagonal the size of W). The
 * graph reads such a weight as an input fed from the float weight already in memory (ONNX Runtime uses the buffer in
 * place), and its backward passes gX = gY·Wᵀ through Gemm(transB) so that no transposed copy of W is folded.
 */
import { GradContext, GradRule } from '../train/grad-context';
import { FreeProduct } from '../quant/algorithms/ort-matmul';

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

  /**
   * Σ over runs and weight elements of δ² (Xᵀ·gY)², δ = fake − w (W [inDim, outDim], row-major). Each run's Xᵀ·gY
   * comes from ONNX Runtime in blocks of W's rows (FISHER_BLOCK_VALUES), never the whole gradient at once (the loops in
   * JS took 158 of a 284 s analysis of a 2.4 GB MLP).
   */
  async fisher(f: FactorLayer, w: Float32Array, fake: Float32Array, product: FreeProduct, blockValues = FISHER_BLOCK_VALUES): Promise<number> {
    const runs = this.runs.get(f.layer) ?? [];
    const { inDim, outDim } = f;
    const block = Math.max(1, Math.min(inDim, Math.floor(blockValues / outDim)));
    const G = new Float64Array(block * outDim);
    let e = 0;
    for (let i0 = 0; i0 < inDim; i0 += block) {
      const nb = Math.min(block, inDim - i0);
      G.fill(0);
      for (const { x, gy } of runs) {
        const rows = x.length / inDim;
        // X[:, i0:i0+nb]ᵀ, [nb, rows]
        const xt = new Float32Array(nb * rows);
        for (let r = 0; r < rows; r++) for (let i = 0; i < nb; i++) xt[i * rows + r] = x[r * inDim + i0 + i];
        const p = await product.run(xt, nb, rows, gy, outDim);
        for (let k = 0; k < nb * outDim; k++) G[k] += p[k] * p[k];
      }
      const base = i0 * outDim;
      for (let k = 0; k < nb * outDim; k++) { const d = fake[base + k] - w[base + k]; e += G[k] * d * d; }
    }
    return e;
  }
}

/** Values of one block of the weight gradient the Fisher term of factored layers holds at once (16M: 128 MB as float64). */
const FISHER_BLOCK_VALUES = 1 << 24;
