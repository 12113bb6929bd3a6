/**
 * The remedy search of the default ('decisive') analysis on large models: instead of measuring one configuration per
 * candidate layer and step (remedy.ts, hundreds of whole-model runs on ResNet-50), the layers are ordered once by
 * their predicted noise reduction per extra byte, with each layer's free state being its repair when the repair's
 * measured layer-level gain lowers its predicted noise. The first run (every layer in its free state) calibrates the
 * prediction against the measured output; the smallest prefix of that order meeting the target is then found by
 * measuring only around the calibrated prediction (bracket, then bisect). The chosen configuration is measured with
 * the weights export writes for it (refit), widening the prefix if those miss the target, so report and export agree.
 * Every point in the answer was measured; the remedies' effects are those measured on the way (no extra runs).
 */
import { EndToEndMetrics, LayerRemedy, ParetoPoint } from '../../shared/report';
import { throwIfAborted } from './activation-cache';
import { RemedyResult, RemedySearch } from './remedy';
import { LayerFormats } from './sensitivity';

/** The state of a layer in a configuration: base format rounded to nearest, kept at the higher one, or repaired at the base. */
export type LayerState = 'base' | 'higher' | 'repaired';

/** Inputs of searchPredictedRemedies: the remedy search's, plus each layer's predicted noise per state. */
export interface PredictedRemedySearch extends RemedySearch {
  /** A layer's predicted output noise in a state, relative to the float output's power (undefined: not predicted). */
  noise: (layer: string, state: LayerState) => number | undefined;
  /** For SQNR targets: the largest output noise (relative) that meets the target. */
  noiseBudget?: number;
}

/** Relative output noise of measured metrics (1 / SQNR). */
export function relativeNoise(m: EndToEndMetrics): number {
  return 10 ** (-m.sqnrDb / 10);
}

/** The layers in the order the search keeps them, with their free state (repaired where that lowers the predicted noise); see the module comment. */
export function remedyOrder(o: Pick<PredictedRemedySearch, 'layers' | 'noise' | 'repairs' | 'extraBytes'>): { order: string[]; repaired: Set<string>; predicted: (k: number) => number } {
  const names = o.layers.map((l) => l.name);
  const n = (name: string, s: LayerState) => o.noise(name, s) ?? 0;
  const repaired = new Set(names.filter((x) => o.repairs.has(x) && o.noise(x, 'repaired') !== undefined && n(x, 'repaired') < n(x, 'base')));
  const free = (x: string) => n(x, repaired.has(x) ? 'repaired' : 'base');
  const score = (x: string) => (free(x) - n(x, 'higher')) / Math.max(1, o.extraBytes(x));
  const order = names.slice().sort((a, b) => score(b) - score(a));
  const predicted = (k: number) => order.reduce((s, x, i) => s + (i < k ? n(x, 'higher') : free(x)), 0);
  return { order, repaired, predicted };
}

