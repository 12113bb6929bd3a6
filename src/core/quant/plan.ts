/** Turning a layer inventory and a recipe into a quantization plan. */
import { closest } from 'fastest-levenshtein';
import { parseFormat, NumberFormat } from '../../shared/formats';
import { effectiveLayerSpec, parseCalibration, Recipe } from '../../shared/recipe';
import { QuantLensError } from '../errors';
import { QuantLayer } from '../onnx/layer';
import { IntFormat, intRange, paramsFromScales, QuantParams, scaleDims, weightLayout } from './qparams';
import { QuantPlan, QuantPlanLayer } from './qdq-export';

/**
 * The plan a recipe asks for: each layer's weight format (with fixed scales from `scales[weightTensor]`
 * when present) and its activation inputs' format and calibration. Layers whose weights and activations
 * are both `float` are left out. Throws QuantLensError for recipe layer names the model does not have
 * (listing them with the nearest existing names) and for bad formats.
 */
export function buildPlan(layers: readonly QuantLayer[], recipe: Pick<Recipe, 'defaults' | 'layers'>, file?: string): QuantPlan {
  const known = new Set(layers.map((l) => l.name));
  const unknown = Object.keys(recipe.layers ?? {}).filter((k) => !known.has(k));
  if (unknown.length) {
    const names = layers.map((l) => l.name);
    const list = unknown.map((u) => (names.length ? `'${u}' (did you mean '${closest(u, names)}'?)` : `'${u}'`)).join(', ');
    throw new QuantLensError('recipe-unknown-layer', `the recipe names layer${unknown.length > 1 ? 's' : ''} the model does not have: ${list}`, file);
  }
  const plan: QuantPlan = [];
  for (const layer of layers) {
    const spec = effectiveLayerSpec(recipe, layer.name);
    const wf = format(spec.weights, layer.name, 'weights', file);
    const af = format(spec.activations, layer.name, 'activations', file);
    const cal = parseCalibration(spec.calibration);
    if (!cal.ok) throw new QuantLensError('recipe-bad-calibration', `layer '${layer.name}': ${cal.error}`, file);
    if (af.kind === 'int' && af.granularity.kind !== 'tensor') {
      throw new QuantLensError('recipe-bad-format', `layer '${layer.name}': activations are quantized per tensor, got '${spec.activations}'`, file);
    }
    const entry: QuantPlanLayer = { node: layer.name, activations: [] };
    const w = layer.weight;
    const own = new Set([...(w ? [w.tensor] : []), ...layer.activationInputs]);
    const stray = Object.keys(spec.scales ?? {}).filter((t) => !own.has(t));
    if (stray.length) {
      throw new QuantLensError('recipe-bad-scales', `layer '${layer.name}': scales for tensor${stray.length > 1 ? 's' : ''} ${stray.map((t) => `'${t}'`).join(', ')} that ${stray.length > 1 ? 'are' : 'is'} not its weight or input (expected ${[...own].map((t) => `'${t}'`).join(', ')})`, file);
    }
    if (w && wf.kind !== 'float') {
      let params: QuantParams | undefined;
      const fixed = spec.scales?.[w.tensor];
      if (fixed !== undefined && wf.kind === 'int') params = fixedWeightParams(layer, wf, fixed, file);
      entry.weight = { tensor: w.tensor, format: wf, channelAxis: w.channelAxis, reductionAxis: w.reductionAxis, params };
    }
    if (af.kind !== 'float') {
      for (const t of layer.activationInputs) {
        const fixed = spec.scales?.[t];
        const params = fixed !== undefined && af.kind === 'int' && typeof fixed === 'number' ? paramsFromScales(fixed, af) : undefined;
        entry.activations.push({ tensor: t, format: af, calibration: cal.spec, params });
      }
    }
    if (entry.weight || entry.activations.length) plan.push(entry);
  }
  return plan;
}

function format(text: string, layer: string, field: string, file?: string): NumberFormat {
  const r = parseFormat(text);
  if (!r.ok) throw new QuantLensError('recipe-bad-format', `layer '${layer}' ${field}: ${r.error}`, file);
  return r.format;
}

/**
 * Fixed weight parameters from a recipe's `scales` entry: one number (per-tensor), one per output channel
 * (per-channel), or one per block in the layout weightLayout gives (blocked; row-major over the scale shape).
 * Zero points follow the format's symmetric convention (see paramsFromScales).
 */
function fixedWeightParams(layer: QuantLayer, wf: IntFormat, fixed: number | number[], file?: string): QuantParams {
  const w = layer.weight!;
  const list = typeof fixed === 'number' ? [fixed] : fixed;
  const fail = (expect: string): never => {
    throw new QuantLensError('recipe-bad-scales', `layer '${layer.name}': fixed scales for '${w.tensor}' must be positive numbers: ${expect}, got ${list.length}`, file);
  };
  if (!list.every((v) => Number.isFinite(v) && v > 0)) fail('finite and > 0');
  const g = wf.granularity;
  if (typeof fixed === 'number') return paramsFromScales(fixed, wf);
  if (g.kind === 'tensor') return list.length === 1 ? paramsFromScales(list[0], wf) : fail('one (per-tensor)');
  if (g.kind === 'channel') {
    const axis = g.axis ?? w.channelAxis;
    if (w.dims.length && list.length !== w.dims[axis]) fail(`one per channel (${w.dims[axis]})`);
    return paramsFromScales(list, wf, axis);
  }
  const layout = weightLayout(w.dims, wf, w.channelAxis, w.reductionAxis);
  const axis = g.axis ?? layout.reductionAxis;
  const count = scaleDims(layout.dims, { axis, blockSize: g.size }).reduce((a, b) => a * b, 1);
  if (list.length !== count) fail(`one per block (${count})`);
  const base = paramsFromScales(list, wf, axis);
  return { ...base, blockSize: g.size, ...intRange(wf.bits, wf.signed) };
}
