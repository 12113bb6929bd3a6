/** The layer inventory: every quantizable op of a graph with its weight, channel axes, size, MACs and weight statistics. */
import { InferenceBackend } from '../runtime/backend';
import { foldConstants } from './constant-fold';
import { Graph, GraphNode, attrInt, attrString } from './graph';
import { LayerKind, LayerWeight, QuantLayer } from './layer';
import { inferShapes, isFloatType, ShapeOptions } from './shapes';
import { Tensor, sizeOf, toFloat32 } from './tensor-data';
import { weightStats } from './weight-stats';

/** Options of buildInventory. */
export interface InventoryOptions {
  /** Tensor shapes (from inferShapes) for MACs (per sample: see shapeBatch) and for the dims of derived weights. */
  shapes?: Map<string, number[]>;
  /** Values of derived constants (from foldConstants), for the stats of weights reached through other ops. */
  constants?: Map<string, Tensor>;
  /** Compute weight statistics (default true). */
  stats?: boolean;
}

/** Op types the inventory treats as quantizable (in the default domain). */
export const QUANTIZABLE_OPS: ReadonlySet<string> = new Set(['Conv', 'ConvTranspose', 'Gemm', 'MatMul', 'Gather', 'Einsum']);

/**
 * Every quantizable op of the main graph, in topological order: Conv (depthwise when group > 1 and each group has
 * one input channel), ConvTranspose, Gemm, MatMul with a constant operand, MatMul between two activations, Gather
 * on a constant float table (embedding), and a two-operand Einsum that is a matrix product with a constant operand
 * (one output-channel letter and one summed letter in the weight: kind 'matmul'). Attention (no weights) and other
 * Einsums are left in float.
 */
export function buildInventory(graph: Graph, opts: InventoryOptions = {}): QuantLayer[] {
  const layers: QuantLayer[] = [];
  const batch = opts.shapes ? shapeBatch(graph, opts.shapes) : 1;
  for (const node of graph.nodes) {
    if (node.domain !== '' || !QUANTIZABLE_OPS.has(node.opType)) continue;
    const layer = describe(graph, node, opts);
    if (!layer) continue;
    if (layer.macs !== undefined && batch > 1) layer.macs = Math.round(layer.macs / batch);
    layers.push(layer);
  }
  return layers;
}

/**
 * The batch size the shapes were taken at: the common first dim of the graph inputs when every input declares
 * that dim as symbolic (a dynamic batch); 1 otherwise. MACs are divided by it so that they are per sample.
 */
export function shapeBatch(graph: Graph, shapes: Map<string, number[]>): number {
  let batch: number | undefined;
  for (const inp of graph.inputs) {
    const declared = inp.shape?.[0];
    const actual = shapes.get(inp.name)?.[0];
    if (typeof declared === 'number' || actual === undefined) return 1;
    if (batch !== undefined && batch !== actual) return 1;
    batch = actual;
  }
  return batch && batch > 0 ? batch : 1;
}

/** buildInventory with shapes inferred by one ORT run (unless given) and derived weights folded in ORT. */
export async function buildInventoryAsync(graph: Graph, backend: InferenceBackend, opts: InventoryOptions & { shapeOptions?: ShapeOptions; feeds?: Record<string, Tensor> } = {}): Promise<QuantLayer[]> {
  const shapes = opts.shapes ?? await inferShapes(graph.model, backend, opts.feeds, opts.shapeOptions);
  const first = buildInventory(graph, { ...opts, shapes, stats: false });
  const derived = first.filter((l) => l.weight?.source === 'derived').map((l) => l.weight!.tensor);
  const constants = new Map(opts.constants ?? []);
  const missing = derived.filter((t) => !constants.has(t));
  if (missing.length) for (const [k, v] of await foldConstants(graph, backend, missing)) constants.set(k, v);
  return buildInventory(graph, { ...opts, shapes, constants });
}

