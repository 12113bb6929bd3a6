/**
 * Remedies for the layers that miss the target: keep a layer at the higher precision (costs bytes) or repair it at
 * the base format with a rounding algorithm (AdaRound, GPTQ: same size). The search measures whole configurations
 * with the configurable model (never adds isolated errors): greedy forward selection by measured gain per extra byte
 * (every layer tried at each step on small models; larger ones start from the count-based answer and try the next
 * FORWARD_TRIED layers of its order per step), then backward pruning of the kept layers the target does not need,
 * biggest first (PRUNE_TRIED of them on large models). Each remedy's effect is measured by undoing it
 * in the chosen configuration; a repair that does not help end to end is dropped. The chosen configuration is then
 * measured with the repaired weights export writes for it (exportRepairWeights), so report and export agree.
 */
import { DataSource } from '../data/source';
import { Graph } from '../onnx/graph';
import { QuantLayer } from '../onnx/layer';
import { ModelProto } from '../onnx/proto';
import { toFloat32 } from '../onnx/tensor-data';
import { InferenceBackend } from '../runtime/backend';
import { NumberFormat } from '../../shared/formats';
import { QuantAlgorithm, Recipe } from '../../shared/recipe';
import { algorithmsFromRecipe } from '../quant/algorithms';
import { EndToEndMetrics, LayerRemedy, LayerRepairResult, ParetoPoint } from '../../shared/report';
import { repairPlan } from '../quant/algorithms/repair';
import { buildPlan } from '../quant/plan';
import { throwIfAborted } from './activation-cache';
import { ConfigurationRunner, LayerFormats } from './sensitivity';

/** Per layer, the repaired weight values at the base format (for the search) and every algorithm's layer SQNR (for the report). */
export interface RepairCandidates {
  weights: Map<string, { algorithm: QuantAlgorithm; values: Float32Array }>;
  results: Map<string, LayerRepairResult>;
}

/** Algorithms whose result is a new weight only (the configurable model can measure them); others only show in the report. */
const WEIGHT_ONLY = new Set<QuantAlgorithm>(['adaround', 'gptq']);

/**
 * Runs each algorithm on every layer at the base weight format (activations left float: the repair sees float inputs)
 * and keeps, per layer, the best weight-only repair that beats plain rounding on the layer's output.
 */
export async function repairCandidates(o: {
  model: ModelProto; layers: readonly QuantLayer[]; weights: string; data: DataSource; backend: InferenceBackend;
  algorithms: readonly QuantAlgorithm[]; seed?: number; signal?: AbortSignal; onProgress?: (message: string) => void; threads?: number;
  /**
   * Fit each layer on the inputs of the model with the layers before it quantized (default) or on the float model's
   * inputs: one float run for every layer instead of one run of the quantized model per round (big models' default
   * mode, where the candidates only rank and predict; the chosen configuration is fitted sequentially, as export does).
   */
  sequential?: boolean;
}): Promise<RepairCandidates> {
  const plan = buildPlan(o.layers, { defaults: { weights: o.weights, activations: 'float' }, layers: {} });
  const results = new Map<string, LayerRepairResult>();
  const weights = new Map<string, { algorithm: QuantAlgorithm; values: Float32Array; db: number }>();
  for (const algorithm of o.algorithms) {
    throwIfAborted(o.signal);
    o.onProgress?.(`repair at ${o.weights}: ${algorithm}`);
    const r = await repairPlan({ model: o.model, layers: o.layers, plan, algorithms: new Map(o.layers.map((l) => [l.name, algorithm])), data: o.data, backend: o.backend, seed: o.seed ?? 1, signal: o.signal, adaround: { iterations: 1000 }, threads: o.threads, sequential: o.sequential });
    const graph = new Graph(r.model);
    for (const l of r.layers) {
      if (l.rtnSqnrDb === undefined || l.sqnrDb === undefined) continue;
      const res = results.get(l.layer) ?? { weights: o.weights, rtnSqnrDb: round2(l.rtnSqnrDb), algorithms: {}, ...(l.rows !== undefined ? { rows: l.rows, inputs: l.inputs } : {}) };
      res.algorithms[algorithm] = round2(l.sqnrDb);
      results.set(l.layer, res);
      const layer = o.layers.find((x) => x.name === l.layer)!;
      if (WEIGHT_ONLY.has(algorithm) && l.applied === algorithm && l.sqnrDb > l.rtnSqnrDb && l.sqnrDb > (weights.get(l.layer)?.db ?? -Infinity)) {
        const t = graph.constantValue(layer.weight!.tensor);
        if (t) weights.set(l.layer, { algorithm, values: toFloat32(t), db: l.sqnrDb });
      }
    }
  }
  for (const res of results.values()) {
    const best = Object.entries(res.algorithms).sort((a, b) => b[1] - a[1])[0];
    if (best && best[1] > res.rtnSqnrDb) res.best = best[0];
  }
  return { weights: new Map([...weights].map(([k, v]) => [k, { algorithm: v.algorithm, values: v.values }])), results };
}

