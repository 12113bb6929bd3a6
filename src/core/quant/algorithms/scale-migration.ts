/**
 * Moving a per-channel scale between a layer and the producer of its input, leaving the float model's function
 * unchanged: the producer's output channel c is divided by s_c (its weight rows and bias, or a
 * LayerNormalization's scale and bias) and the consumers' input channel c is multiplied by s_c. Between the
 * two only positively homogeneous per-channel ops may sit (Relu, MaxPool, Identity), each read by one node.
 * Used by cross-layer equalization and SmoothQuant (equalize.ts) and by AWQ (awq.ts).
 */
import { attrInt, Graph } from '../../onnx/graph';
import { QuantLayer } from '../../onnx/layer';
import { splitDims } from '../qparams';
import { LayerInputStats } from './layer-inputs';
import { columnsPerChannel } from './layer-matrix';

/** Where a migration takes the scale from. */
export type Absorber =
  | { kind: 'layer'; layer: QuantLayer; bias?: string }
  | { kind: 'layernorm'; scale: string; bias?: string };

/** A tensor whose channels can be rescaled: its producer absorbs 1/s, its consumers (all weight layers) take s. */
export interface Migration {
  /** The tensor the consumers read. */
  tensor: string;
  absorber: Absorber;
  consumers: QuantLayer[];
  channels: number;
}

const PASS_THROUGH = new Set(['Relu', 'MaxPool', 'Identity']);

/** Number of input channels a consumer's weight has (the reduction channels). */
function inputChannels(l: QuantLayer): number {
  const w = l.weight!;
  return w.dims[w.reductionAxis];
}

/**
 * The migration that rescales `layer`'s input, when there is one: walks back over Relu/MaxPool/Identity (each read
 * only by the next node) to a Conv/Gemm/MatMul layer with a float weight initializer or a LayerNormalization over the
 * last axis with initializer parameters; every consumer of the walked-back tensor must be a layer in `layers` that
 * reads it as its only activation input (so all of them can take the scale).
 */
export function findMigration(graph: Graph, layer: QuantLayer, layers: ReadonlyMap<string, QuantLayer>, tensorUses: (t: string) => number): Migration | undefined {
  if (!layer.weight || layer.activationInputs.length !== 1) return undefined;
  const tensor = layer.activationInputs[0];
  // Shape reads only the shape, which the scaling leaves alone
  const consumers = (graph.consumers.get(tensor) ?? []).filter((n) => n.opType !== 'Shape').map((n) => layers.get(n.name));
  if (consumers.some((c) => !c || !c.weight || c.activationInputs.length !== 1 || c.activationInputs[0] !== tensor || !graph.initializers.has(c.weight.tensor) || tensorUses(c.weight.tensor) !== 1)) return undefined;
  const group = consumers as QuantLayer[];
  if (group.some((c) => !['conv', 'gemm', 'matmul'].includes(c.kind))) return undefined;
  const channels = inputChannels(group[0]);
  if (group.some((c) => inputChannels(c) !== channels)) return undefined;
  let t = tensor;
  for (let hops = 0; hops < 8; hops++) {
    const p = graph.producer.get(t);
    if (!p) return undefined;
    if (PASS_THROUGH.has(p.opType)) {
      if ((graph.consumers.get(p.inputs[0]) ?? []).length !== 1 || graph.outputs.some((o) => o.name === p.inputs[0])) return undefined;
      t = p.inputs[0];
      continue;
    }
    if (p.opType === 'LayerNormalization') {
      const axis = attrInt(p.proto, 'axis', -1);
      const sc = p.inputs[1], b = p.inputs[2];
      if ((axis !== -1) || !graph.initializers.has(sc) || (b && !graph.initializers.has(b))) return undefined;
      if (tensorUses(sc) !== 1 || (b && tensorUses(b) !== 1)) return undefined;
      if (graph.constantValue(sc)!.dims.reduce((x, y) => x * y, 1) !== channels) return undefined;
      if (group.some((c) => c.kind === 'conv')) return undefined;
      return { tensor, absorber: { kind: 'layernorm', scale: sc, bias: b || undefined }, consumers: group, channels };
    }
    const prod = layers.get(p.name);
    if (!prod || !prod.weight || !graph.initializers.has(prod.weight.tensor) || tensorUses(prod.weight.tensor) !== 1) return undefined;
    if (!['conv', 'gemm', 'matmul'].includes(prod.kind) || prod.outputs[0] !== t) return undefined;
    if (prod.kind === 'conv' && attrInt(p.proto, 'group', 1) !== 1) return undefined;
    if (prod.weight.dims[prod.weight.channelAxis] !== channels) return undefined;
    const bias = prod.kind === 'matmul' ? undefined : p.inputs[2] || undefined;
    if (bias && (!graph.initializers.has(bias) || tensorUses(bias) !== 1)) return undefined;
    if (prod.kind === 'gemm' && bias && graph.constantValue(bias)!.dims.reduce((x, y) => x * y, 1) !== channels) return undefined;
    return { tensor, absorber: { kind: 'layer', layer: prod, bias }, consumers: group, channels };
  }
  return undefined;
}

