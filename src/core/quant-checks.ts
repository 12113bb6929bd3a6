/**
 * Checks before quantizing, so that a model or recipe that cannot give an honest result is refused with the reason
 * (a QuantLensError naming the file) instead of failing inside ONNX Runtime or exporting wrong numbers:
 * non-finite weights or calibrated activations, granularity axes beyond a weight's rank, and formats ONNX Runtime
 * cannot load for an op.
 */
import { QuantLensError } from './errors';
import type { Graph } from './onnx/graph';
import type { QuantLayer } from './onnx/layer';
import { DataType } from './onnx/proto';
import type { Tensor } from './onnx/tensor-data';
import type { QuantPlan, RangeMap } from './quant/qdq-export';
import { formatToString, NumberFormat, parseFormat } from '../shared/formats';
import { parseCandidate } from './analysis/candidates';

const FLOAT_TYPES = new Set<number>([DataType.FLOAT, DataType.DOUBLE, DataType.FLOAT16, DataType.BFLOAT16]);

/** Counts NaN and infinite values of a float tensor. */
function nonFinite(t: Tensor): { nan: number; inf: number } {
  let nan = 0, inf = 0;
  const d = t.data as ArrayLike<number>;
  for (let i = 0; i < d.length; i++) {
    const v = d[i];
    if (v !== v) nan++;
    else if (v === Infinity || v === -Infinity) inf++;
  }
  return { nan, inf };
}

/**
 * Refuses weights holding NaN or infinite values (the quantization range would be undefined): names the tensor and
 * the layer, and says how to keep the layer in float. `layers` are (node, weight tensor) pairs; values come from the
 * graph's constants or `values` (weights computed from constants).
 */
export function assertFiniteWeights(graph: Graph, layers: readonly { node: string; tensor: string }[], file?: string, values?: Map<string, Tensor>): void {
  for (const { node, tensor } of layers) {
    const t = graph.constantValue(tensor) ?? values?.get(tensor);
    if (!t || !FLOAT_TYPES.has(t.type) || (t.data as ArrayLike<number>).length === 0) continue;
    const { nan, inf } = nonFinite(t);
    if (!nan && !inf) continue;
    const n = (t.data as ArrayLike<number>).length;
    const what = [nan ? `${nan} NaN` : '', inf ? `${inf} infinite` : ''].filter(Boolean).join(' and ');
    throw new QuantLensError('weights-not-finite',
      `weight '${tensor}' of layer '${node}' holds ${what} value${nan + inf > 1 ? 's' : ''} (of ${n}), so its quantization range is undefined; fix the model, or keep the layer in float with "layers": {"${node}": "float"} in the recipe`, file);
  }
}

/** The quantizable layers' (node, weight) pairs of an inventory. */
export function layerWeights(layers: readonly QuantLayer[]): { node: string; tensor: string }[] {
  return layers.filter((l) => l.weight).map((l) => ({ node: l.name, tensor: l.weight!.tensor }));
}

/** Refuses calibrated activation ranges that are not finite (the model computes NaN or infinity on the data), naming the tensor. */
export function assertFiniteRanges(ranges: RangeMap, plan: QuantPlan, file?: string): void {
  for (const [tensor, r] of ranges) {
    if (Number.isFinite(r.min) && Number.isFinite(r.max)) continue;
    const layer = plan.find((l) => l.activations.some((a) => a.tensor === tensor))?.node;
    throw new QuantLensError('activations-not-finite',
      `activation '${tensor}'${layer ? ` (input of layer '${layer}')` : ''} takes non-finite values on the calibration data (range [${r.min}, ${r.max}]), so it cannot be quantized; check the data, or keep ${layer ? `the layer in float with "layers": {"${layer}": "float"}` : 'the layer in float'}`, file);
  }
}

/**
 * Refuses a plan ONNX Runtime cannot run, before any calibration: per-channel or block axes beyond the weight's rank,
 * and 4-bit activations into Conv (ORT fuses them into a QLinearConv that rejects 4-bit inputs: the model would not load).
 */
export function assertRunnablePlan(plan: QuantPlan, layers: readonly QuantLayer[], file?: string): void {
  const byName = new Map(layers.map((l) => [l.name, l]));
  for (const p of plan) {
    const layer = byName.get(p.node);
    const w = p.weight;
    if (w && w.format.kind === 'int' && w.format.granularity.kind !== 'tensor') {
      const axis = w.format.granularity.axis;
      const rank = layer?.weight?.dims.length ?? 0;
      if (axis !== undefined && rank > 0 && (axis >= rank || axis < -rank)) {
        throw new QuantLensError('recipe-bad-axis', `layer '${p.node}': ${formatToString(w.format)} quantizes along axis ${axis}, but weight '${w.tensor}' has rank ${rank} (axes 0..${rank - 1})`, file);
      }
    }
    if (layer?.opType === 'Conv') {
      const a4 = p.activations.find((a) => a.format.kind === 'int' && a.format.bits === 4);
      if (a4) throw new QuantLensError('recipe-unsupported-format', `layer '${p.node}': ${formatToString(a4.format)} activations into a Conv cannot run in ONNX Runtime (it fuses the Conv into a QLinearConv, which does not accept 4-bit inputs, so the exported model would fail to load); use 8-bit activations for this layer`, file);
    }
  }
}

/** The explicit axis of a weight format's granularity, when it names one. */
function formatAxis(f: NumberFormat): number | undefined {
  return f.kind === 'int' && f.granularity.kind !== 'tensor' ? f.granularity.axis : undefined;
}

/**
 * Refuses analysis candidates (`weights:activations` names) whose weight format quantizes along an axis some layer's
 * weight does not have (e.g. `int8/per-channel:3` on a Gemm's rank-2 weight), naming the candidate and the layer.
 */
export function assertCandidatesFit(formats: readonly string[] | undefined, layers: readonly QuantLayer[], file?: string): void {
  for (const text of formats ?? []) {
    const c = parseCandidate(text);
    const p = parseFormatOrUndefined(c.weights);
    const axis = p && formatAxis(p);
    if (axis === undefined) continue;
    const bad = layers.find((l) => l.weight && l.weight.dims.length > 0 && (axis >= l.weight.dims.length || axis < -l.weight.dims.length));
    if (bad) throw new QuantLensError('bad-format', `format '${text}' quantizes weights along axis ${axis}, but layer '${bad.name}' has a weight of rank ${bad.weight!.dims.length} ('${bad.weight!.tensor}', axes 0..${bad.weight!.dims.length - 1})`, file);
  }
}

function parseFormatOrUndefined(text: string): NumberFormat | undefined {
  const r = parseFormat(text);
  return r.ok ? r.format : undefined;
}