const round2 = (v: number) => Math.round(v * 100) / 100;

/**
 * The repaired weights export writes for a configuration: the recipe (base defaults, kept layers at the higher
 * format, `repaired` with their algorithms) through the same repairPlan call as the engine's and CLI's quantize
 * (sequential, seed 1), on the same data. Layers whose repair fell back to rounding to nearest are left out.
 */
export async function exportRepairWeights(o: {
  model: ModelProto; layers: readonly QuantLayer[]; data: DataSource; backend: InferenceBackend; signal?: AbortSignal;
  base: { weights: string; activations: string }; higher: { weights: string; activations: string }; calibration: string;
  kept: readonly string[]; repaired: ReadonlyMap<string, QuantAlgorithm>; threads?: number;
}): Promise<Map<string, Float32Array>> {
  const recipe: Pick<Recipe, 'defaults' | 'layers'> = {
    defaults: { weights: o.base.weights, activations: o.base.activations, calibration: o.calibration },
    layers: Object.fromEntries([...o.kept.map((n) => [n, { weights: o.higher.weights, activations: o.higher.activations }]), ...[...o.repaired].map(([n, a]) => [n, { algorithm: a }])]),
  };
  const r = await repairPlan({ model: o.model, layers: o.layers, plan: buildPlan(o.layers, recipe), algorithms: algorithmsFromRecipe(o.layers, recipe), data: o.data, backend: o.backend, seed: 1, signal: o.signal, threads: o.threads });
  const graph = new Graph(r.model);
  const out = new Map<string, Float32Array>();
  for (const l of r.layers) {
    if (l.applied !== l.algorithm || !o.repaired.has(l.layer)) continue;
    const t = graph.constantValue(o.layers.find((x) => x.name === l.layer)!.weight!.tensor);
    if (t) out.set(l.layer, toFloat32(t));
  }
  return out;
}

/** Inputs of searchRemedies. */
export interface RemedySearch {
  layers: readonly QuantLayer[];
  runner: ConfigurationRunner;
  base: { weights: NumberFormat; activations: NumberFormat };
  higher: { weights: NumberFormat; activations: NumberFormat };
  /** Extra bytes of keeping a layer at the higher precision. */
  extraBytes: (layer: string) => number;
  /** Model size with these layers kept. */
  sizeOf: (kept: ReadonlySet<string>) => number;
  bopsOf: (kept: ReadonlySet<string>) => number | undefined;
  meets: (m: EndToEndMetrics, sizeBytes: number) => boolean;
  merit: (m: EndToEndMetrics) => number;
  /** Repaired weights per layer (empty: keep-only search). */
  repairs: ReadonlyMap<string, { algorithm: QuantAlgorithm; values: Float32Array }>;
  /**
   * The weights export will write for a configuration (exportRepairWeights): repair candidates were fitted with every
   * layer at the base format, the export fits them again for the chosen configuration. When given, the chosen
   * configuration is measured with these weights (and the search resumes if they miss the target).
   */
  refit?: (kept: readonly string[], repaired: ReadonlyMap<string, QuantAlgorithm>) => Promise<Map<string, Float32Array>>;
  /** A kept set known to meet the target (start of the pruning on large models). */
  start?: readonly string[];
  /** Layers beyond which forward selection is not tried exhaustively per step (default 16). */
  exhaustiveUpTo?: number;
  /** The layers by prior sensitivity per extra byte, most first (the count-based order): beyond exhaustiveUpTo, each forward step tries the first FORWARD_TRIED not kept. */
  order?: readonly string[];
  signal?: AbortSignal;
  onProgress?: (message: string) => void;
}

