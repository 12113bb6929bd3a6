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
import { GraphBuilder } from '../onnx/builder';
import { DataType, ModelProto } from '../onnx/proto';
import { Tensor, toFloat32 } from '../onnx/tensor-data';
import { InferenceBackend } from '../runtime/backend';
import { createProtoSession } from '../runtime/proto-session';

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

  /**
   * The Fisher diagonal of W, Σ over runs of (Xᵀ·gY)² per element ([inDim, outDim], row-major), once for every weight
   * format: ONNX Runtime computes it for blocks of W's rows, every run of a block in one batched product, squared and
   * summed over the runs in the graph (the JS loops, per format, took 158 of a 284 s analysis of a 2.4 GB MLP).
   */
  async fisherDiagonal(f: FactorLayer, backend: InferenceBackend, o: { threads?: number; blockValues?: number } = {}): Promise<Float32Array> {
    const runs = this.runs.get(f.layer) ?? [];
    const { inDim, outDim } = f;
    const out = new Float32Array(inDim * outDim);
    if (!runs.length) return out;
    // every run padded to the most rows (zero rows add nothing to Xᵀ·gY)
    const rows = Math.max(...runs.map((r) => r.x.length / inDim));
    const gy = new Float32Array(runs.length * rows * outDim);
    runs.forEach((r, k) => gy.set(r.gy, k * rows * outDim));
    const block = Math.max(1, Math.min(inDim, Math.floor((o.blockValues ?? FISHER_BLOCK_VALUES) / (outDim * runs.length))));
    const session = await createProtoSession(backend, squaredProductsModel(), { optimization: 'all', threads: o.threads });
    try {
      const gyT: Tensor = { type: DataType.FLOAT, dims: [runs.length, rows, outDim], data: gy };
      for (let i0 = 0; i0 < inDim; i0 += block) {
        const nb = Math.min(block, inDim - i0);
        // X[:, i0:i0+nb]ᵀ of each run, [runs, nb, rows]
        const xt = new Float32Array(runs.length * nb * rows);
        runs.forEach(({ x }, k) => {
          const n = x.length / inDim, base = k * nb * rows;
          for (let r = 0; r < n; r++) for (let i = 0; i < nb; i++) xt[base + i * rows + r] = x[r * inDim + i0 + i];
        });
        const g = await session.run({ xt: { type: DataType.FLOAT, dims: [runs.length, nb, rows], data: xt }, gy: gyT }, ['g']);
        out.set(toFloat32(g.g), i0 * outDim);
      }
    } finally { await session.release(); }
    return out;
  }
}

/** g = Σ over the leading axis of (xt · gy)²: xt [runs, nb, rows], gy [runs, rows, out] → [nb, out]. */
function squaredProductsModel(): ModelProto {
  const b = new GraphBuilder('fisher-diagonal');
  b.input('xt', DataType.FLOAT, ['runs', 'nb', 'rows']);
  b.input('gy', DataType.FLOAT, ['runs', 'rows', 'out']);
  const p = b.node('MatMul', ['xt', 'gy']);
  const sq = b.node('Mul', [p, p]);
  b.node('ReduceSum', [sq, b.initializer('axes', { type: DataType.INT64, dims: [1], data: BigInt64Array.of(0n) })], { keepdims: 0 }, { output: 'g' });
  b.output('g', DataType.FLOAT, ['nb', 'out']);
  return b.model(13);
}

/** Values of the products (runs x block rows x outDim) one Fisher diagonal block holds at once (16M: 64 MB). */
const FISHER_BLOCK_VALUES = 1 << 24;
