/** The recipe file (`*.qrecipe.json`): which model, default formats, per-layer overrides. Version 1. */

/** Current recipe schema version. */
export const RECIPE_VERSION = 1;

/** One layer's settings; any field left out falls back to `defaults`. */
export interface LayerSpec {
  /** Weight format, e.g. `int4/per-channel`, `int8/block:32`, `float16`, `float`. */
  weights?: string;
  /** Activation (input) format, e.g. `uint8`, `int16`, `float`. */
  activations?: string;
  /** Activation calibration: `minmax`, `percentile:99.99`, `mse`, `entropy`. */
  calibration?: string;
  /** Learned or fixed quantization parameters written by QAT (per tensor name). */
  scales?: Record<string, number | number[]>;
  /** How the weights are rounded: `rtn` (round to nearest, the default), `adaround`, `gptq`, `bias-correction`, `equalize`, `awq`. */
  algorithm?: string;
}

/** The weight rounding / repair algorithms a recipe may name (see src/core/quant/algorithms). */
export const QUANT_ALGORITHMS = ['rtn', 'adaround', 'gptq', 'bias-correction', 'equalize', 'awq'] as const;

/** A weight rounding / repair algorithm. */
export type QuantAlgorithm = (typeof QUANT_ALGORITHMS)[number];

/** One-line descriptions of the algorithms, for help, hover and reports. */
export const ALGORITHM_HELP: Record<QuantAlgorithm, string> = {
  rtn: 'round to nearest (plain rounding, no data needed)',
  adaround: 'AdaRound: learned up/down rounding per weight minimising the layer output error on calibration data',
  gptq: 'GPTQ: column-by-column rounding with error feedback through the inverse Hessian of the layer output error',
  'bias-correction': 'round to nearest, then the bias absorbs the mean output shift rounding causes (measured on calibration data)',
  equalize: 'cross-layer equalization (Conv/Gemm pairs) or SmoothQuant scale migration (after LayerNormalization), then round to nearest',
  awq: 'AWQ: input channels scaled by activation magnitude^alpha (alpha searched on the layer output error), absorbed by the producer, then round to nearest',
};

/** Parses an algorithm name (case-insensitive); undefined when unknown. */
export function parseAlgorithm(text: string): QuantAlgorithm | undefined {
  const t = text.trim().toLowerCase();
  return (QUANT_ALGORITHMS as readonly string[]).includes(t) ? (t as QuantAlgorithm) : undefined;
}

/** A recipe file as stored on disk. A layer value of `"float"` keeps the layer unquantized. */
export interface Recipe {
  version: number;
  /** The model, relative to the recipe file's folder. */
  model: string;
  /** Calibration/training data folder, relative to the recipe file's folder. */
  data?: string;
  /** Number of calibration samples to use (default: all, at most 512). */
  samples?: number;
  defaults: LayerSpec;
  /** Overrides keyed by ONNX node name. */
  layers: Record<string, LayerSpec | 'float'>;
  /** Free-form provenance (which analysis produced it, its target). */
  notes?: string;
}

/** The defaults applied when a recipe has none: W8A8, per-channel weights, min-max calibration. */
export const DEFAULT_LAYER_SPEC: Required<Omit<LayerSpec, 'scales'>> = {
  weights: 'int8/per-channel',
  activations: 'uint8',
  calibration: 'minmax',
  algorithm: 'rtn',
};

/** The effective spec of a layer: defaults, then the override (`"float"` becomes float/float). */
export function effectiveLayerSpec(recipe: Pick<Recipe, 'defaults' | 'layers'>, layer: string): Required<Omit<LayerSpec, 'scales'>> & Pick<LayerSpec, 'scales'> {
  const base = { ...DEFAULT_LAYER_SPEC, ...stripUndefined(recipe.defaults ?? {}) };
  const o = recipe.layers?.[layer];
  if (o === 'float') return { ...base, weights: 'float', activations: 'float' };
  return { ...base, ...stripUndefined(o ?? {}) };
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Calibration methods a recipe may name. */
export const CALIBRATION_METHODS = ['minmax', 'percentile', 'mse', 'entropy'] as const;

/** A parsed calibration setting. */
export type CalibrationSpec = { method: 'minmax' } | { method: 'percentile'; percentile: number } | { method: 'mse' } | { method: 'entropy' };

/** Parses `minmax`, `percentile:99.99`, `mse`, `entropy`. */
export function parseCalibration(text: string): { ok: true; spec: CalibrationSpec } | { ok: false; error: string } {
  const t = text.trim().toLowerCase();
  if (t === 'minmax' || t === 'min-max' || t === 'max') return { ok: true, spec: { method: 'minmax' } };
  if (t === 'mse') return { ok: true, spec: { method: 'mse' } };
  if (t === 'entropy' || t === 'kl') return { ok: true, spec: { method: 'entropy' } };
  const m = /^percentile(?::(\d+(?:\.\d+)?))?$/.exec(t);
  if (m) {
    const p = m[1] === undefined ? 99.99 : Number(m[1]);
    if (!(p > 50 && p <= 100)) return { ok: false, error: `percentile must be in (50, 100], got ${p}` };
    return { ok: true, spec: { method: 'percentile', percentile: p } };
  }
  return { ok: false, error: `unknown calibration '${text}': expected minmax, percentile:<p>, mse or entropy` };
}