/** The search's answer: kept and repaired layers, their verified metrics, every measured point, and each remedy's effect. */
export interface RemedyResult {
  met: boolean;
  kept: string[];
  repaired: string[];
  metrics: EndToEndMetrics;
  sizeBytes: number;
  points: ParetoPoint[];
  remedies: LayerRemedy[];
}

/** Layers one forward step measures on models of more than exhaustiveUpTo layers (the next ones in the prior order). */
export const FORWARD_TRIED = 4;

/** Kept layers backward pruning tries on models of more than exhaustiveUpTo layers. */
export const PRUNE_TRIED = 16;

const large = (names: readonly string[], o: Pick<RemedySearch, 'exhaustiveUpTo'>) => names.length > (o.exhaustiveUpTo ?? 16);

/** The kept layers backward pruning tries, biggest first: all on small models; else PRUNE_TRIED, those with a repair candidate first. */
function pruneCandidates(names: readonly string[], kept: ReadonlySet<string>, o: Pick<RemedySearch, 'exhaustiveUpTo' | 'repairs' | 'extraBytes'>): string[] {
  const bySize = [...kept].sort((a, b) => o.extraBytes(b) - o.extraBytes(a));
  if (!large(names, o)) return bySize;
  return [...bySize.filter((n) => o.repairs.has(n)), ...bySize.filter((n) => !o.repairs.has(n))].slice(0, PRUNE_TRIED);
}

/** The layers a forward step tries: every layer not kept on small models, else the next FORWARD_TRIED of the prior order. */
function forwardCandidates(names: readonly string[], kept: ReadonlySet<string>, o: Pick<RemedySearch, 'order' | 'exhaustiveUpTo'>): string[] {
  const free = names.filter((x) => !kept.has(x));
  if (!large(names, o) || !o.order) return free;
  const next = o.order.filter((n) => !kept.has(n)).slice(0, FORWARD_TRIED);
  return next.length ? next : free;
}

