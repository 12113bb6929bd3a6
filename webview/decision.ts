/**
 * The decision made in the report panel: the target, the recommendation re-chosen from the measured Pareto points,
 * and whether the current selection meets the target. Pure. The target test mirrors the core's meetsTarget
 * (src/core/analysis/recommend.ts), which the webview bundle cannot import.
 */
import type { AnalysisReport, EndToEndMetrics, ParetoPoint, Recommendation, Target } from '../src/shared/report';
import { configurationBytes, otherParamsFromFloatBytes, weightBits } from '../src/shared/sizes';
import { formatBytes, formatDb, formatPercent } from './format';

/** True when the metrics (and size) meet the target, as the core decides it. */
export function meetsTarget(target: Target, m: EndToEndMetrics, sizeBytes: number, floatAccuracy?: number): boolean {
  switch (target.kind) {
    case 'min-sqnr-db': return m.sqnrDb >= target.value;
    case 'max-size-bytes': return sizeBytes <= target.value;
    case 'max-accuracy-drop':
      if (floatAccuracy !== undefined && m.accuracy !== undefined) return floatAccuracy - m.accuracy <= target.value + 1e-12;
      if (m.top1Agreement !== undefined) return 1 - m.top1Agreement <= target.value + 1e-12;
      return false;
  }
}

/** The target in words: `output SQNR ≥ 30 dB`. */
export function targetText(t: Target): string {
  if (t.kind === 'min-sqnr-db') return `output SQNR ≥ ${t.value} dB`;
  if (t.kind === 'max-accuracy-drop') return `accuracy drop ≤ ${formatPercent(t.value, 2)}`;
  return `weights ≤ ${formatBytes(t.value)}`;
}

/** True when two targets are the same. */
export function sameTarget(a: Target | undefined, b: Target | undefined): boolean {
  return !!a && !!b && a.kind === b.kind && a.value === b.value;
}

/** The recommendation for a target, chosen from the measured Pareto points: what the panel shows and exports. */
export interface Decision {
  target: Target;
  keep: string[];
  /** Layers repaired at the base format (a rounding algorithm instead of keeping them). */
  repaired: string[];
  /** The measured point chosen (undefined: no measured points). */
  point?: ParetoPoint;
  met: boolean;
  /** True when it differs from the analysis's own recommendation (the target was changed after the analysis). */
  rechosen: boolean;
  message: string;
}

/**
 * For an SQNR or accuracy target: the smallest measured point that meets it; for a size target: the best measured
 * point within the size. When none meets it, the best reachable point, marked not met.
 */
export function decide(rec: Recommendation, target: Target, floatAccuracy?: number): Decision {
  if (sameTarget(rec.target, target)) {
    const repaired = rec.repaired ?? [];
    const point = rec.pareto.find((p) => sameSet(p.kept, rec.keep) && sameSet(p.repaired ?? [], repaired));
    return { target, keep: rec.keep.slice(), repaired: repaired.slice(), met: rec.met, rechosen: false, message: rec.message, point };
  }
  const measured = rec.pareto.filter((p) => p.verified);
  const pts = measured.length ? measured : rec.pareto;
  if (!pts.length) return { target, keep: rec.keep.slice(), repaired: (rec.repaired ?? []).slice(), met: false, rechosen: false, message: 'No measured trade-off points: analyze again to choose for this target.' };
  const meets = pts.filter((p) => meetsTarget(target, p.metrics, p.sizeBytes, floatAccuracy));
  const merit = (p: ParetoPoint) => (target.kind === 'max-accuracy-drop' ? p.metrics.accuracy ?? p.metrics.top1Agreement ?? p.metrics.sqnrDb : p.metrics.sqnrDb);
  let point: ParetoPoint;
  if (meets.length) {
    point = target.kind === 'max-size-bytes'
      ? meets.reduce((a, b) => (merit(b) > merit(a) ? b : a))
      : meets.reduce((a, b) => (b.sizeBytes < a.sizeBytes || (b.sizeBytes === a.sizeBytes && b.kept.length < a.kept.length) ? b : a));
  } else {
    point = target.kind === 'max-size-bytes' ? pts.reduce((a, b) => (b.sizeBytes < a.sizeBytes ? b : a)) : pts.reduce((a, b) => (merit(b) > merit(a) ? b : a));
  }
  const met = meets.length > 0;
  const rep = point.repaired?.length ? ` and repairing ${point.repaired.length} at ${rec.base.id}` : '';
  const what = `keeping ${point.kept.length} layer${point.kept.length === 1 ? '' : 's'} in ${rec.higher.id}${rep} (rest ${rec.base.id}): ${formatDb(point.metrics.sqnrDb)}, ${formatBytes(point.sizeBytes)} weights (measured)`;
  return {
    target, keep: point.kept.slice(), repaired: (point.repaired ?? []).slice(), point, met, rechosen: true,
    message: met ? `Re-chosen from ${pts.length} measured points for ${targetText(target)}: ${what}.` : `No measured point meets ${targetText(target)}; the best reachable is ${what}.`,
  };
}

