/** From a model and a recipe to the training plan: trainable tensors, fake-quant points and their initial scales. */
import { QuantLensError } from '../errors';
import { attrInt, Graph, GraphNode } from '../onnx/graph';
import { DataType } from '../onnx/proto';
import { toFloat32 } from '../onnx/tensor-data';
import { effectiveLayerSpec, Recipe } from '../../shared/recipe';
import { NumberFormat, parseFormat } from '../../shared/formats';
import { FakeQuantSpec, FqGranularity, rangeToScale, scaleDims } from './fake-quant';

const LAYER_OPS = new Set(['Conv', 'ConvTranspose', 'Gemm', 'MatMul']);

/** Per-channel and block axes of a layer's weight. */
function weightAxes(n: GraphNode, rank: number): { channel: number; reduction: number } {
  switch (n.opType) {
    case 'Conv': return { channel: 0, reduction: 1 };
    case 'ConvTranspose': return { channel: 1, reduction: 0 };
    case 'Gemm': return attrInt(n.proto, 'transB', 0) ? { channel: 0, reduction: 1 } : { channel: 1, reduction: 0 };
    default: return { channel: rank - 1, reduction: rank - 2 };
  }
}

function isFloatConst(graph: Graph, t: string | undefined): t is string {
  if (!t) return false;
  const p = graph.initializers.get(t) ?? graph.constantNodes.get(t);
  return !!p && p.data_type === DataType.FLOAT && (p.dims ?? []).length > 0;
}

/** The tensors QAT trains: weights and biases of Conv/ConvTranspose/Gemm/MatMul, norm affine parameters, bias Adds, embedding tables. */
export function trainableTensors(graph: Graph): string[] {
  const out = new Set<string>();
  for (const n of graph.nodes) {
    if (LAYER_OPS.has(n.opType)) n.inputs.forEach((t) => { if (isFloatConst(graph, t)) out.add(t); });
    else if (n.opType === 'BatchNormalization' || n.opType === 'LayerNormalization') n.inputs.slice(1, 3).forEach((t) => { if (isFloatConst(graph, t)) out.add(t); });
    // Embedding tables (token, position): trained through Gather's scatter-add gradient; a tied head reads the same tensor.
    else if (n.opType === 'Gather' && isFloatConst(graph, n.inputs[0]) && (graph.constantValue(n.inputs[0])?.dims.length ?? 0) >= 2) out.add(n.inputs[0]);
    else if (n.opType === 'Add') {
      const [a, b] = n.inputs;
      const prod = (t: string) => graph.producer.get(t)?.opType;
      if (isFloatConst(graph, b) && prod(a) && LAYER_OPS.has(prod(a)!)) out.add(b);
      if (isFloatConst(graph, a) && prod(b) && LAYER_OPS.has(prod(b)!)) out.add(a);
    }
  }
  return [...out];
}

/** Converts a recipe format to a fake-quant format, or undefined when the format is kept in float. */
function intFormat(text: string, where: string, file: string): Extract<NumberFormat, { kind: 'int' }> | undefined {
  const r = parseFormat(text);
  if (!r.ok) throw new QuantLensError('recipe-format', `${where}: ${r.error}`, file);
  if (r.format.kind === 'float') return undefined;
  if (r.format.kind !== 'int') throw new QuantLensError('recipe-format', `${where}: QAT simulates integer formats only, not '${text}'`, file);
  return r.format;
}

/** One quantized layer of the plan. */
export interface PlanLayer {
  name: string;
  weight?: number;
  activations: number[];
}

/** Fake-quant points of every recipe layer (scales still zero: see initScales). */
export function planFromRecipe(graph: Graph, recipe: Pick<Recipe, 'defaults' | 'layers'>, learnScales: boolean, file = '<model>'): { specs: FakeQuantSpec[]; layers: PlanLayer[] } {
  const specs: FakeQuantSpec[] = [];
  const layers: PlanLayer[] = [];
  const actByKey = new Map<string, number>();
  // The model input's range is the data's: its scale stays calibrated (learning it would need the input gradient).
  const graphInputs = new Set(graph.inputs.map((i) => i.name));
  for (const n of graph.nodes) {
    if (!LAYER_OPS.has(n.opType)) continue;
    const spec = effectiveLayerSpec(recipe, n.name);
    const layer: PlanLayer = { name: n.name, activations: [] };
    const wIdx = n.inputs.findIndex((t, i) => i <= 1 && isFloatConst(graph, t));
    const wf = intFormat(spec.weights, `layer '${n.name}' weights`, file);
    if (wIdx >= 0 && wf) {
      const t = n.inputs[wIdx];
      const p = graph.initializers.get(t) ?? graph.constantNodes.get(t)!;
      const dims = (p.dims ?? []).map(Number);
      const ax = weightAxes(n, dims.length);
      let g: FqGranularity = { kind: 'tensor' };
      if (wf.granularity.kind === 'channel') g = { kind: 'channel', axis: wf.granularity.axis ?? ax.channel };
      else if (wf.granularity.kind === 'block') g = { kind: 'block', axis: wf.granularity.axis ?? ax.reduction, size: wf.granularity.size };
      const sd = scaleDims(dims, g);
      const count = sd.reduce((a, b) => a * b, 1);
      layer.weight = specs.length;
      specs.push({ tensor: t, uses: [[n.name, wIdx]], role: 'weight', bits: wf.bits, signed: wf.signed, granularity: g, scale: new Float32Array(count), zeroPoint: new Int32Array(count), learnScale: learnScales });
    }
    const af = intFormat(spec.activations, `layer '${n.name}' activations`, file);
    if (af) {
      n.inputs.forEach((t, i) => {
        if (i > 1 || !t || graph.isConstant(t)) return;
        if (af.granularity.kind !== 'tensor') throw new QuantLensError('recipe-format', `layer '${n.name}': activations are quantized per tensor`, file);
        const key = `${t}|${af.bits}|${af.signed}|${af.symmetric}`;
        let k = actByKey.get(key);
        if (k === undefined) {
          k = specs.length;
          actByKey.set(key, k);
          specs.push({ tensor: t, uses: [], role: 'activation', bits: af.bits, signed: af.signed, granularity: { kind: 'tensor' }, scale: new Float32Array(1), zeroPoint: new Int32Array(1), learnScale: learnScales && !graphInputs.has(t) });
          (specs[k] as FakeQuantSpec & { symmetric?: boolean }).symmetric = af.symmetric;
        }
        specs[k].uses.push([n.name, i]);
        layer.activations.push(k);
      });
    }
    layers.push(layer);
  }
  return { specs, layers };
}

/** Initial activation scale and zero point from an observed range. */
export function initActivationScale(spec: FakeQuantSpec, lo: number, hi: number): void {
  const symmetric = (spec as FakeQuantSpec & { symmetric?: boolean }).symmetric ?? spec.signed;
  const { scale, zeroPoint } = rangeToScale(lo, hi, spec.bits, spec.signed, symmetric);
  spec.scale[0] = scale;
  spec.zeroPoint[0] = zeroPoint;
}

/** Value of a constant float tensor. */
export function constFloat(graph: Graph, t: string): Float32Array {
  return toFloat32(graph.constantValue(t)!);
}
