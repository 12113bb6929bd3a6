/** From a QAT result to a QDQ model (through the core exporter), a plan with the learned parameters, and recipe scales. */
import { NumberFormat } from '../../shared/formats';
import { effectiveLayerSpec, Recipe } from '../../shared/recipe';
import { TrainedFormat } from '../../shared/training';
import { foldBatchNorm } from '../onnx/batchnorm-fold';
import { Graph } from '../onnx/graph';
import { upgradeOpset } from '../onnx/opset-upgrade';
import { ModelProto } from '../onnx/proto';
import { QuantParams } from '../quant/qparams';
import { exportQdq, QuantPlan, QuantPlanLayer } from '../quant/qdq-export';
import { FakeQuantSpec, qRange } from './fake-quant';
import { PlanLayer } from './quant-plan';

/** The model QAT trains: opset raised to at least 13 and BatchNormalization folded into the layer before it. */
export function prepareForTraining(model: ModelProto, file?: string): ModelProto {
  const opset = new Graph(model, file).opset;
  const up = opset < 13 ? upgradeOpset(model, 13, { file }) : model;
  return foldBatchNorm(up);
}

function formatOf(s: FakeQuantSpec): NumberFormat {
  const g = s.granularity;
  const symmetric = (s as FakeQuantSpec & { symmetric?: boolean }).symmetric ?? s.signed;
  return {
    kind: 'int', bits: s.bits, signed: s.signed, symmetric,
    granularity: g.kind === 'tensor' ? { kind: 'tensor' } : g.kind === 'channel' ? { kind: 'channel', axis: g.axis } : { kind: 'block', size: g.size, axis: g.axis },
  };
}

/** The exporter's parameters of a fake-quant point (same scales, zero points and saturation as the simulation). */
export function specParams(s: FakeQuantSpec): QuantParams {
  const [qmin, qmax] = qRange(s.bits, s.signed);
  const g = s.granularity;
  return {
    format: formatOf(s), scale: Float32Array.from(s.scale), zeroPoint: Int32Array.from(s.zeroPoint),
    axis: g.kind === 'tensor' ? undefined : g.axis, blockSize: g.kind === 'block' ? g.size : undefined, qmin, qmax,
  };
}

/** The quantization plan of a QAT result, every layer carrying its learned parameters. */
export function qatPlan(layers: PlanLayer[], specs: FakeQuantSpec[]): QuantPlan {
  return layers.map((l): QuantPlanLayer => {
    const w = l.weight !== undefined ? specs[l.weight] : undefined;
    return {
      node: l.name,
      weight: w ? {
        tensor: w.tensor, format: formatOf(w),
        channelAxis: w.granularity.kind === 'channel' ? w.granularity.axis : 0,
        reductionAxis: w.granularity.kind === 'block' ? w.granularity.axis : 1,
        params: specParams(w),
      } : undefined,
      activations: l.activations.map((k) => ({ tensor: specs[k].tensor, format: formatOf(specs[k]), params: specParams(specs[k]) })),
    };
  }).filter((l) => l.weight || l.activations.length);
}

/** The trained model as QDQ ONNX with the learned scales. */
export function exportQatModel(model: ModelProto, layers: PlanLayer[], specs: FakeQuantSpec[], file?: string): ModelProto {
  return exportQdq(model, qatPlan(layers, specs), new Map(), { file });
}

/** The recipe with the learned scales written into each layer's `scales` (by tensor name). */
export function recipeWithScales(recipe: Recipe, layers: PlanLayer[], specs: FakeQuantSpec[]): Recipe {
  const out: Recipe = { ...recipe, layers: { ...recipe.layers } };
  for (const l of layers) {
    const cur = out.layers[l.name];
    if (cur === 'float') continue;
    const scales: Record<string, number | number[]> = {};
    for (const k of [l.weight, ...l.activations]) {
      if (k === undefined) continue;
      const s = specs[k];
      scales[s.tensor] = s.scale.length === 1 && s.granularity.kind === 'tensor' ? s.scale[0] : Array.from(s.scale);
    }
    out.layers[l.name] = { ...(cur ?? {}), scales };
  }
  return out;
}

/** The formats a QAT result trained, grouped (the weight and activation formats of each quantized layer, as the recipe spells them). */
export function trainedFormats(recipe: Pick<Recipe, 'defaults' | 'layers'>, layers: PlanLayer[]): TrainedFormat[] {
  const out = new Map<string, TrainedFormat>();
  for (const l of layers) {
    if (l.weight === undefined && !l.activations.length) continue;
    const spec = effectiveLayerSpec(recipe, l.name);
    const weights = l.weight !== undefined ? spec.weights : 'float', activations = l.activations.length ? spec.activations : 'float';
    const key = `${weights}|${activations}`;
    const e = out.get(key) ?? { weights, activations, layers: 0 };
    e.layers++;
    out.set(key, e);
  }
  return [...out.values()].sort((a, b) => b.layers - a.layers);
}