/** What the panel knows about the current selection against the target. */
export interface SelectionCheck {
  state: 'meets' | 'misses' | 'unknown';
  /** A sentence for the panel and the export question. */
  text: string;
  sizeBytes?: number;
  metrics?: EndToEndMetrics;
}

/** Weights bytes of a kept set, by the one size definition (src/shared/sizes.ts). */
export function selectionBytes(report: AnalysisReport, keep: ReadonlySet<string>): number | undefined {
  const rec = report.recommendation;
  if (!rec) return undefined;
  const other = otherParamsFromFloatBytes(report.layers, rec.floatSizeBytes);
  return configurationBytes(report.layers, other, keep, weightBits(rec.base.weights), weightBits(rec.higher.weights));
}

/**
 * Checks the selection against the target: measured metrics come from the Pareto point with the same layers, else
 * from the evaluation of exactly this selection; without either the selection is unknown (not yet measured).
 */
export function checkSelection(report: AnalysisReport, keep: ReadonlySet<string>, target: Target, evaluated?: { keep: string[]; metrics?: EndToEndMetrics }, repaired: readonly string[] = []): SelectionCheck {
  const rec = report.recommendation;
  const sizeBytes = selectionBytes(report, keep);
  const n = `${keep.size} layer${keep.size === 1 ? '' : 's'}`;
  if (!rec) return { state: 'unknown', text: 'No recommendation in this analysis.', sizeBytes };
  // a measured point with the same kept and repaired layers
  const point = rec.pareto.find((p) => p.verified && sameSet(p.kept, [...keep]) && sameSet(p.repaired ?? [], repaired));
  const metrics = point?.metrics ?? (evaluated?.metrics && sameSet(evaluated.keep, [...keep]) ? evaluated.metrics : undefined);
  if (!metrics) {
    if (target.kind === 'max-size-bytes' && sizeBytes !== undefined) {
      const ok = sizeBytes <= target.value;
      return { state: ok ? 'meets' : 'misses', text: `Your selection (${n}) has ${formatBytes(sizeBytes)} of weights: ${ok ? 'within' : 'over'} ${targetText(target)}.`, sizeBytes };
    }
    return { state: 'unknown', text: `Your selection (${n}) is not measured yet against ${targetText(target)}.`, sizeBytes };
  }
  const ok = meetsTarget(target, metrics, sizeBytes ?? Infinity, report.floatAccuracy);
  const got = target.kind === 'max-size-bytes' ? `${formatBytes(sizeBytes)} of weights` : target.kind === 'max-accuracy-drop' && metrics.accuracy !== undefined && report.floatAccuracy !== undefined
    ? `accuracy drop ${formatPercent(report.floatAccuracy - metrics.accuracy, 2)}` : `output SQNR ${formatDb(metrics.sqnrDb)}`;
  return { state: ok ? 'meets' : 'misses', text: `Your selection (${n}) measures ${got}: it ${ok ? 'meets' : 'misses'} ${targetText(target)}.`, sizeBytes, metrics };
}

/** True when two layer lists hold the same names. */
export function sameSet(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  const s = new Set(a);
  return b.every((x) => s.has(x));
}
