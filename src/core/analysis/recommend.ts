/**
 * Mixed precision: which layers to keep at a higher precision than the base format to meet a target at
 * the least size. Layers are ordered greedily by sensitivity per extra byte; the Pareto points and the
 * recommended configuration are measured by running them, never estimated by adding isolated errors.
 */
import { Graph } from '../onnx/graph';
import { DataType } from '../onnx/proto';
import { sizeOf } from '../onnx/tensor-data';
import { formatBits, mustParseFormat, NumberFormat } from '../../shared/formats';
import { RECIPE_VERSION, Recipe } from '../../shared/recipe';
import { configurationBytes, floatModelBytes } from '../../shared/sizes';
import { EndToEndMetrics, FormatCandidate, LayerReport, ParetoPoint, Recommendation, Target } from '../../shared/report';
import { ConfigurationRunner, LayerFormats, SensitivityContext } from './sensitivity';
import { throwIfAborted } from './activation-cache';
import { RemedyResult, RemedySearch, RepairCandidates, searchRemedies } from './remedy';
import { LayerState, searchPredictedRemedies } from './predicted-remedies';

/** Inputs of recommend. */
export interface RecommendOptions {
  ctx: SensitivityContext;
  runner: ConfigurationRunner;
  reports: readonly LayerReport[];
  graph: Graph;
  base: FormatCandidate;
  higher: FormatCandidate;
  /** The analysed candidates (their isolated results rank the layers when the base itself was not analysed). */
  candidates: readonly FormatCandidate[];
  target: Target;
  /** The model file name written into the recipe. */
  modelFile: string;
  calibration: string;
  floatAccuracy?: number;
  onProgress?: (message: string) => void;
  /**
   * 'all' (default): the whole trade-off curve is measured. 'decisive': the curve is predicted from the layers'
   * noises (added), and only the points that decide the choice are measured (from the predicted count, widening
   * then bisecting); the other Pareto points are predictions (`verified: false`).
   */
  mode?: 'all' | 'decisive';
  /** Estimated isolated SQNR (dB) of a layer in a format pair (the screening); used where nothing was measured. */
  estimate?: (layer: string, c: FormatCandidate) => number | undefined;
  /** Mean square of the float outputs per element (turns a predicted SQNR into an MSE for predicted points). */
  signalPower?: number;
  /** Repaired weights at the base format per layer (remedy.ts repairCandidates): the search may repair instead of keeping. */
  repairs?: RepairCandidates['weights'];
  /** Every repair's layer-level result (remedy.ts repairCandidates): the predicted search ('decisive' on large models) weighs repairs by their measured gain. */
  repairResults?: RepairCandidates['results'];
  /** The repaired weights export writes for a configuration (remedy.ts exportRepairWeights): the choice is measured with them. */
  refit?: RemedySearch['refit'];
  /** Search by measured gains (remedy.ts) after the count-based curve; default true. */
  remedySearch?: boolean;
  /** Told when the remedy search starts (phase accounting). */
  onRemedySearch?: () => void;
}

/** Float parameters of the model that are not weights of quantizable layers (kept in float32). */
export function otherFloatParams(graph: Graph, layerWeights: ReadonlySet<string>): number {
  let n = 0;
  for (const [name, t] of [...graph.initializers, ...graph.constantNodes]) {
    if (layerWeights.has(name) || t.data_type !== DataType.FLOAT) continue;
    n += sizeOf((t.dims ?? []).map(Number));
  }
  return n;
}

/** True when the metrics meet an error target (size targets are checked on the size). */
export function meetsTarget(target: Target, m: EndToEndMetrics, sizeBytes: number, floatAccuracy?: number): boolean {
  switch (target.kind) {
    case 'min-sqnr-db': return m.sqnrDb >= target.value;
    case 'max-size-bytes': return sizeBytes <= target.value;
    case 'max-accuracy-drop': {
      if (floatAccuracy !== undefined && m.accuracy !== undefined) return floatAccuracy - m.accuracy <= target.value + 1e-12;
      if (m.top1Agreement !== undefined) return 1 - m.top1Agreement <= target.value + 1e-12;
      return false;
    }
  }
}