/** Multiplies index c along `axis` of a tensor by f(c). */
function scaleAlong(data: Float32Array, dims: readonly number[], axis: number, f: (c: number) => number): void {
  const { outer, extent, inner } = splitDims(dims, axis);
  for (let o = 0; o < outer; o++) for (let c = 0; c < extent; c++) {
    const k = f(c);
    const base = (o * extent + c) * inner;
    for (let i = 0; i < inner; i++) data[base + i] = Math.fround(data[base + i] * k);
  }
}

/** Applies s to the working tensors (weights and biases by name, modified in place) and to the consumers' input statistics. */
export function applyMigration(m: Migration, s: Float64Array, values: Map<string, { data: Float32Array; dims: number[] }>, stats: Map<string, LayerInputStats>): void {
  const get = (name: string) => { const v = values.get(name); if (!v) throw new Error(`no working value for '${name}'`); return v; };
  const a = m.absorber;
  if (a.kind === 'layer') {
    const w = get(a.layer.weight!.tensor);
    scaleAlong(w.data, w.dims, a.layer.weight!.channelAxis, (c) => 1 / s[c]);
    if (a.bias) { const b = get(a.bias); for (let c = 0; c < b.data.length; c++) b.data[c] = Math.fround(b.data[c] / s[c]); }
  } else {
    for (const name of [a.scale, a.bias]) { if (!name) continue; const v = get(name); for (let c = 0; c < v.data.length; c++) v.data[c] = Math.fround(v.data[c] / s[c]); }
  }
  for (const c of m.consumers) {
    const w = get(c.weight!.tensor);
    scaleAlong(w.data, w.dims, c.weight!.reductionAxis, (ch) => s[ch]);
    const st = stats.get(c.name);
    if (!st) continue;
    const per = columnsPerChannel(c);
    const K = st.cols;
    const inv = new Float64Array(K);
    for (let k = 0; k < K; k++) inv[k] = 1 / s[Math.floor(k / per)];
    for (let i = 0; i < K; i++) {
      st.mean[i] *= inv[i]; st.absMean[i] *= inv[i]; st.absMax[i] *= inv[i];
      for (let j = 0; j < K; j++) st.h[i * K + j] *= inv[i] * inv[j];
    }
  }
}

/** Max |value| per index along `axis` (a weight's range per output or input channel). */
export function absMaxAlong(data: Float32Array, dims: readonly number[], axis: number): Float64Array {
  const { outer, extent, inner } = splitDims(dims, axis);
  const out = new Float64Array(extent);
  for (let o = 0; o < outer; o++) for (let c = 0; c < extent; c++) {
    const base = (o * extent + c) * inner;
    for (let i = 0; i < inner; i++) { const v = Math.abs(data[base + i]); if (v > out[c]) out[c] = v; }
  }
  return out;
}
