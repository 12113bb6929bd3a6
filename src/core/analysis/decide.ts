/**
 * Where exact runs decide: which layers the default ('decisive') analysis measures after the screening, the
 * predicted metrics of whole configurations from the layers' estimated noises, and the phase-aware progress.
 */
import { Graph } from '../onnx/graph';
import { QuantLayer } from '../onnx/layer';
import { toFloat32 } from '../onnx/tensor-data';
import { formatBits, mustParseFormat, NumberFormat } from '../../shared/formats';
import { FormatCandidate, LayerReport, Target } from '../../shared/report';
import { ActivationCache } from './activation-cache';
import { OutputLayout } from './metrics';
import { Estimator, estimateNoise, estimateSqnrDb, formatKey, ScreeningResult } from './screening';
import { LayerFormats } from './sensitivity';

/** The phases of an analysis, as progress reports name them. */
export type AnalysisPhase = 'calibrating' | 'screening' | 'measuring' | 'whole-model' | 'all-but-one' | 'recommending';

/** Progress of an analysis: `done` of `total` steps, the phase and what is being done. */
export interface AnalysisProgress {
  done: number;
  total: number;
  message: string;
  phase?: AnalysisPhase;
}

/** Counts steps and reports them with their phase. */
export class PhaseProgress {
  done = 0;
  constructor(private readonly cb: ((p: AnalysisProgress) => void) | undefined, public total: number) {}

  /** Reports that a phase (or a sub-step of it) starts, without counting a step. */
  enter(phase: AnalysisPhase, message: string): void {
    this.cb?.({ done: Math.min(this.done, this.total), total: this.total, message, phase });
  }

  /** Counts one finished step. */
  step(phase: AnalysisPhase, message: string): void {
    this.done++;
    this.enter(phase, message);
  }

  /** Every step is done: the last report reads total/total. */
  finish(phase: AnalysisPhase, message: string): void {
    this.done = this.total;
    this.enter(phase, message);
  }

  /** Changes the expected number of steps (once the measured layers are known). */
  resize(total: number): void {
    this.total = Math.max(total, this.done);
  }
}

/** Layers measured exactly in any case: the most sensitive ones by estimate under the primary format. */
export const TOP_MEASURED = 3;
/** Layers measured on each side of the recommendation's predicted boundary. */
export const BOUNDARY_MEASURED = 2;

/** True when a candidate changes something in a layer (a weight-only format does not apply to a layer without weights). */
export function applies(layer: QuantLayer, c: FormatCandidate): boolean {
  const wf = mustParseFormat(c.weights), af = mustParseFormat(c.activations);
  return (wf.kind !== 'float' && !!layer.weight) || (af.kind !== 'float' && layer.activationInputs.length > 0);
}

/** The distinct formats of a list of format strings. */
export function uniqueFormats(texts: readonly string[]): NumberFormat[] {
  const out = new Map<string, NumberFormat>();
  for (const t of texts) { const f = mustParseFormat(t); out.set(formatKey(f), f); }
  return [...out.values()];
}

/** The estimated isolated SQNR (dB) of a layer in a candidate's formats. */
export function estimateFor(s: ScreeningResult, layer: QuantLayer, c: FormatCandidate, estimator: Estimator): number | undefined {
  return estimateSqnrDb(s, layer, mustParseFormat(c.weights), mustParseFormat(c.activations), estimator);
}

/** Predicted output SQNR (dB) of a whole configuration: the layers' estimated noises added; undefined when a layer has no estimate. */
export function predictConfiguration(s: ScreeningResult, layers: readonly QuantLayer[], formats: LayerFormats, estimator: Estimator): number | undefined {
  let e = 0;
  for (const l of layers) {
    const f = formats.get(l.name);
    if (!f) continue;
    const n = estimateNoise(s, l, f.weights, f.activations, estimator);
    if (n === undefined) return undefined;
    e += n;
  }
  if (!(e > 0)) return 200;
  return Math.round(Math.min(200, 10 * Math.log10(s.signal / e)) * 1000) / 1000;
}