/** The figure of merit of a point for choosing the best reachable one (higher is better). */
function merit(target: Target, m: EndToEndMetrics): number {
  if (target.kind === 'max-accuracy-drop') return m.accuracy ?? m.top1Agreement ?? m.sqnrDb;
  return m.sqnrDb;
}

/** The counts of kept layers the Pareto curve measures: 0..4, then roughly ×1.5 steps, and all. */
export function paretoCounts(layers: number): number[] {
  const ks = new Set<number>([0, layers]);
  for (let k = 1; k < layers; k = k < 4 ? k + 1 : Math.ceil(k * 1.5)) ks.add(k);
  return [...ks].filter((k) => k <= layers).sort((a, b) => a - b);
}

/** Chooses the layers to keep in `higher` precision, verifies the choice and the Pareto curve by running them. */
export async function recommend(o: RecommendOptions): Promise<Recommendation> {
  const { ctx, target } = o;
  const layers = ctx.layers;
  const bw = mustParseFormat(o.base.weights), ba = mustParseFormat(o.base.activations);
  const hw = mustParseFormat(o.higher.weights), ha = mustParseFormat(o.higher.activations);
  const other = otherFloatParams(o.graph, new Set(layers.filter((l) => l.weight).map((l) => l.weight!.tensor)));
  const bytes = (params: number, f: NumberFormat) => (params * formatBits(f)) / 8;
  // One size definition for the core and every view (src/shared/sizes.ts).
  const sizeOfKept = (kept: ReadonlySet<string>) => configurationBytes(layers, other, kept, formatBits(bw), formatBits(hw));
  const bopsOf = (kept: ReadonlySet<string>) => layers.every((l) => l.macs !== undefined)
    ? layers.reduce((s, l) => s + (l.macs ?? 0) * formatBits(kept.has(l.name) ? hw : bw) * formatBits(kept.has(l.name) ? ha : ba), 0) : undefined;
  const formatsFor = (kept: ReadonlySet<string>): LayerFormats => new Map(layers.map((l) => [l.name, kept.has(l.name) ? { weights: hw, activations: ha } : { weights: bw, activations: ba }]));

  // Sensitivity of each layer under the base format: the output noise with only it in base (isolated),
  // taken from the analysis when it has the base format, else measured here.
  const noise = new Map<string, number>();
  const rep = new Map(o.reports.map((r) => [r.name, r]));
  for (const l of layers) {
    const r = rep.get(l.name);
    let sqnr = r?.formats[o.base.id]?.isolated?.sqnrDb;
    if (sqnr === undefined && r) {
      // weight-only and activation-only isolated errors of the base's parts add up (independent noises)
      const part = (w: string, a: string) => o.candidates.find((c) => c.weights === w && c.activations === a);
      const pw = bw.kind === 'float' ? undefined : part(o.base.weights, 'float');
      const pa = ba.kind === 'float' || !l.activationInputs.length ? undefined : part('float', o.base.activations);
      const needW = bw.kind !== 'float' && !!l.weight, needA = ba.kind !== 'float' && l.activationInputs.length > 0;
      const sw = pw && r.formats[pw.id]?.isolated?.sqnrDb, sa = pa && r.formats[pa.id]?.isolated?.sqnrDb;
      if ((!needW || sw !== undefined) && (!needA || sa !== undefined) && (needW || needA)) {
        const n = (needW ? 10 ** (-(sw as number) / 10) : 0) + (needA ? 10 ** (-(sa as number) / 10) : 0);
        sqnr = -10 * Math.log10(n);
      }
    }
    if (sqnr === undefined && o.mode === 'decisive') sqnr = o.estimate?.(l.name, o.base);
    if (sqnr === undefined) {
      throwIfAborted(ctx.signal);
      sqnr = (await o.runner.measure(new Map([[l.name, { weights: bw, activations: ba }]]))).sqnrDb;
    }
    noise.set(l.name, 10 ** (-sqnr / 10));
  }
  o.onProgress?.('ordering layers by sensitivity per byte');
  const order = layers.slice().sort((a, b) => {
    const cost = (l: typeof a) => Math.max(1, bytes(l.params, hw) - bytes(l.params, bw));
    return noise.get(b.name)! / cost(b) - noise.get(a.name)! / cost(a);
  }).map((l) => l.name);

  const measured = new Map<number, ParetoPoint>();
  const point = async (k: number): Promise<ParetoPoint> => {
    const hit = measured.get(k);
    if (hit) return hit;
    throwIfAborted(ctx.signal);
    o.onProgress?.(`measuring ${k} layer${k === 1 ? '' : 's'} kept in ${o.higher.id}`);
    const kept = order.slice(0, k);
    const set = new Set(kept);
    const p: ParetoPoint = { kept, sizeBytes: Math.round(sizeOfKept(set)), bops: bopsOf(set), metrics: await o.runner.measure(formatsFor(set)), verified: true };
    measured.set(k, p);
    return p;
  };

  const counts = paretoCounts(layers.length);
  let chosen: ParetoPoint | undefined;
  const predictedPoints: ParetoPoint[] = [];
  if (o.mode === 'decisive') {
    // Predicted curve: the base noise of the layers not kept plus the (estimated) higher-precision noise of the kept ones.
    const high = new Map(layers.map((l) => { const e = o.estimate?.(l.name, o.higher); return [l.name, e === undefined ? 0 : 10 ** (-e / 10)]; }));
    const predicted = (k: number) => {
      let n = 0;
      order.forEach((name, i) => { n += i < k ? high.get(name)! : noise.get(name)!; });
      return n > 0 ? Math.min(200, -10 * Math.log10(n)) : 200;
    };
    for (const k of counts) {
      const kept = order.slice(0, k), set = new Set(kept), db = Math.round(predicted(k) * 1000) / 1000, rel = 10 ** (-db / 10);
      predictedPoints.push({ kept, sizeBytes: Math.round(sizeOfKept(set)), bops: bopsOf(set), metrics: { sqnrDb: db, mse: rel * (o.signalPower ?? 0), cosine: 1 / Math.sqrt(1 + rel) }, verified: false });
    }
    const L = layers.length;
    const meets = async (k: number) => { const p = await point(k); return meetsTarget(target, p.metrics, p.sizeBytes, o.floatAccuracy); };
    if (target.kind === 'max-size-bytes') {
      let lo = 0, hi = L;
      if (sizeOfKept(new Set()) <= target.value) {
        while (lo < hi) { const mid = Math.ceil((lo + hi) / 2); if (sizeOfKept(new Set(order.slice(0, mid))) <= target.value) lo = mid; else hi = mid - 1; }
        chosen = await point(lo);
      }
    } else {
      // Smallest measured count meeting the target, starting from the predicted one: widen until bracketed, then bisect.
      let start = 0;
      if (target.kind === 'min-sqnr-db') while (start < L && predicted(start) < target.value) start++;
      let lo = -1, hi = L + 1;
      if (await meets(start)) hi = start; else lo = start;
      for (let step = 1; hi === L + 1 && lo < L; step *= 2) { const k = Math.min(L, lo + step); if (await meets(k)) hi = k; else lo = k; }
      for (let step = 1; lo === -1 && hi > 0; step *= 2) { const k = Math.max(0, hi - step); if (await meets(k)) hi = k; else lo = k; }
      while (hi <= L && hi - lo > 1) { const mid = Math.floor((lo + hi) / 2); if (await meets(mid)) hi = mid; else lo = mid; }
      if (hi <= L) chosen = await point(hi);
    }
  } else if (target.kind === 'max-size-bytes') {
    for (const k of counts) await point(k);
    // most layers kept within the size: binary search on k (size grows with k)
    let lo = 0, hi = layers.length;
    if (sizeOfKept(new Set()) <= target.value) {
      while (lo < hi) {
        const mid = Math.ceil((lo + hi) / 2);
        if (sizeOfKept(new Set(order.slice(0, mid))) <= target.value) lo = mid; else hi = mid - 1;
      }
      chosen = await point(lo);
    }
  } else {
    for (const k of counts) await point(k); // the whole trade-off, measured
    let prevFail = -1;
    for (const k of counts) {
      const p = await point(k);
      if (meetsTarget(target, p.metrics, p.sizeBytes, o.floatAccuracy)) {
        // refine between the last failing count and this one
        let lo = prevFail + 1, hi = k;
        while (lo < hi) {
          const mid = Math.floor((lo + hi) / 2);
          const q = await point(mid);
          if (meetsTarget(target, q.metrics, q.sizeBytes, o.floatAccuracy)) hi = mid; else lo = mid + 1;
        }
        chosen = await point(hi);
        break;
      }
      prevFail = k;
    }
  }
  // remedies by measured gains (remedy.ts): kept layers chosen and pruned by measured effect, repairs at the base format
  let remedy: RemedyResult | undefined;
  // every layer kept and still short of the target: no remedy (fewer layers kept, repairs at the base format) reaches it
  const allKept = measured.get(layers.length);
  const outOfReach = !!allKept && !meetsTarget(target, allKept.metrics, allKept.sizeBytes, o.floatAccuracy);
  if (target.kind !== 'max-size-bytes' && o.remedySearch !== false && !outOfReach) {
    o.onRemedySearch?.();
    const search: RemedySearch = {
      layers, runner: o.runner, base: { weights: bw, activations: ba }, higher: { weights: hw, activations: ha },
      extraBytes: (n) => { const l = layers.find((x) => x.name === n)!; return bytes(l.params, hw) - bytes(l.params, bw); },
      sizeOf: sizeOfKept, bopsOf, meets: (m, size) => meetsTarget(target, m, size, o.floatAccuracy), merit: (m) => merit(target, m),
      repairs: o.repairs ?? new Map(), refit: o.refit, start: chosen?.kept, order, signal: ctx.signal, onProgress: o.onProgress,
    };
    // the default mode on large models: ordered by predicted gains (repairs included), measured only around the calibrated prediction
    remedy = o.mode === 'decisive' && layers.length > PREDICTED_SEARCH_ABOVE
      ? await searchPredictedRemedies({ ...search, noise: stateNoise(o, noise), noiseBudget: target.kind === 'min-sqnr-db' ? 10 ** (-target.value / 10) : undefined })
      : await searchRemedies(search);
  }
  const pareto = [...measured.values(), ...predictedPoints.filter((p) => !measured.has(p.kept.length)), ...(remedy?.points ?? [])].sort((a, b) => a.sizeBytes - b.sizeBytes || a.kept.length - b.kept.length);
  const countMet = !!chosen && meetsTarget(target, chosen.metrics, chosen.sizeBytes, o.floatAccuracy);
  const useRemedy = !!remedy?.met && (!countMet || remedy.sizeBytes < chosen!.sizeBytes || (remedy.sizeBytes === chosen!.sizeBytes && merit(target, remedy.metrics) > merit(target, chosen!.metrics)));
  if (useRemedy) chosen = { kept: remedy!.kept, sizeBytes: remedy!.sizeBytes, bops: bopsOf(new Set(remedy!.kept)), metrics: remedy!.metrics, verified: true, repaired: remedy!.repaired.length ? remedy!.repaired : undefined };
  const met = !!chosen && meetsTarget(target, chosen.metrics, chosen.sizeBytes, o.floatAccuracy);
  const best = chosen ?? pareto.filter((p) => p.verified).reduce((a, b) => (merit(target, b.metrics) > merit(target, a.metrics) ? b : a));
  const repaired = useRemedy ? remedy!.repaired : [];
  const floatSize = floatModelBytes(layers, other);
  const targetText = describeTarget(target, o.floatAccuracy);
  const metricText = `output SQNR ${best.metrics.sqnrDb.toFixed(1)} dB${best.metrics.accuracy !== undefined ? `, accuracy ${(100 * best.metrics.accuracy).toFixed(2)}%` : best.metrics.top1Agreement !== undefined ? `, top-1 agreement ${(100 * best.metrics.top1Agreement).toFixed(2)}%` : ''}`;
  const repairText = repaired.length ? ` and repairing ${repaired.length} at ${o.base.id} (${repaired.map((n) => `${n}: ${o.repairs!.get(n)!.algorithm}`).join(', ')})` : '';
  const message = met
    ? `Keeping ${best.kept.length} of ${layers.length} layers in ${o.higher.id}${repairText} (rest ${o.base.id}) meets ${targetText}: ${metricText}, ${best.sizeBytes} bytes (measured).`
    : `The target (${targetText}) cannot be met with ${o.base.id} and ${o.higher.id}; the best reachable point keeps ${best.kept.length} of ${layers.length} layers in ${o.higher.id}: ${metricText}, ${best.sizeBytes} bytes.`;
  return {
    base: o.base, higher: o.higher, target, met, message, keep: best.kept, metrics: best.metrics,
    sizeBytes: best.sizeBytes, floatSizeBytes: floatSize, baseSizeBytes: Math.round(sizeOfKept(new Set())),
    pareto, recipe: recipeFor(o, best.kept, hw, ha, met, message, useRemedy ? remedy!.repaired : []),
    repaired: repaired.length ? repaired : undefined, remedies: useRemedy ? remedy!.remedies : undefined,
  };
}

