/**
 * Weight-only blocked int4/int8 MatMul and Gemm as ONNX Runtime's `com.microsoft` `MatMulNBits` (contrib opset 1):
 * Y = A × dequant(B)ᵀ (+ bias), B dequantized per block of `block_size` along K as (code - zero_point) × scale.
 * Layout (ORT's contrib op spec, checked against ORT's output in test/integration/matmul-nbits.test.ts):
 * - B: uint8 [N, n_blocks, blob_size], n_blocks = ceil(K / block_size), blob_size = block_size × bits / 8;
 *   codes unsigned, packed low bits first along K (4-bit: element 2i in the low nibble, 2i+1 in the high one);
 *   the tail of the last block is padded with the block's zero point;
 * - scales: float [N × n_blocks] (row n's blocks contiguous);
 * - zero_points (only when some block's differs from 2^(bits-1), the default): uint8, per row ceil(n_blocks × bits / 8)
 *   bytes packed the same way.
 * A signed code q with zero point z is stored as q + 2^(bits-1) with zero point z + 2^(bits-1): the difference, hence
 * the value, is unchanged. Formats of 2..3 bits use the 4-bit container and 5..7 bits the 8-bit one.
 * Layers whose weight feeds several nodes (tied weights) get one packed B shared by every MatMulNBits that reads it.
 */
import { formatToString } from '../../shared/formats';
import { attrFloat, attrInt, Graph } from '../onnx/graph';
import { makeAttribute } from '../onnx/builder';
import { DataType, ModelProto, NodeProto, TensorProto } from '../onnx/proto';
import { toFloat32, Tensor } from '../onnx/tensor-data';
import { planWeightParams, QuantPlan, QuantPlanLayer } from './qdq-export';
import { quantize } from './quantize';

/** The contrib domain MatMulNBits lives in. */
export const MS_DOMAIN = 'com.microsoft';

/** Why a planned layer is (not) exported as MatMulNBits: undefined when it is. */
export function matMulNBitsBlocker(graph: Graph, layer: QuantPlanLayer): string | undefined {
  const w = layer.weight;
  if (!w || w.format.kind !== 'int' || w.format.granularity.kind !== 'block') return 'not a blocked integer weight';
  if (w.format.bits > 8) return 'more than 8 bits';
  if (layer.activations.some((a) => a.format.kind !== 'float')) return 'its activations are quantized (MatMulNBits is weight-only)';
  const bs = w.format.granularity.size;
  if (bs < 16 || (bs & (bs - 1)) !== 0) return `block size ${bs} is not a power of two >= 16`;
  const node = graph.byName.get(layer.node);
  if (!node) return 'no such node';
  const dims = graph.constantValue(w.tensor)?.dims ?? graph.valueInfo.get(w.tensor)?.shape;
  if (!dims || dims.length !== 2 || node.inputs[1] !== w.tensor) return 'the weight is not the 2-D second input';
  if (w.format.granularity.axis !== undefined && w.format.granularity.axis !== w.reductionAxis) return 'blocks do not run along K';
  if (node.opType === 'MatMul') return w.reductionAxis === 0 ? undefined : 'unexpected weight layout';
  if (node.opType === 'Gemm') {
    if (attrInt(node.proto, 'transA', 0) !== 0 || attrFloat(node.proto, 'alpha', 1) !== 1) return 'Gemm with transA or alpha';
    const c = node.inputs[2];
    if (c) {
      const t = graph.constantValue(c);
      if (!t || attrFloat(node.proto, 'beta', 1) !== 1 || t.dims.reduce((a, b) => a * b, 1) !== Number(dims[w.channelAxis]) || t.type !== DataType.FLOAT) return 'Gemm bias is not a float constant of N values';
    }
    return undefined;
  }
  return `${node.opType} is not MatMul or Gemm`;
}

/** Packs unsigned codes [rows, count] (each row `count` values, padded to `padTo` with `pad[row]`) `bits` per value, low bits first. */
function packRows(codes: Int32Array, rows: number, count: number, padTo: number, bits: number, pad: (r: number) => number): Uint8Array {
  const perRow = (padTo * bits) / 8;
  const out = new Uint8Array(rows * Math.ceil(perRow));
  const rowBytes = Math.ceil(perRow);
  for (let r = 0; r < rows; r++) {
    for (let i = 0; i < padTo; i++) {
      const v = i < count ? codes[r * count + i] : pad(r);
      if (bits === 8) out[r * rowBytes + i] = v;
      else out[r * rowBytes + (i >> 1)] |= (v & 0xf) << ((i & 1) * 4);
    }
  }
  return out;
}

