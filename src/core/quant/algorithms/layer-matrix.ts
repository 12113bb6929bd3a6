/**
 * The view every repair algorithm works in: a layer's weight as a matrix W [O, K] (one row per output
 * channel, K = the reduction: input channels × kernel positions), each element with its own quantizer
 * (scale, zero point, bounds), and conversions back to the weight's stored layout.
 */
import { QuantLayer } from '../../onnx/layer';
import { QuantParams, splitDims, weightLayout } from '../qparams';
import { QuantPlanLayer } from '../qdq-export';
import { planWeightParams } from '../qdq-export';

/** A weight as rows = output channels, columns = reduction, with per-element quantizers. */
export interface WeightMatrix {
  rows: number;
  cols: number;
  /** Row-major [rows, cols] values (float64 for the algorithms' arithmetic). */
  w: Float64Array;
  /** Per-element scale and zero point, row-major like `w`. */
  scale: Float32Array;
  zero: Int32Array;
  qmin: number;
  qmax: number;
  /** The quantizer in the stored layout (what the export uses, fixed in the plan after repair). */
  params: QuantParams;
  /** The stored dims of the weight. */
  dims: number[];
  /** True when the stored layout is [K, O] (MatMul, Gemm without transB): rows are the stored columns. */
  transposed: boolean;
}

/** Adding and subtracting 1.5 * 2^52 rounds a double to an integer, half to even. */
const RNE = 6755399441055744;

/** QuantizeLinear of one value with one element's quantizer (the export's arithmetic, see quant/quantize.ts). */
export function quantizeOne(v: number, s: number, z: number, qmin: number, qmax: number): number {
  let r = (Math.fround(v / s) + RNE) - RNE + z;
  r = r < qmin ? qmin : r > qmax ? qmax : r;
  return r;
}

/** Per-element scale/zero point of `params` over a tensor of shape `dims` (same walk as QuantizeLinear). */
export function expandParams(dims: readonly number[], params: QuantParams): { scale: Float32Array; zero: Int32Array } {
  const n = dims.reduce((a, b) => a * b, 1);
  const scale = new Float32Array(n);
  const zero = new Int32Array(n);
  if (params.axis === undefined) { scale.fill(params.scale[0]); zero.fill(params.zeroPoint[0]); return { scale, zero }; }
  const { outer, extent, inner } = splitDims(dims, params.axis);
  const bs = params.blockSize;
  for (let o = 0; o < outer; o++) {
    for (let d = 0; d < extent; d++) {
      for (let k = 0; k < inner; k++) {
        const i = (o * extent + d) * inner + k;
        const p = bs === undefined ? d : (o * Math.ceil(extent / bs) + Math.floor(d / bs)) * inner + k;
        scale[i] = params.scale[p];
        zero[i] = params.zeroPoint[p];
      }
    }
  }
  return { scale, zero };
}

/** True when the layer's weight can be viewed as [O, K] (Conv group 1, Gemm, MatMul with a 2-D weight). */
export function hasMatrixView(layer: QuantLayer, group = 1): boolean {
  const w = layer.weight;
  if (!w || group !== 1) return false;
  if (layer.kind === 'conv') return w.channelAxis === 0 && w.dims.length >= 3;
  if (layer.kind === 'gemm' || layer.kind === 'matmul') return w.dims.length === 2 && w.channelAxis !== w.reductionAxis;
  return false;
}

/**
 * The matrix view of a planned weight with the quantizer the plan gives (fixed parameters, else round to
 * nearest's min/max parameters of `data`).
 */
export function weightMatrix(w: NonNullable<QuantPlanLayer['weight']>, data: Float32Array, dims: number[]): WeightMatrix {
  const { params, dims: qdims } = planWeightParams(w, data, dims);
  const { scale, zero } = expandParams(qdims, params);
  const transposed = dims.length === 2 && w.channelAxis === 1;
  const rows = dims[w.channelAxis];
  const cols = data.length / rows;
  const m = new Float64Array(data.length);
  const s = new Float32Array(data.length);
  const z = new Int32Array(data.length);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const src = transposed ? c * rows + r : r * cols + c;
      m[r * cols + c] = data[src];
      s[r * cols + c] = scale[src];
      z[r * cols + c] = zero[src];
    }
  }
  return { rows, cols, w: m, scale: s, zero: z, qmin: params.qmin, qmax: params.qmax, params, dims, transposed };
}

/** Matrix values [rows, cols] back in the stored layout as float32. */
export function toStored(m: Pick<WeightMatrix, 'rows' | 'cols' | 'transposed'>, values: Float64Array | Float32Array): Float32Array {
  const out = new Float32Array(values.length);
  for (let r = 0; r < m.rows; r++) for (let c = 0; c < m.cols; c++) out[m.transposed ? c * m.rows + r : r * m.cols + c] = values[r * m.cols + c];
  return out;
}

/** Integer codes [rows, cols] to their dequantized values (q - z) * s in float32: what DequantizeLinear gives. */
export function dequantizeCodes(m: WeightMatrix, q: Int32Array): Float64Array {
  const out = new Float64Array(q.length);
  for (let i = 0; i < q.length; i++) out[i] = Math.fround((q[i] - m.zero[i]) * m.scale[i]);
  return out;
}

/** Round to nearest of every element (the codes QuantizeLinear gives). */
export function roundToNearest(m: WeightMatrix, w: Float64Array = m.w): Int32Array {
  const q = new Int32Array(w.length);
  for (let i = 0; i < w.length; i++) q[i] = quantizeOne(w[i], m.scale[i], m.zero[i], m.qmin, m.qmax);
  return q;
}

/** The reduction layout of a weight, for mapping input channels to matrix columns: columns = channels × positions. */
export function columnsPerChannel(layer: QuantLayer): number {
  const d = layer.weight!.dims;
  return layer.kind === 'conv' ? d.slice(2).reduce((a, b) => a * b, 1) : 1;
}

export { weightLayout };
