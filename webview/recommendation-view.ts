/** The decision card: the target (editable), the recommendation for it, the selection checked against it, the Pareto chart. */
import type { AnalysisReport, EndToEndMetrics, Target } from '../src/shared/report';
import type { EvaluateResult } from '../src/shared/protocol';
import { button, h } from './dom';
import { formatBytes, formatDb, formatPercent } from './format';
import { fidelityView, type FidelityFields } from './fidelity';
import { sameSet, targetText, type Decision, type SelectionCheck } from './decision';
import { paretoChart } from './pareto-chart';

/** The state of evaluating the current toggles. */
export interface EvaluationState { keep: string[]; pending: boolean; result?: EvaluateResult; error?: string }

/** What the card does when the user acts. */
export interface DecisionActions {
  reset(): void;
  select(name: string): void;
  useKept(kept: string[]): void;
}

function metricsLine(m: EndToEndMetrics): string {
  const parts = [`SQNR ${formatDb(m.sqnrDb)}`, `cosine ${m.cosine.toFixed(4)}`];
  if (m.top1Agreement !== undefined) parts.push(`top-1 agreement ${formatPercent(m.top1Agreement)}`);
  if (m.accuracy !== undefined) parts.push(`accuracy ${formatPercent(m.accuracy)}`);
  return parts.join(' · ');
}

/** The target kind choices and how their values are shown (size in KiB, drop in %). */
const KINDS: ReadonlyArray<{ kind: Target['kind']; label: string; unit: string; toUi(v: number): number; fromUi(v: number): number }> = [
  { kind: 'min-sqnr-db', label: 'output SQNR at least', unit: 'dB', toUi: (v) => v, fromUi: (v) => v },
  { kind: 'max-accuracy-drop', label: 'accuracy drop at most', unit: '%', toUi: (v) => Number((v * 100).toPrecision(6)), fromUi: (v) => v / 100 },
  { kind: 'max-size-bytes', label: 'weights size at most', unit: 'KiB', toUi: (v) => Number((v / 1024).toFixed(2)), fromUi: (v) => Math.round(v * 1024) },
];

/** The target editor (kind, value, unit; Enter or Apply sets it). One element for the panel's life: re-rendering the card never takes the user's typing away. */
export class TargetEditor {
  readonly el: HTMLElement;
  private readonly kindSel: HTMLSelectElement;
  private readonly value: HTMLInputElement;
  private readonly unit: HTMLElement;
  private readonly error: HTMLElement;

  constructor(private readonly onSet: (t: Target) => void) {
    this.kindSel = h('select', { id: 'target-kind', class: 'metric-select', 'aria-label': 'Target kind' }, ...KINDS.map((k) => h('option', { value: k.kind }, k.label))) as HTMLSelectElement;
    this.value = h('input', { id: 'target-value', class: 'target-value', type: 'number', step: 'any', 'aria-label': 'Target value' }) as HTMLInputElement;
    this.unit = h('span', { class: 'unit' });
    this.error = h('span', { class: 'error-text', role: 'alert' });
    this.kindSel.addEventListener('change', () => { this.unit.textContent = KINDS.find((x) => x.kind === this.kindSel.value)!.unit; });
    this.value.addEventListener('keydown', (e) => { if (e.key === 'Enter') { e.preventDefault(); this.apply(); } });
    this.el = h('div', { class: 'target-editor' }, h('label', { for: 'target-kind' }, 'Target: '), this.kindSel, this.value, this.unit, button('Apply', () => this.apply(), { id: 'target-apply', secondary: true }), this.error);
  }

  /** Shows a target (left alone while the user is editing it). */
  show(t: Target | undefined): void {
    this.el.hidden = !t;
    if (!t || this.el.contains(document.activeElement)) return;
    const k = KINDS.find((x) => x.kind === t.kind)!;
    this.kindSel.value = t.kind;
    this.value.value = String(k.toUi(t.value));
    this.unit.textContent = k.unit;
  }

  private apply(): void {
    const k = KINDS.find((x) => x.kind === this.kindSel.value)!;
    const v = Number(this.value.value);
    if (this.value.value.trim() === '' || !Number.isFinite(v) || v < 0) { this.error.textContent = `Enter a number ≥ 0 (${k.unit}).`; return; }
    this.error.textContent = '';
    this.onSet({ kind: k.kind, value: k.fromUi(v) } as Target);
  }
}

/** What the card remembers between renders: which of its folds ('more', 'keep') the user opened or closed. */
export interface CardUi { open: Partial<Record<'more' | 'keep', boolean>>; onToggle(fold: 'more' | 'keep', open: boolean): void }

/**
 * Renders the card, compact so that the layer table stays on the first screen: the verdict, the recommendation (two
 * lines, all of it under "Details"), the kept layers, the selection against the target. The chart is `paretoFigure`.
 */