function describe(graph: Graph, node: GraphNode, opts: InventoryOptions): QuantLayer | undefined {
  const [a, b, c] = node.inputs;
  const isConst = (t: string | undefined) => !!t && graph.isConstant(t);
  const base = { name: node.name, opType: node.opType, nodeIndex: node.index, outputs: node.outputs.filter(Boolean) };
  const shapes = opts.shapes;
  const outShape = shapes?.get(node.outputs[0]);
  switch (node.opType) {
    case 'Conv': case 'ConvTranspose': {
      if (!isConst(b)) { // weights computed at run time: both operands are quantized as activations
        const kind: LayerKind = node.opType === 'Conv' ? 'conv' : 'conv-transpose';
        return { ...base, kind, activationInputs: [a, b].filter((t) => t && !isConst(t)), params: 0 };
      }
      const dims = weightDims(graph, b, opts);
      const group = attrInt(node.proto, 'group', 1);
      const transpose = node.opType === 'ConvTranspose';
      let kind: LayerKind = transpose ? 'conv-transpose' : 'conv';
      if (!transpose && group > 1 && dims && dims[1] === 1) kind = 'depthwise-conv';
      const weight = makeWeight(graph, b, dims, transpose ? 1 : 0, transpose ? 0 : 1);
      let macs: number | undefined;
      if (dims) {
        if (!transpose && outShape) macs = sizeOf(outShape) * sizeOf(dims.slice(1));
        const inShape = shapes?.get(a);
        if (transpose && inShape) macs = sizeOf(inShape) * sizeOf(dims.slice(1));
      }
      return finish(graph, { ...base, kind, activationInputs: isConst(a) ? [] : [a], weight, bias: c && isConst(c) ? c : undefined, params: 0, macs }, opts);
    }
    case 'Gemm': {
      const transA = attrInt(node.proto, 'transA', 0), transB = attrInt(node.proto, 'transB', 0);
      const aShape = shapes?.get(a);
      const k = aShape && aShape.length === 2 ? aShape[transA ? 0 : 1] : undefined;
      const macs = outShape && k !== undefined ? sizeOf(outShape) * k : undefined;
      if (isConst(b) && !isConst(a)) {
        const dims = weightDims(graph, b, opts);
        const weight = makeWeight(graph, b, dims, transB ? 0 : 1, transB ? 1 : 0);
        return finish(graph, { ...base, kind: 'gemm', activationInputs: [a], weight, bias: c && isConst(c) ? c : undefined, params: 0, macs }, opts);
      }
      if (isConst(a) && !isConst(b)) {
        const dims = weightDims(graph, a, opts);
        const weight = makeWeight(graph, a, dims, transA ? 1 : 0, transA ? 0 : 1);
        return finish(graph, { ...base, kind: 'gemm', activationInputs: [b], weight, bias: c && isConst(c) ? c : undefined, params: 0, macs }, opts);
      }
      if (isConst(a) && isConst(b)) return undefined; // folds to a constant
      return { ...base, kind: 'matmul-activations', activationInputs: [a, b], params: 0, macs };
    }
    case 'MatMul': {
      const aShape = shapes?.get(a);
      const k = aShape && aShape.length ? aShape[aShape.length - 1] : undefined;
      const macs = outShape && k !== undefined ? sizeOf(outShape) * k : undefined;
      if (isConst(b) && !isConst(a)) {
        const dims = weightDims(graph, b, opts);
        const r = dims?.length ?? 2;
        const weight = makeWeight(graph, b, dims, r - 1, Math.max(0, r - 2));
        return finish(graph, { ...base, kind: 'matmul', activationInputs: [a], weight, params: 0, macs }, opts);
      }
      if (isConst(a) && !isConst(b)) {
        // Weight on the left (Y = W X): output channels are W's rows.
        const dims = weightDims(graph, a, opts);
        const r = dims?.length ?? 2;
        const weight = makeWeight(graph, a, dims, Math.max(0, r - 2), r - 1);
        return finish(graph, { ...base, kind: 'matmul', activationInputs: [b], weight, params: 0, macs }, opts);
      }
      if (isConst(a) && isConst(b)) return undefined;
      return { ...base, kind: 'matmul-activations', activationInputs: [a, b], params: 0, macs };
    }
    case 'Einsum': {
      if (node.inputs.length !== 2 || isConst(a) === isConst(b)) return undefined;
      const eq = einsumMatmul(attrString(node.proto, 'equation', ''), isConst(a) ? 0 : 1);
      if (!eq) return undefined;
      const wt = isConst(a) ? a : b, act = isConst(a) ? b : a;
      const dims = weightDims(graph, wt, opts);
      if (dims && dims.length !== eq.rank) return undefined;
      let macs: number | undefined;
      const sizes = new Map<string, number>();
      eq.inputs.forEach((letters, k) => { const sh = node.inputs[k] === wt ? dims : shapes?.get(node.inputs[k]); if (sh && sh.length === letters.length) letters.split('').forEach((c, i) => sizes.set(c, sh[i])); });
      if (eq.letters.every((c) => sizes.has(c))) macs = eq.letters.reduce((m, c) => m * sizes.get(c)!, 1);
      const weight = makeWeight(graph, wt, dims, eq.channelAxis, eq.reductionAxis);
      return finish(graph, { ...base, kind: 'matmul', activationInputs: [act], weight, params: 0, macs }, opts);
    }
    case 'Gather': {
      if (!isConst(a) || isConst(b)) return undefined;
      const type = tensorType(graph, a, opts);
      if (type !== undefined && !isFloatType(type)) return undefined;
      const dims = weightDims(graph, a, opts);
      if (dims && dims.length < 2) return undefined;
      const axis = attrInt(node.proto, 'axis', 0);
      const r = dims?.length ?? 2;
      const ax = ((axis % r) + r) % r;
      const weight = makeWeight(graph, a, dims, ax, ax === r - 1 ? r - 2 : r - 1);
      return finish(graph, { ...base, kind: 'embedding', activationInputs: [], weight, params: 0, macs: 0 }, opts);
    }
  }
  return undefined;
}