/** Mean square of the float outputs per element (turns predicted relative noise into an MSE). */
export function outputPower(cache: ActivationCache, layout: OutputLayout): number {
  let s = 0, n = 0;
  for (let b = 0; b < cache.batches; b++) for (const o of layout.floatOutputs) {
    const v = toFloat32(cache.get(b, o));
    for (let i = 0; i < v.length; i++) s += v[i] * v[i];
    n += v.length;
  }
  return n ? s / n : 0;
}

/** The model's fixed batch size, when its first input declares one. */
export function fixedBatch(graph: Graph): number | undefined {
  const d = graph.inputs[0]?.shape?.[0];
  return typeof d === 'number' && d > 0 ? d : undefined;
}

/** Inputs of decideMeasurements. */
export interface DecideOptions {
  layers: readonly QuantLayer[];
  reports: readonly LayerReport[];
  candidates: readonly FormatCandidate[];
  primary: string;
  base: FormatCandidate;
  higher: FormatCandidate;
  /** Estimated isolated SQNR (dB) of a layer in a candidate (undefined: not screened). */
  estimate: (layer: QuantLayer, c: FormatCandidate) => number | undefined;
  /** The recommendation's target, when one is made. */
  target?: Target;
  /** Layers the screening could not reach. */
  unsupported: ReadonlyMap<string, string>;
}

/**
 * The layers to measure exactly and in which formats: the TOP_MEASURED most sensitive by estimate (primary format),
 * those on both sides of the recommendation's predicted boundary (layers ordered by estimated noise per extra byte,
 * the boundary where the added noises meet an SQNR target), and every layer the screening could not reach (in all
 * formats). Measured formats: the primary, and the base of the recommendation (or the candidates that make it up).
 */
export function decideMeasurements(o: DecideOptions): { layer: QuantLayer; formats: FormatCandidate[] }[] {
  const prim = o.candidates.find((c) => c.id === o.primary)!;
  const baseParts = o.candidates.filter((c) => c.id === o.base.id || (c.weights === o.base.weights && c.activations === 'float') || (c.weights === 'float' && c.activations === o.base.activations));
  const chosen = new Map<string, FormatCandidate[]>();
  const add = (l: QuantLayer, formats: FormatCandidate[]) => {
    const f = formats.filter((c) => applies(l, c));
    if (!f.length) return;
    const prev = chosen.get(l.name) ?? [];
    chosen.set(l.name, [...prev, ...f.filter((c) => !prev.includes(c))]);
  };
  for (const l of o.layers) if (o.unsupported.has(l.name)) add(l, [...o.candidates]);
  const screened = o.layers.filter((l) => !o.unsupported.has(l.name));
  const byPrimary = screened.filter((l) => applies(l, prim) && o.estimate(l, prim) !== undefined)
    .sort((a, b) => o.estimate(a, prim)! - o.estimate(b, prim)!);
  const decisive = o.target ? [prim, ...baseParts] : [prim];
  for (const l of byPrimary.slice(0, TOP_MEASURED)) add(l, decisive);
  const boundary = predictedBoundary(o);
  if (boundary) for (const l of boundary.order.slice(Math.max(0, boundary.kept - BOUNDARY_MEASURED), boundary.kept + BOUNDARY_MEASURED)) add(l, [prim, ...baseParts]);
  return o.layers.filter((l) => chosen.has(l.name)).map((layer) => ({ layer, formats: o.candidates.filter((c) => chosen.get(layer.name)!.includes(c)) }));
}

/**
 * The recommendation's predicted choice for an SQNR target: screened layers ordered by base noise (measured isolated
 * where measured, else estimated) per extra byte, and how many of them the predicted curve keeps (their added noises meet the target); undefined for other targets.
 */