/** Finds the smallest prefix of the predicted order meeting the target, measured; see the module comment. */
export async function searchPredictedRemedies(o: PredictedRemedySearch): Promise<RemedyResult> {
  const names = o.layers.map((l) => l.name);
  const L = names.length;
  const { order, repaired, predicted } = remedyOrder(o);
  let weights = new Map([...o.repairs].filter(([n]) => repaired.has(n)).map(([n, r]) => [n, r.values]));
  let memo = new Map<number, ParetoPoint>();
  let scale = 1;
  const earlier: ParetoPoint[] = [];
  const formats = (kept: ReadonlySet<string>): LayerFormats => new Map(o.layers.map((l) => {
    const values = kept.has(l.name) ? undefined : weights.get(l.name);
    return [l.name, kept.has(l.name) ? { ...o.higher } : values ? { ...o.base, weightValues: values } : { ...o.base }];
  }));
  const measure = async (k: number): Promise<ParetoPoint> => {
    const hit = memo.get(k);
    if (hit) return hit;
    throwIfAborted(o.signal);
    const kept = new Set(order.slice(0, k));
    const rep = names.filter((n) => weights.has(n) && !kept.has(n));
    o.onProgress?.(`measuring ${k} kept, ${rep.length} repaired`);
    const sizeBytes = Math.round(o.sizeOf(kept));
    const p: ParetoPoint = { kept: names.filter((n) => kept.has(n)), sizeBytes, bops: o.bopsOf(kept), metrics: await o.runner.measure(formats(kept)), verified: true, repaired: rep.length ? rep : undefined };
    memo.set(k, p);
    return p;
  };
  const meets = async (k: number) => { const p = await measure(k); return o.meets(p.metrics, p.sizeBytes); };
  /** Measured over predicted noise at prefix k (the prediction's calibration). */
  const calibrate = (k: number, p: ParetoPoint) => { const pr = predicted(k); scale = pr > 0 && p.metrics.sqnrDb < 200 ? relativeNoise(p.metrics) / pr : 1; };
  /** The first prefix the calibrated prediction says meets an SQNR target (other targets: `fallback`). */
  const predictedStart = (fallback: number) => {
    if (o.noiseBudget === undefined) return fallback;
    let k = 0;
    while (k < L && scale * predicted(k) > o.noiseBudget) k++;
    return k;
  };
  /** The smallest measured prefix meeting the target (L + 1: none), bracketed from `from` down or up, then bisected. */
  const smallest = async (from: number): Promise<number> => {
    let lo = -1, hi = L + 1;
    from = Math.max(0, Math.min(L, from));
    if (await meets(from)) hi = from; else lo = from;
    for (let step = 1; hi === L + 1 && lo < L; step *= 2) { const k = Math.min(L, lo + step); if (await meets(k)) hi = k; else lo = k; }
    for (let step = 1; lo === -1 && hi > 0; step *= 2) { const k = Math.max(0, hi - step); if (await meets(k)) hi = k; else lo = k; }
    while (hi <= L && hi - lo > 1) { const mid = Math.floor((lo + hi) / 2); if (await meets(mid)) hi = mid; else lo = mid; }
    return hi;
  };

  // calibration: measured noise over predicted noise with every layer in its free state
  calibrate(0, await measure(0));
  let k = await smallest(predictedStart(o.start ? Math.min(L, o.start.length) : 0));
  // the chosen prefix measured with the weights export writes for it; when they miss, widen and fit again (up to 3 fits).
  // No search below a fitted answer that meets: fitted for one configuration, the weights do not carry to another
  // (GPTQ aims each layer at the float output given the layers before it), so smaller prefixes would each need a fit.
  let best: ParetoPoint | undefined;
  const fittedPoints: ParetoPoint[] = [];
  for (let round = 0; round < 3 && k <= L; round++) {
    const kept = new Set(order.slice(0, k));
    const rep = names.filter((n) => repaired.has(n) && !kept.has(n));
    if (!o.refit || !rep.length) { best = await measure(k); break; }
    o.onProgress?.(`fitting ${rep.length} repair${rep.length > 1 ? 's' : ''} as export will`);
    const fitted = await o.refit(names.filter((n) => kept.has(n)), new Map(rep.map((n) => [n, o.repairs.get(n)!.algorithm])));
    earlier.push(...[...memo.values()].filter((p) => !p.repaired));
    memo = new Map();
    weights = new Map(rep.filter((n) => fitted.has(n)).map((n) => [n, fitted.get(n)!]));
    const p = await measure(k);
    fittedPoints.push(p);
    if (o.meets(p.metrics, p.sizeBytes)) { best = p; break; }
    const next = await smallest(k + 1);
    if (next > L) break;
    k = next;
  }
  const final = best ?? fittedPoints[fittedPoints.length - 1] ?? await measure(Math.min(k, L));
  const without = (n: string): EndToEndMetrics | undefined => {
    // the prefix one shorter is the configuration without the last kept layer (when that layer has no repair)
    const i = order.indexOf(n);
    return i === final.kept.length - 1 && !repaired.has(n) && memo.get(i + 1) === final ? memo.get(i)?.metrics : undefined;
  };
  const remedies: LayerRemedy[] = [
    ...order.slice(0, final.kept.length).map((n): LayerRemedy => ({ layer: n, remedy: 'keep', extraBytes: Math.round(o.extraBytes(n)), without: without(n) })),
    ...(final.repaired ?? []).map((n): LayerRemedy => ({ layer: n, remedy: 'repair', algorithm: o.repairs.get(n)!.algorithm, extraBytes: 0 })),
  ];
  return {
    met: o.meets(final.metrics, final.sizeBytes), kept: final.kept, repaired: final.repaired ?? [], metrics: final.metrics, sizeBytes: final.sizeBytes,
    points: [...earlier, ...(o.refit ? fittedPoints : []), ...memo.values()].filter((p, i, all) => all.indexOf(p) === i && (!o.refit || !p.repaired || fittedPoints.includes(p))), remedies,
  };
}