/**
 * Reads an explicit two-operand Einsum equation (`bij,jk->bik`) as a matrix product with the weight at input
 * `weightIndex`: the weight must have exactly one letter kept in the output (its channel axis) and one summed
 * letter (its reduction axis), and no repeated letters or ellipsis anywhere. Undefined otherwise.
 */
export function einsumMatmul(equation: string, weightIndex: number): { inputs: string[]; letters: string[]; rank: number; channelAxis: number; reductionAxis: number } | undefined {
  const m = /^([a-zA-Z]*),([a-zA-Z]*)->([a-zA-Z]*)$/.exec(equation.replace(/\s+/g, ''));
  if (!m) return undefined;
  const [, x, y, out] = m;
  const inputs = [x, y];
  for (const t of [x, y, out]) if (new Set(t).size !== t.length) return undefined;
  const w = inputs[weightIndex], other = inputs[1 - weightIndex];
  const kept = [...w].filter((c) => out.includes(c) && !other.includes(c));
  const summed = [...w].filter((c) => !out.includes(c) && other.includes(c));
  if (kept.length !== 1 || summed.length !== 1 || [...w].some((c) => !kept.includes(c) && !summed.includes(c))) return undefined;
  if ([...out].some((c) => !x.includes(c) && !y.includes(c))) return undefined;
  return { inputs, letters: [...new Set(x + y)], rank: w.length, channelAxis: w.indexOf(kept[0]), reductionAxis: w.indexOf(summed[0]) };
}

function tensorType(graph: Graph, t: string, opts: InventoryOptions): number | undefined {
  const stored = graph.initializers.get(t) ?? graph.constantNodes.get(t);
  if (stored) return stored.data_type;
  const folded = opts.constants?.get(t);
  if (folded) return folded.type;
  const vi = graph.valueInfo.get(t);
  return vi?.elemType || undefined;
}

function weightDims(graph: Graph, t: string, opts: InventoryOptions): number[] | undefined {
  const stored = graph.initializers.get(t) ?? graph.constantNodes.get(t);
  if (stored) return (stored.dims ?? []).map(Number);
  const folded = opts.constants?.get(t);
  if (folded) return folded.dims.slice();
  const known = opts.shapes?.get(t);
  if (known) return known.slice();
  const vi = graph.valueInfo.get(t);
  if (vi?.shape && vi.shape.every((d) => typeof d === 'number')) return vi.shape as number[];
  return undefined;
}

function makeWeight(graph: Graph, t: string, dims: number[] | undefined, channelAxis: number, reductionAxis: number): LayerWeight {
  const source = graph.initializers.has(t) ? 'initializer' : graph.constantNodes.has(t) ? 'constant-node' : 'derived';
  const w: LayerWeight = { tensor: t, dims: dims ?? [], channelAxis, reductionAxis, source };
  if (source === 'derived') {
    const origin = relayoutOrigin(graph, t);
    if (origin) w.origin = origin;
  }
  return w;
}

const RELAYOUT_OPS = new Set(['Transpose', 'Reshape', 'Identity', 'Squeeze', 'Unsqueeze', 'Flatten']);

/** The stored tensor a derived one only relays out (through RELAYOUT_OPS), or undefined. */
export function relayoutOrigin(graph: Graph, t: string): string | undefined {
  let cur = t;
  for (let k = 0; k < 16; k++) {
    if (graph.initializers.has(cur) || graph.constantNodes.has(cur)) return cur === t ? undefined : cur;
    const p = graph.producer.get(cur);
    if (!p || p.domain !== '' || !RELAYOUT_OPS.has(p.opType)) return undefined;
    cur = p.inputs[0];
  }
  return undefined;
}

/** Weight parameters of the layers, each stored tensor counted once (a weight tied between layers is one set). */
export function uniqueLayerParams(layers: readonly QuantLayer[]): number {
  const seen = new Set<string>();
  let n = 0;
  for (const l of layers) {
    const key = l.weight ? l.weight.origin ?? l.weight.tensor : undefined;
    if (key !== undefined) { if (seen.has(key)) continue; seen.add(key); }
    n += l.params;
  }
  return n;
}

function finish(graph: Graph, layer: QuantLayer, opts: InventoryOptions): QuantLayer {
  const w = layer.weight;
  if (!w) return layer;
  layer.params = w.dims.length ? sizeOf(w.dims) : 0;
  if (opts.stats === false) return layer;
  const value = graph.constantValue(w.tensor) ?? opts.constants?.get(w.tensor);
  if (value && isFloatType(value.type) && value.data.length) {
    if (!w.dims.length) { w.dims = value.dims.slice(); layer.params = sizeOf(w.dims); }
    layer.weightStats = weightStats(toFloat32(value), value.dims, w.channelAxis);
  }
  return layer;
}
