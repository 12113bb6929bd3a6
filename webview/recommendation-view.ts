/** The recommendation card: target, verdict, kept layers, verified metrics, the current toggles' evaluation, the Pareto curve. */
import type { AnalysisReport, EndToEndMetrics } from '../src/shared/report';
import type { EvaluateResult } from '../src/shared/protocol';
import { button, h } from './dom';
import { formatBytes, formatDb, formatPercent } from './format';
import { fidelityView, type FidelityFields } from './fidelity';
import { paretoChart } from './svg-charts';

/** The state of evaluating the current toggles. */
export interface EvaluationState { keep: string[]; pending: boolean; result?: EvaluateResult; error?: string }

function metricsLine(m: EndToEndMetrics): string {
  const parts = [`SQNR ${formatDb(m.sqnrDb)}`, `cosine ${m.cosine.toFixed(4)}`];
  if (m.top1Agreement !== undefined) parts.push(`top-1 agreement ${formatPercent(m.top1Agreement)}`);
  if (m.accuracy !== undefined) parts.push(`accuracy ${formatPercent(m.accuracy)}`);
  return parts.join(' · ');
}

function targetText(r: NonNullable<AnalysisReport['recommendation']>): string {
  const t = r.target;
  if (t.kind === 'min-sqnr-db') return `output SQNR ≥ ${t.value} dB`;
  if (t.kind === 'max-accuracy-drop') return `accuracy drop ≤ ${formatPercent(t.value)}`;
  return `size ≤ ${formatBytes(t.value)}`;
}

/** Renders the card. */
export function recommendationCard(report: AnalysisReport | undefined, kept: ReadonlySet<string>, evaluation: EvaluationState | undefined, actions: { reset(): void; select(name: string): void; useKept(kept: string[]): void }): HTMLElement {
  const rec = report?.recommendation;
  if (!report) return h('section', { class: 'card recommendation' }, h('h2', {}, 'Recommendation'), h('p', { class: 'hint' }, 'Appears when the analysis finishes.'));
  if (!rec) return h('section', { class: 'card recommendation' }, h('h2', {}, 'Recommendation'), h('p', { class: 'hint' }, 'This analysis has no recommendation.'));
  const differs = rec.keep.length !== kept.size || rec.keep.some((k) => !kept.has(k));
  return h('section', { class: 'card recommendation', 'aria-label': 'Recommendation' },
    h('h2', {}, 'Recommendation ', h('span', { class: `verdict ${rec.met ? 'met' : 'not-met'}` }, rec.met ? 'target met' : 'target not met')),
    h('p', {}, rec.message),
    h('p', { class: 'meta' }, `Target: ${targetText(rec)} · base ${rec.base.id} · higher ${rec.higher.id}`),
    h('div', { class: 'rec-body' },
      h('div', { class: 'rec-text' },
        h('details', { class: 'keep-list', open: rec.keep.length <= 12 },
          h('summary', {}, `Keep ${rec.keep.length} of ${report.layers.length} layer${rec.keep.length === 1 ? '' : 's'} in ${rec.higher.id}`),
          ...rec.keep.flatMap((k, i) => [i ? ', ' : '', h('a', { href: '#', class: 'layer-link', onclick: (e) => { e.preventDefault(); actions.select(k); } }, k)])),
        h('p', { class: 'metrics-line' }, `Verified: ${metricsLine(rec.metrics)} · ${formatBytes(rec.sizeBytes)} (float ${formatBytes(rec.floatSizeBytes)}, all-${rec.base.id} ${formatBytes(rec.baseSizeBytes)})`),
        h('div', { class: 'evaluation', 'aria-live': 'polite' },
          differs || evaluation ? h('p', {},
            `Your selection keeps ${kept.size} layer${kept.size === 1 ? '' : 's'}: `,
            evaluation?.pending ? h('span', { class: 'pending' }, 'evaluating…')
              : evaluation?.error ? h('span', { class: 'error-text' }, evaluation.error)
                : evaluation?.result ? h('span', { class: 'eval-result' }, `${metricsLine(evaluation.result.metrics)} · ${formatBytes(evaluation.result.sizeBytes)}`) : '') : null,
          differs ? button('Reset to recommendation', actions.reset, { secondary: true }) : null),
        evaluation?.result && !evaluation.pending ? fidelityBlock(evaluation.result) : null),
      rec.pareto.length ? h('figure', { class: 'pareto-figure' }, paretoChart(rec.pareto, rec.sizeBytes, (p) => actions.useKept(p.kept)), h('figcaption', {}, `Pareto curve: ${rec.pareto.length} configurations, size against output SQNR (orange = recommended, hollow = estimated; click a point to select its layers)`)) : null),
  );
}

/** The fused-vs-exact numbers and ONNX Runtime warnings of an export or evaluation (nothing when there are none). */
export function fidelityBlock(r: FidelityFields): HTMLElement | null {
  const v = fidelityView(r);
  if (!v.comparison && !v.warnings.length) return null;
  return h('div', { class: 'fidelity', role: v.warnings.length ? 'alert' : undefined },
    v.comparison ? h('p', { class: 'comparison' }, v.comparison) : null,
    v.warnings.length ? h('ul', { class: 'warnings' }, ...v.warnings.map((w) => h('li', {}, w))) : null);
}
