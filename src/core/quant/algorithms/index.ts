/** The weight repair algorithms (see repair.ts) and how a recipe chooses them per layer. */
import { QuantLensError } from '../../errors';
import { QuantLayer } from '../../onnx/layer';
import { effectiveLayerSpec, parseAlgorithm, QUANT_ALGORITHMS, QuantAlgorithm, Recipe } from '../../../shared/recipe';

export { repairPlan, underdetermined } from './repair';
export type { LayerRepair, RepairOptions, RepairResult } from './repair';

/**
 * The algorithm of every layer the recipe quantizes: the layer's `algorithm`, else the defaults' (`override`, e.g. the
 * CLI's --algorithm, replaces the defaults' value), else `rtn`. Throws QuantLensError naming the layer for unknown names.
 */
export function algorithmsFromRecipe(layers: readonly QuantLayer[], recipe: Pick<Recipe, 'defaults' | 'layers'>, override?: string, file?: string): Map<string, QuantAlgorithm> {
  if (override !== undefined && !parseAlgorithm(override)) {
    throw new QuantLensError('usage-bad-algorithm', `unknown algorithm '${override}': expected one of ${QUANT_ALGORITHMS.join(', ')}`);
  }
  const r = override !== undefined ? { ...recipe, defaults: { ...recipe.defaults, algorithm: override } } : recipe;
  const out = new Map<string, QuantAlgorithm>();
  for (const l of layers) {
    const text = effectiveLayerSpec(r, l.name).algorithm;
    const a = parseAlgorithm(text);
    if (!a) {
      const where = typeof recipe.layers?.[l.name] === 'object' && (recipe.layers[l.name] as { algorithm?: string }).algorithm !== undefined ? `layer '${l.name}'` : '"defaults"';
      throw new QuantLensError('recipe-bad-algorithm', `${where}: unknown algorithm '${text}': expected one of ${QUANT_ALGORITHMS.join(', ')}`, file);
    }
    out.set(l.name, a);
  }
  return out;
}

/** True when any layer uses an algorithm other than round to nearest. */
export function needsRepair(algorithms: ReadonlyMap<string, QuantAlgorithm>): boolean {
  return [...algorithms.values()].some((a) => a !== 'rtn');
}

/** True when an algorithm migrates scales between layers (equalize, AWQ): the float model's activations change. */
export function migratesScales(algorithms: ReadonlyMap<string, QuantAlgorithm>): boolean {
  return [...algorithms.values()].some((a) => a === 'equalize' || a === 'awq');
}

/**
 * The model activation ranges are calibrated on after repair: the repaired one when scales migrated (its activations
 * differ), else the original float model, as for unrepaired layers and as the analysis measures repaired configurations
 * (AdaRound, GPTQ and bias correction change only the rounding of weights).
 */
export function rangeModel<T>(original: T, repaired: T, algorithms: ReadonlyMap<string, QuantAlgorithm>): T {
  return migratesScales(algorithms) ? repaired : original;
}
