/** Per-model and per-report indexes the recipe features query on every keystroke (built once, cached weakly). */
import { distance } from 'fastest-levenshtein';
import type { Graph } from '../../core/onnx/graph';
import type { QuantLayer } from '../../core/onnx/layer';
import { formatBits, formatToString, parseFormat } from '../../shared/formats';
import type { AnalysisReport, FormatCandidate, LayerFormatResult, LayerReport, Recommendation } from '../../shared/report';

/** What the recipe features need of a model: its graph and layer inventory. */
export interface RecipeModelSource {
  /** Absolute path of the model file. */
  path: string;
  graph: Graph;
  inventory: QuantLayer[];
}

/** Fast lookups over one model's layers. */
export interface RecipeModelIndex {
  path: string;
  graph: Graph;
  layers: QuantLayer[];
  /** Quantizable layers by node name. */
  byName: Map<string, QuantLayer>;
  /** Up to `n` quantizable layer names closest to `name` (edit distance, then model order). */
  closest(name: string, n?: number): string[];
}

const modelIndexes = new WeakMap<QuantLayer[], RecipeModelIndex>();

/** The (cached) index of a model; the cache key is the inventory array, so a reloaded model gets a new index. */
export function modelIndex(src: RecipeModelSource): RecipeModelIndex {
  const hit = modelIndexes.get(src.inventory);
  if (hit) return hit;
  const layers = src.inventory;
  const byName = new Map(layers.map((l) => [l.name, l]));
  const lowered = layers.map((l) => l.name.toLowerCase());
  const idx: RecipeModelIndex = {
    path: src.path,
    graph: src.graph,
    layers,
    byName,
    closest(name, n = 3) {
      const q = name.toLowerCase();
      const scored = lowered.map((l, i) => ({ i, d: distance(q, l) }));
      scored.sort((a, b) => a.d - b.d || a.i - b.i);
      return scored.slice(0, n).map((s) => layers[s.i].name);
    },
  };
  modelIndexes.set(layers, idx);
  return idx;
}

/** A layer's sensitivity under one analysed format candidate. */
export interface LayerSensitivity {
  layer: LayerReport;
  candidate: FormatCandidate;
  result: LayerFormatResult;
  /** Isolated end-to-end output SQNR (dB) with only this layer quantized. */
  isolatedSqnrDb?: number;
  /** 1 = most sensitive among the layers analysed at this candidate. */
  rank?: number;
  /** Number of layers ranked at this candidate. */
  of: number;
  /** Median isolated SQNR over layers at this candidate (dB). */
  medianSqnrDb?: number;
  /** Share of the fully quantized model's output noise this layer alone causes (0..1), when known. */
  noiseShare?: number;
  /** True when the candidate matched both weights and activations (false: weights only). */
  exact: boolean;
}

/** Fast lookups over one analysis report. */
export interface ReportIndex {
  report: AnalysisReport;
  byName: Map<string, LayerReport>;
  /** Layers the recommendation keeps at higher precision. */
  keep: Set<string>;
  /** The candidate matching a weights/activations pair (exactly, else by weights only). */
  candidateFor(weights: string, activations: string): { candidate: FormatCandidate; exact: boolean } | undefined;
  /** A layer's numbers at a candidate. */
  sensitivity(layer: string, candidateId: string, exact?: boolean): LayerSensitivity | undefined;
  /** Ranks at a candidate (1 = lowest isolated SQNR). */
  ranks(candidateId: string): Map<string, number>;
}

const reportIndexes = new WeakMap<AnalysisReport, ReportIndex>();

/** Canonical spelling of a format string, or the trimmed text when it does not parse. */
export function canonicalFormat(text: string): string {
  const p = parseFormat(text);
  return p.ok ? formatToString(p.format) : text.trim().toLowerCase();
}

/** Bits of a format string (32 for float, NaN when invalid). */
export function bitsOf(text: string): number {
  const p = parseFormat(text);
  return p.ok ? formatBits(p.format) : NaN;
}

/** Scale sharing, coarsest first: one scale per tensor < per block or per channel. */
function granularityRank(text: string): number {
  const p = parseFormat(text);
  return p.ok && p.format.kind === 'int' ? (p.format.granularity.kind === 'tensor' ? 0 : 1) : 2;
}

/** Whether weight format `a` is at least as precise as `b`: as many bits and scales no coarser (float beats all). */
export function atLeastAsPrecise(a: string, b: string): boolean {
  const ba = bitsOf(a);
  const bb = bitsOf(b);
  if (!Number.isFinite(ba) || !Number.isFinite(bb)) return false;
  if (ba !== bb) return ba > bb;
  return granularityRank(a) >= granularityRank(b);
}

/** The isolated SQNR a ranking uses: end-to-end when measured, else the local layer-output SQNR. */
export function isolatedSqnr(r: LayerFormatResult | undefined): number | undefined {
  return r?.isolated?.sqnrDb ?? r?.localSqnrDb;
}