/** Finds the smallest configuration (kept layers, repaired layers) meeting the target; see the module comment. */
export async function searchRemedies(o: RemedySearch): Promise<RemedyResult> {
  const names = o.layers.map((l) => l.name);
  const memo = new Map<string, ParetoPoint>();
  let repaired = new Set(o.repairs.keys());
  // the repaired weights measured: the candidates, then (with refit) what export writes for the chosen configuration
  let weights = new Map([...o.repairs].map(([n, r]) => [n, r.values]));
  const formats = (kept: ReadonlySet<string>, rep: ReadonlySet<string>): LayerFormats => new Map(o.layers.map((l) => {
    const values = rep.has(l.name) ? weights.get(l.name) : undefined;
    return [l.name, kept.has(l.name) ? { ...o.higher } : values ? { ...o.base, weightValues: values } : { ...o.base }];
  }));
  const keyOf = (kept: ReadonlySet<string>, rep: ReadonlySet<string>) => `${[...kept].sort().join('\u0000')}|${[...rep].filter((n) => !kept.has(n)).sort().join('\u0000')}`;
  const measure = async (kept: ReadonlySet<string>, rep: ReadonlySet<string> = repaired): Promise<ParetoPoint> => {
    const k = [...kept].sort(), r = [...rep].filter((n) => !kept.has(n)).sort();
    const key = keyOf(kept, rep);
    const hit = memo.get(key);
    if (hit) return hit;
    throwIfAborted(o.signal);
    o.onProgress?.(`measuring ${k.length} kept, ${r.length} repaired`);
    const sizeBytes = Math.round(o.sizeOf(kept));
    const p: ParetoPoint = { kept: names.filter((n) => kept.has(n)), sizeBytes, bops: o.bopsOf(kept), metrics: await o.runner.measure(formats(kept, rep)), verified: true, repaired: r.length ? names.filter((n) => r.includes(n)) : undefined };
    memo.set(key, p);
    return p;
  };
  const ok = (p: ParetoPoint) => o.meets(p.metrics, p.sizeBytes);
  const points: ParetoPoint[] = [];
  /** Fits the repairs again as export will for the current configuration; later measurements use those weights. */
  const refit = async (kept: ReadonlySet<string>): Promise<boolean> => {
    const rep = names.filter((n) => repaired.has(n) && !kept.has(n));
    if (!o.refit || !rep.length) return false;
    o.onProgress?.(`fitting ${rep.length} repair${rep.length > 1 ? 's' : ''} as export will`);
    const fitted = await o.refit(names.filter((n) => kept.has(n)), new Map(rep.map((n) => [n, o.repairs.get(n)!.algorithm])));
    // points measured with the candidates' repaired weights are not what export writes: only unrepaired ones stay
    points.push(...[...memo.values()].filter((p) => !p.repaired));
    memo.clear();
    weights = new Map(rep.filter((n) => fitted.has(n)).map((n) => [n, fitted.get(n)!]));
    return true;
  };

  let kept = new Set<string>();
  let cur = await measure(kept);
  if (!ok(cur) && o.start && names.length > (o.exhaustiveUpTo ?? 16)) {
    kept = new Set(o.start);
    cur = await measure(kept);
  }
  // forward: add the layer with the best measured gain per extra byte until the target is met
  const forward = async () => {
    while (!ok(cur) && kept.size < names.length) {
      // a layer that alone reaches the target wins (the cheapest such); else the best measured gain per extra byte
      let meet: { name: string; p: ParetoPoint } | undefined;
      let gain: { name: string; p: ParetoPoint; score: number } | undefined;
      for (const n of forwardCandidates(names, kept, o)) {
        const p = await measure(new Set([...kept, n]));
        if (ok(p)) { if (!meet || o.extraBytes(n) < o.extraBytes(meet.name)) meet = { name: n, p }; continue; }
        const score = (o.merit(p.metrics) - o.merit(cur.metrics)) / Math.max(1, o.extraBytes(n));
        if (!gain || score > gain.score) gain = { name: n, p, score };
      }
      const best = meet ?? gain;
      if (!best) break;
      kept.add(best.name);
      cur = best.p;
      if (names.length > (o.exhaustiveUpTo ?? 16) && kept.size > 64) break;
    }
  };
  await forward();
  // backward: drop every kept layer the target does not need, biggest first (on large models PRUNE_TRIED of them)
  if (ok(cur)) {
    for (const n of pruneCandidates(names, kept, o)) {
      const trial = new Set([...kept].filter((x) => x !== n));
      const p = await measure(trial);
      if (ok(p)) { kept = trial; cur = p; }
    }
  }
  // each remedy's measured effect; repairs that do not help end to end are dropped (and the rest fitted again without them)
  const repairEffects = async () => {
    const out: LayerRemedy[] = [];
    let dropped = false;
    for (const n of names.filter((x) => repaired.has(x) && !kept.has(x))) {
      const without = await measure(kept, new Set([...repaired].filter((x) => x !== n)));
      if (o.merit(without.metrics) >= o.merit(cur.metrics) && ok(without)) { repaired = new Set([...repaired].filter((x) => x !== n)); cur = without; dropped = true; continue; }
      out.push({ layer: n, remedy: 'repair', algorithm: o.repairs.get(n)!.algorithm, extraBytes: 0, without: without.metrics });
    }
    return { out, dropped };
  };
  // large models: repairs that do not help are dropped with the candidates' weights first (measurements are cheaper than fitting them as export will)
  if (large(names, o) && o.refit && ok(cur)) await repairEffects();
  // the chosen configuration with the weights export writes; if they miss the target, keep more layers and fit again
  for (let round = 0; round < 3 && (await refit(kept)); round++) {
    cur = await measure(kept);
    if (ok(cur) || round === 2) break; // the last answer stands as measured with the weights export writes
    await forward();
  }
  let remedies: LayerRemedy[] = [];
  for (let round = 0; round < 3; round++) {
    const r = await repairEffects();
    remedies = r.out;
    if (!r.dropped || !(await refit(kept))) break;
    cur = await measure(kept);
  }
  // each kept layer's effect: measured on small models; on large ones only where that configuration was measured already
  for (const n of names.filter((x) => kept.has(x))) {
    const trial = new Set([...kept].filter((x) => x !== n));
    const without = large(names, o) ? memo.get(keyOf(trial, repaired)) : await measure(trial);
    remedies.unshift({ layer: n, remedy: 'keep', extraBytes: Math.round(o.extraBytes(n)), without: without?.metrics });
  }
  const final = await measure(kept);
  return {
    met: ok(final), kept: final.kept, repaired: final.repaired ?? [], metrics: final.metrics, sizeBytes: final.sizeBytes,
    // with refit, a repaired point other than the final one was measured with weights fitted for another configuration
    points: [...points, ...[...memo.values()].filter((p) => !o.refit || !p.repaired || p === final)], remedies,
  };
}