export function recommendationCard(report: AnalysisReport | undefined, kept: ReadonlySet<string>, evaluation: EvaluationState | undefined, decision: Decision | undefined, check: SelectionCheck | undefined, actions: DecisionActions, ui: CardUi = { open: {}, onToggle: () => undefined }): HTMLElement {
  const rec = report?.recommendation;
  if (!report) return h('section', { class: 'card recommendation' }, h('h2', {}, 'Recommendation'), h('p', { class: 'hint' }, 'Appears when the analysis finishes.'));
  if (!rec || !decision) return h('section', { class: 'card recommendation' }, h('h2', {}, 'Recommendation'), h('p', { class: 'hint' }, 'This analysis has no recommendation.'));
  const differs = !sameSet(decision.keep, [...kept]);
  const verdict = decision.met ? 'target met' : 'target not met';
  const evaluating = evaluation && sameSet(evaluation.keep, [...kept]) ? evaluation : undefined;
  const repaired = !decision.rechosen && rec.repaired?.length ? rec.repaired : [];
  const algorithm = (n: string) => rec.remedies?.find((r) => r.layer === n)?.algorithm;
  const more = h('details', { class: 'rec-more', open: ui.open.more ?? false },
    h('summary', { onclick: (e) => ui.onToggle('more', !(e.currentTarget as HTMLElement).parentElement!.hasAttribute('open')) }, 'Details: formats, data', repaired.length ? ', repaired layers' : '', decision.point ? ', measured metrics' : ''),
    h('p', { class: 'meta' }, `Base ${rec.base.id}, higher precision ${rec.higher.id} · data: ${report.data.samples} ${report.data.synthetic ? 'synthetic samples' : `samples from ${report.data.source}`}`),
    repaired.length ? h('p', { class: 'repaired' }, `Repaired at ${rec.base.id} instead of kept (no extra bytes): ${repaired.map((n) => `${n}${algorithm(n) ? ` (${algorithm(n)})` : ''}`).join(', ')}`) : null,
    decision.point ? h('p', { class: 'metrics-line' }, `Measured: ${metricsLine(decision.point.metrics)} · weights ${formatBytes(decision.point.sizeBytes)} (float weights ${formatBytes(rec.floatSizeBytes)}, all ${rec.base.id} ${formatBytes(rec.baseSizeBytes)})`) : null);
  return h('section', { class: 'card recommendation', 'aria-label': 'Recommendation' },
    h('h2', {}, 'Recommendation ', h('span', { class: `verdict ${decision.met ? 'met' : 'not-met'}`, id: 'verdict' }, verdict),
      decision.point ? h('span', { class: 'headline' }, ` ${formatDb(decision.point.metrics.sqnrDb)} · ${formatBytes(decision.point.sizeBytes)} weights${repaired.length ? ` · ${repaired.length} repaired at ${rec.base.id}` : ''}`) : null),
    h('p', { id: 'decision-message', class: 'clamp', title: decision.message }, decision.message),
    decision.rechosen ? h('p', { class: 'warning-text stale-note' }, `The analysis chose for ${targetText(rec.target)}; this recommendation was re-chosen for ${targetText(decision.target)} from its measured points${evaluating?.pending ? ' and is being verified' : evaluating?.result ? `, verified: ${metricsLine(evaluating.result.metrics)}` : ''}. Analyze again to measure new points.`) : null,
    h('details', { class: 'keep-list', open: ui.open.keep ?? decision.keep.length <= 12 },
      h('summary', { onclick: (e) => ui.onToggle('keep', !(e.currentTarget as HTMLElement).parentElement!.hasAttribute('open')) }, `Keep ${decision.keep.length} of ${report.layers.length} layer${report.layers.length === 1 ? '' : 's'} in ${rec.higher.id}`),
      h('div', { class: 'keep-links' }, ...decision.keep.flatMap((k, i) => [i ? ', ' : '', h('a', { href: '#', class: 'layer-link', onclick: (e) => { e.preventDefault(); actions.select(k); } }, k)]))),
    more,
    h('div', { class: `evaluation selection-check ${check?.state ?? 'unknown'}`, 'aria-live': 'polite', id: 'selection-check' },
      check ? h('p', { class: check.state === 'meets' ? '' : 'warning-text' }, check.text) : null,
      evaluating ? h('p', {}, 'ONNX Runtime on the QDQ model: ',
        evaluating.pending ? h('span', { class: 'pending' }, 'evaluating…')
          : evaluating.error ? h('span', { class: 'error-text' }, evaluating.error)
            : evaluating.result ? h('span', { class: 'eval-result' }, `${metricsLine(evaluating.result.metrics)} · QDQ file ${formatBytes(evaluating.result.sizeBytes)}`) : '') : null,
      differs ? button('Use the recommendation', actions.reset, { secondary: true, id: 'use-recommendation' }) : null),
    evaluating?.result && !evaluating.pending ? fidelityBlock(evaluating.result) : null,
  );
}

/** The Pareto chart of the decision with its caption (nothing without measured points); clicking a point selects its layers. */
export function paretoFigure(report: AnalysisReport | undefined, decision: Decision | undefined, check: SelectionCheck | undefined, actions: DecisionActions, size: { width: number; height: number }): HTMLElement | null {
  const rec = report?.recommendation;
  if (!rec || !decision || !rec.pareto.length) return null;
  return h('figure', { class: 'pareto-figure' },
    paretoChart(rec.pareto, { target: decision.target, chosen: decision.point, selection: check?.sizeBytes !== undefined ? { sizeBytes: check.sizeBytes, sqnrDb: check.metrics?.sqnrDb } : undefined }, (p) => actions.useKept(p.kept), size.width, size.height),
    h('figcaption', {}, `${rec.pareto.length} configurations (most sensitive layers in ${rec.higher.id}, the rest ${rec.base.id}). Ringed: recommended · diamond: your selection · dashed: target · hollow: estimated. Click a point to use its layers.`));
}

/** The fused-vs-exact numbers and ONNX Runtime warnings of an export or evaluation (nothing when there are none). */
export function fidelityBlock(r: FidelityFields): HTMLElement | null {
  const v = fidelityView(r);
  if (!v.comparison && !v.warnings.length) return null;
  return h('div', { class: 'fidelity', role: v.warnings.length ? 'alert' : undefined },
    v.comparison ? h('p', { class: 'comparison' }, v.comparison) : null,
    v.warnings.length ? h('ul', { class: 'warnings' }, ...v.warnings.map((w) => h('li', {}, w))) : null);
}