/** The (cached) index of a report. */
export function reportIndex(report: AnalysisReport): ReportIndex {
  const hit = reportIndexes.get(report);
  if (hit) return hit;
  const byName = new Map(report.layers.map((l) => [l.name, l]));
  const rankCache = new Map<string, { ranks: Map<string, number>; median?: number; n: number }>();
  const rankInfo = (id: string) => {
    let r = rankCache.get(id);
    if (!r) {
      const scored = report.layers
        .map((l) => ({ name: l.name, s: isolatedSqnr(l.formats[id]) }))
        .filter((x): x is { name: string; s: number } => typeof x.s === 'number' && Number.isFinite(x.s))
        .sort((a, b) => a.s - b.s);
      const ranks = new Map(scored.map((x, i) => [x.name, i + 1]));
      const median = scored.length ? scored[Math.floor(scored.length / 2)].s : undefined;
      r = { ranks, median, n: scored.length };
      rankCache.set(id, r);
    }
    return r;
  };
  const canon = report.formats.map((c) => ({ c, w: canonicalFormat(c.weights), a: canonicalFormat(c.activations) }));
  const idx: ReportIndex = {
    report,
    byName,
    keep: new Set(report.recommendation?.keep ?? []),
    candidateFor(weights, activations) {
      const w = canonicalFormat(weights);
      const a = canonicalFormat(activations);
      const exact = canon.find((x) => x.w === w && x.a === a);
      if (exact) return { candidate: exact.c, exact: true };
      const loose = canon.find((x) => x.w === w);
      return loose ? { candidate: loose.c, exact: false } : undefined;
    },
    sensitivity(layer, candidateId, exact = true) {
      const l = byName.get(layer);
      const candidate = report.formats.find((c) => c.id === candidateId);
      const result = l?.formats[candidateId];
      if (!l || !candidate || !result) return undefined;
      const info = rankInfo(candidateId);
      const s = isolatedSqnr(result);
      const all = report.allQuantized[candidateId]?.sqnrDb;
      const noiseShare = s !== undefined && all !== undefined && Number.isFinite(all) ? Math.min(1, 10 ** ((all - s) / 10)) : undefined;
      return { layer: l, candidate, result, isolatedSqnrDb: s, rank: info.ranks.get(layer), of: info.n, medianSqnrDb: info.median, noiseShare, exact };
    },
    ranks(candidateId) {
      return rankInfo(candidateId).ranks;
    },
  };
  reportIndexes.set(report, idx);
  return idx;
}

/** The recommendation repairs `layer` at its base format with this algorithm (the recipe follows the measured choice). */
function repairedAsRecommended(rec: Recommendation, layer: string, weights: string, activations: string, algorithm: string): boolean {
  const r = rec.remedies?.find((x) => x.layer === layer);
  return r?.remedy === 'repair' && r.algorithm?.toLowerCase() === algorithm.trim().toLowerCase()
    && canonicalFormat(weights) === canonicalFormat(rec.base.weights) && canonicalFormat(activations) === canonicalFormat(rec.base.activations);
}

/** Fraction of layers (at least one) counted as "highly sensitive" by rank. */
export const SENSITIVE_RANK_FRACTION = 0.1;

/** Why a layer at a given format counts as highly sensitive, or undefined when it does not. */
export interface SensitivityVerdict {
  sens: LayerSensitivity;
  /** The recommendation keeps this layer at higher precision. */
  recommendedKeep: boolean;
  /** Its isolated SQNR is among the lowest SENSITIVE_RANK_FRACTION of layers. */
  topRanked: boolean;
}

/**
 * A layer at `weights`/`activations` is highly sensitive when its weights are less precise than the recommendation's
 * higher format (int8/per-channel without a recommendation; see atLeastAsPrecise), the last analysis has numbers
 * for it at a matching candidate, and either (a) the recommendation keeps it at higher precision, or (b) its isolated SQNR ranks among the lowest 10% of layers (at least the lowest one).
 * A layer the recommendation repairs at its base format with `algorithm` is not: that choice was measured in the whole configuration.
 */
export function sensitivityVerdict(rep: ReportIndex, layer: string, weights: string, activations: string, algorithm?: string): SensitivityVerdict | undefined {
  const bits = bitsOf(weights);
  const rec = rep.report.recommendation;
  if (!(bits < 32) || atLeastAsPrecise(weights, rec?.higher.weights ?? 'int8/per-channel')) return undefined;
  if (rec && algorithm && repairedAsRecommended(rec, layer, weights, activations, algorithm)) return undefined;
  const match = rep.candidateFor(weights, activations);
  const recommendedKeep = !!rec && rep.keep.has(layer);
  // Without numbers at this exact format, a kept layer forced to the base precision or lower shows the base's numbers.
  const candidateId = match?.candidate.id ?? (recommendedKeep && bits <= bitsOf(rec!.base.weights) ? rec!.base.id : undefined);
  if (!candidateId) return undefined;
  const sens = rep.sensitivity(layer, candidateId, match?.exact ?? false);
  if (!sens) return undefined;
  const cutoff = Math.max(1, Math.ceil(sens.of * SENSITIVE_RANK_FRACTION));
  const topRanked = sens.rank !== undefined && sens.rank <= cutoff;
  if (!recommendedKeep && !topRanked) return undefined;
  return { sens, recommendedKeep, topRanked };
}