/** The MatMulNBits initializers of one weight: B, scales and (when needed) zero points, from the plan's quantizer. */
export function packMatMulNBits(w: NonNullable<QuantPlanLayer['weight']>, data: Float32Array, dims: number[]): { k: number; n: number; bits: number; blockSize: number; b: Uint8Array; scales: Float32Array; zeroPoints?: Uint8Array } {
  if (w.format.kind !== 'int' || w.format.granularity.kind !== 'block') throw new Error('MatMulNBits needs a blocked integer format');
  const { params } = planWeightParams(w, data, dims);
  const codes = quantize(data, dims, params);
  const bits = w.format.bits <= 4 ? 4 : 8;
  const offset = w.format.signed ? 2 ** (bits - 1) : 0;
  const blockSize = w.format.granularity.size;
  const kAxis = w.reductionAxis;
  const K = dims[kAxis], N = dims[1 - kAxis];
  const nb = Math.ceil(K / blockSize);
  // codes and zero points in [N, K] / [N, nb] order, unsigned
  const nk = new Int32Array(N * K);
  for (let n = 0; n < N; n++) for (let k = 0; k < K; k++) nk[n * K + k] = codes[kAxis === 0 ? k * N + n : n * K + k] + offset;
  const scales = new Float32Array(N * nb);
  const zp = new Int32Array(N * nb);
  for (let n = 0; n < N; n++) for (let b = 0; b < nb; b++) {
    const p = kAxis === 0 ? b * N + n : n * nb + b;
    scales[n * nb + b] = params.scale[p];
    zp[n * nb + b] = params.zeroPoint[p] + offset;
  }
  const b = packRows(nk, N, K, nb * blockSize, bits, (n) => zp[n * nb + nb - 1]);
  const needZp = zp.some((z) => z !== 2 ** (bits - 1));
  return { k: K, n: N, bits, blockSize, b, scales, zeroPoints: needZp ? packRows(zp, N, nb, nb, bits, () => 0) : undefined };
}

/**
 * Replaces the given planned layers of an exported model (`exported`, where their weights were left in float) by
 * MatMulNBits nodes reading packed weights; weights nothing reads any more are dropped. `original` gives the weight
 * values (or `weightValues` for derived ones).
 */
export function applyMatMulNBits(exported: ModelProto, original: Graph, layers: QuantPlan, weightValues?: Map<string, Tensor>, accuracyLevel = 0): ModelProto {
  if (!layers.length) return exported;
  const g = exported.graph!;
  const taken = new Set<string>([...(g.initializer ?? []).map((t) => t.name ?? ''), ...(g.node ?? []).flatMap((n) => [...(n.output ?? []), n.name ?? ''])]);
  const fresh = (hint: string) => { let s = hint, i = 0; while (taken.has(s)) s = `${hint}_${++i}`; taken.add(s); return s; };
  const added: TensorProto[] = [];
  const packed = new Map<string, { b: string; scales: string; zp?: string; k: number; n: number; bits: number; blockSize: number }>();
  const byName = new Map(layers.map((l) => [l.node, l]));
  const replaced = new Set<string>();
  const node = (g.node ?? []).map((nd): NodeProto => {
    const l = byName.get(nd.name ?? '');
    if (!l) return nd;
    const w = l.weight!;
    const key = `${w.tensor}|${formatToString(w.format)}`;
    let p = packed.get(key);
    if (!p) {
      const t = original.constantValue(w.tensor) ?? weightValues?.get(w.tensor);
      if (!t) throw new Error(`no value for weight '${w.tensor}'`);
      const r = packMatMulNBits(w, toFloat32(t), t.dims.slice());
      const nb = Math.ceil(r.k / r.blockSize);
      const b = fresh(`${w.tensor}_Q${r.bits}`);
      added.push({ name: b, dims: [r.n, nb, (r.blockSize * r.bits) / 8], data_type: DataType.UINT8, raw_data: r.b });
      const scales = fresh(`${w.tensor}_scales`);
      added.push({ name: scales, dims: [r.n * nb], data_type: DataType.FLOAT, raw_data: new Uint8Array(r.scales.buffer.slice(0)) });
      let zp: string | undefined;
      if (r.zeroPoints) { zp = fresh(`${w.tensor}_zero_points`); added.push({ name: zp, dims: [r.zeroPoints.length], data_type: DataType.UINT8, raw_data: r.zeroPoints }); }
      p = { b, scales, zp, k: r.k, n: r.n, bits: r.bits, blockSize: r.blockSize };
      packed.set(key, p);
    }
    replaced.add(w.tensor);
    const inputs = nd.input ?? [];
    let bias = nd.op_type === 'Gemm' && inputs[2] ? inputs[2] : '';
    if (bias) {
      const t = original.constantValue(bias);
      if (t && t.dims.length !== 1) {
        const name = fresh(`${bias}_1d`);
        added.push({ name, dims: [p.n], data_type: DataType.FLOAT, raw_data: new Uint8Array(toFloat32(t).slice().buffer) });
        bias = name;
      }
    }
    const ins = [inputs[0], p.b, p.scales, p.zp ?? '', '', bias];
    while (ins.length && ins[ins.length - 1] === '') ins.pop();
    return {
      name: nd.name, op_type: 'MatMulNBits', domain: MS_DOMAIN, input: ins, output: nd.output,
      attribute: [makeAttribute('K', p.k), makeAttribute('N', p.n), makeAttribute('bits', p.bits), makeAttribute('block_size', p.blockSize), makeAttribute('accuracy_level', accuracyLevel)],
    };
  });
  const used = new Set<string>();
  for (const n of node) for (const i of n.input ?? []) used.add(i);
  for (const o of g.output ?? []) used.add(o.name ?? '');
  const dead = (name: string) => replaced.has(name) && !used.has(name);
  const opsets = (exported.opset_import ?? []).filter((o) => o.domain !== MS_DOMAIN);
  return {
    ...exported,
    opset_import: [...opsets, { domain: MS_DOMAIN, version: 1 }],
    graph: { ...g, node, initializer: [...(g.initializer ?? []).filter((t) => !dead(t.name ?? '')), ...added], input: (g.input ?? []).filter((v) => !dead(v.name ?? '')) },
  };
}
