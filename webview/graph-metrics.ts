/** What colours the graph's nodes: the metrics to choose from, each layer's class under one, and the legend. Pure. */
import type { AnalysisReport, LayerReport } from '../src/shared/report';
import { dbOf, sensitivity } from './report-model';

/** A colouring of the graph: `sqnr:<format>`, `estimate:<format>`, `diagnosis` or `precision`. */
export type GraphMetric = string;

/** One choice in the metric menu. */
export interface MetricChoice { id: GraphMetric; label: string }

/** A colour class (CSS `.m-<cls>`) and what it means. */
export interface LegendEntry { cls: string; text: string }

/** The metrics a report allows (none without a report: nodes are then coloured by kind only). */
export function metricChoices(report: AnalysisReport | undefined): MetricChoice[] {
  if (!report) return [];
  const out: MetricChoice[] = [];
  for (const f of report.formats) out.push({ id: `sqnr:${f.id}`, label: `isolated SQNR, ${f.id}` });
  for (const f of report.formats) {
    if (report.layers.some((l) => l.formats[f.id]?.estimate !== undefined)) out.push({ id: `estimate:${f.id}`, label: `estimated SQNR, ${f.id}` });
  }
  out.push({ id: 'diagnosis', label: 'diagnosis' });
  if (report.recommendation) out.push({ id: 'precision', label: 'kept / base / float' });
  if (report.recommendation?.remedies?.length) out.push({ id: 'remedy', label: 'remedy (keep / repair / base)' });
  return out;
}

/** The legend of a metric. */
export function legend(metric: GraphMetric, report: AnalysisReport | undefined): LegendEntry[] {
  const base = report?.recommendation?.base.id ?? 'base';
  const higher = report?.recommendation?.higher.id ?? 'higher';
  if (metric.startsWith('sqnr:')) return [
    { cls: 'high', text: '< 20 dB: sensitive' }, { cls: 'medium', text: '20–30 dB' }, { cls: 'low', text: '≥ 30 dB: robust' }, { cls: 'none', text: 'not a quantizable layer' }];
  if (metric.startsWith('estimate:')) return [
    { cls: 'high', text: 'estimated < 20 dB' }, { cls: 'medium', text: '20–30 dB' }, { cls: 'low', text: '≥ 30 dB' }, { cls: 'none', text: 'no estimate' }];
  if (metric === 'diagnosis') return [
    { cls: 'high', text: 'error finding' }, { cls: 'medium', text: 'warning' }, { cls: 'low', text: 'no finding' }, { cls: 'none', text: 'not a quantizable layer' }];
  if (metric === 'precision') return [
    { cls: 'kept', text: `kept in ${higher}` }, { cls: 'base', text: `quantized to ${base}` }, { cls: 'none', text: 'float (not quantized)' }];
  if (metric === 'remedy') return [
    { cls: 'kept', text: `kept in ${higher}` }, { cls: 'repair', text: `repaired at ${base} (rounding algorithm)` }, { cls: 'base', text: `${base}, rounded to nearest` }, { cls: 'none', text: 'float (not quantized)' }];
  return [{ cls: 'layer', text: 'quantizable layer' }, { cls: 'none', text: 'other operator' }];
}

const ORDER = ['high', 'kept', 'repair', 'medium', 'base', 'low', 'layer', 'none'];

/** The colour class of one layer (undefined: not a layer of the report). */
export function layerClass(metric: GraphMetric, l: LayerReport | undefined, ctx: { kept: ReadonlySet<string>; remedies?: ReadonlyMap<string, string> }): string {
  if (!l) return 'none';
  if (metric.startsWith('sqnr:')) {
    const s = sensitivity(dbOf(l, metric.slice(5)));
    return s === 'unknown' ? 'none' : s;
  }
  if (metric.startsWith('estimate:')) {
    // the first-order estimate of the model output SQNR with only this layer quantized (dB)
    const s = sensitivity(l.formats[metric.slice(9)]?.estimate);
    return s === 'unknown' ? 'none' : s;
  }
  if (metric === 'diagnosis') {
    if (l.diagnoses.some((d) => d.severity === 'error')) return 'high';
    if (l.diagnoses.some((d) => d.severity === 'warning')) return 'medium';
    return 'low';
  }
  if (metric === 'precision') return ctx.kept.has(l.name) ? 'kept' : 'base';
  if (metric === 'remedy') { const r = ctx.remedies?.get(l.name); return r === 'keep' ? 'kept' : r === 'repair' ? 'repair' : 'base'; }
  return 'layer';
}

/** The class of a group: the most alarming of its members' classes. */
export function worstClass(classes: Iterable<string>): string {
  let best = 'none';
  for (const c of classes) if (ORDER.indexOf(c) < ORDER.indexOf(best)) best = c;
  return best;
}