/** On models with more layers than this, the default ('decisive') recommendation searches remedies by predicted gains (predicted-remedies.ts). */
export const PREDICTED_SEARCH_ABOVE = 16;

/**
 * A layer's predicted output noise per state for the predicted remedy search: base from the sensitivity order (measured
 * where measured), higher from the screening, repaired as the base noise with its weight share (the screening's
 * weight-only over weight + activation estimates) reduced by the repair's measured layer-level gain.
 */
function stateNoise(o: RecommendOptions, base: ReadonlyMap<string, number>): (layer: string, s: LayerState) => number | undefined {
  const est = (l: string, weights: string, activations: string) => { const e = o.estimate?.(l, { id: `${weights}:${activations}`, weights, activations }); return e === undefined ? undefined : 10 ** (-e / 10); };
  return (l, s) => {
    const b = base.get(l);
    if (s === 'base') return b;
    if (s === 'higher') return est(l, o.higher.weights, o.higher.activations) ?? 0;
    const r = o.repairResults?.get(l), alg = o.repairs?.get(l)?.algorithm;
    const db = alg !== undefined ? r?.algorithms[alg] : undefined;
    if (b === undefined || r === undefined || db === undefined) return undefined;
    const w = est(l, o.base.weights, 'float'), a = o.base.activations === 'float' ? 0 : est(l, 'float', o.base.activations);
    const share = w !== undefined && a !== undefined && w + a > 0 ? w / (w + a) : 1;
    return b * (1 - share) + b * share * 10 ** (-(db - r.rtnSqnrDb) / 10);
  };
}