export function predictedBoundary(o: DecideOptions): { order: QuantLayer[]; kept: number; reached: boolean } | undefined {
  if (o.target?.kind !== 'min-sqnr-db') return undefined;
  const screened = o.layers.filter((l) => !o.unsupported.has(l.name));
  const bw = mustParseFormat(o.base.weights), hw = mustParseFormat(o.higher.weights);
  const rep = new Map(o.reports.map((r) => [r.name, r]));
  // measured isolated SQNR where there is one (after the measurements), else the estimate
  const db = (l: QuantLayer, c: FormatCandidate) => rep.get(l.name)?.formats[c.id]?.isolated?.sqnrDb ?? o.estimate(l, c);
  const noise = (l: QuantLayer, c: FormatCandidate) => { const e = applies(l, c) ? db(l, c) : undefined; return e === undefined ? 0 : 10 ** (-e / 10); };
  const cost = (l: QuantLayer) => Math.max(1, (l.params * (formatBits(hw) - formatBits(bw))) / 8);
  const order = screened.slice().sort((a, b) => noise(b, o.base) / cost(b) - noise(a, o.base) / cost(a));
  let total = order.reduce((s, l) => s + noise(l, o.base), 0);
  let k = 0;
  const budget = 10 ** (-o.target.value / 10);
  while (k < order.length && total > budget) { total += noise(order[k], o.higher) - noise(order[k], o.base); k++; }
  return { order, kept: k, reached: total <= budget };
}

/** At most this many layers get repair candidates by default on models of more than REPAIR_ALL_UP_TO layers. */
export const REPAIR_MAX = 12;
/** Models of at most this many layers get repair candidates on every layer (as the remedy search tries every layer per step). */
export const REPAIR_ALL_UP_TO = 16;

/** Repair costs grow with the fan-in cubed (GPTQ's Hessian inverse) and the weight's size (AdaRound's iterations): beyond these the default analysis does not repair a layer. */
export const REPAIR_MAX_FAN_IN = 8192;
export const REPAIR_MAX_VALUES = 64 * 2 ** 20;

/** True when repairing the layer would take too long to be a default (a 12288 x 12288 MatMul: hours of GPTQ in JS). */
export function repairTooCostly(l: QuantLayer): boolean {
  if (!l.weight) return false;
  const values = l.weight.dims.reduce((a, b) => a * b, 1);
  const fanIn = values / Math.max(1, l.weight.dims[l.weight.channelAxis] ?? 1);
  return fanIn > REPAIR_MAX_FAN_IN || values > REPAIR_MAX_VALUES;
}

/**
 * The layers the repair algorithms are tried on by default: every layer of a small model; else those the
 * recommendation's choice can hinge on. A repair can only replace keeping a layer (or, lowering the noise, let the
 * search drop another kept one), so these are the layers the predicted curve keeps and BOUNDARY_MEASURED past its
 * boundary, the REPAIR_MAX noisiest of them (measured isolated SQNR where measured, else the estimate), plus the
 * measured layers the screening could not reach.
 */
export function repairLayers(o: DecideOptions, measured: ReadonlySet<string>): QuantLayer[] {
  if (o.layers.length <= REPAIR_ALL_UP_TO) return o.layers.slice();
  const b = predictedBoundary(o);
  const window = b ? b.order.slice(0, b.kept + BOUNDARY_MEASURED) : [];
  const noisiest = window.map((l) => ({ l, db: baseDb(o, l) ?? Infinity })).sort((x, y) => x.db - y.db).slice(0, REPAIR_MAX);
  const names = new Set([...noisiest.map((x) => x.l.name), ...[...measured].filter((n) => o.unsupported.has(n))]);
  return o.layers.filter((l) => names.has(l.name));
}

/** A layer's isolated SQNR (dB) in the base format: measured where measured, else the estimate. */
function baseDb(o: DecideOptions, l: QuantLayer): number | undefined {
  return o.reports.find((r) => r.name === l.name)?.formats[o.base.id]?.isolated?.sqnrDb ?? o.estimate(l, o.base);
}