/** A one-line description of a target. */
export function describeTarget(target: Target, floatAccuracy?: number): string {
  switch (target.kind) {
    case 'min-sqnr-db': return `output SQNR >= ${target.value} dB`;
    case 'max-size-bytes': return `size <= ${target.value} bytes`;
    case 'max-accuracy-drop': return floatAccuracy !== undefined ? `accuracy drop <= ${(100 * target.value).toFixed(2)} points` : `top-1 disagreement <= ${(100 * target.value).toFixed(2)}% (no labels)`;
  }
}

function recipeFor(o: RecommendOptions, kept: readonly string[], hw: NumberFormat, ha: NumberFormat, met: boolean, message: string, repaired: readonly string[] = []): Recipe {
  const layers: Recipe['layers'] = {};
  for (const name of repaired) layers[name] = { algorithm: o.repairs!.get(name)!.algorithm };
  for (const name of kept) layers[name] = hw.kind === 'float' && ha.kind === 'float' ? 'float' : { weights: o.higher.weights, activations: o.higher.activations };
  return {
    version: RECIPE_VERSION,
    model: o.modelFile,
    defaults: { weights: o.base.weights, activations: o.base.activations, calibration: o.calibration },
    layers,
    notes: `quantlens analyze: ${met ? 'meets' : 'does not meet'} ${describeTarget(o.target, o.floatAccuracy)}. ${message}`,
  };
}
