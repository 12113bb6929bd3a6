/** The report panel: header and actions, status, summary, recommendation, layer table and detail; persists its UI state. */
import type { AnalysisReport, FormatCandidate, LayerReport, Target } from '../src/shared/report';
import { parameterText } from '../src/shared/sizes';
import { formatLegend } from './words';
import { checkSelection, decide, meetsTarget, sameSet, selectionBytes, targetText, type Decision } from './decision';
import type { ToWebviewMessage, WebviewBoot } from '../src/shared/webview-messages';
import { button, h, onMessage, replace, send, vscode } from './dom';
import { formatBytes, formatCount, formatDb, formatDuration, formatPercent } from './format';
import { layerDetail } from './layer-detail';
import { LayerTable } from './layer-table';
import { fidelityBlock, paretoFigure, recommendationCard, TargetEditor, type CardUi, type EvaluationState } from './recommendation-view';
import type { ExportResult } from '../src/shared/protocol';
import { DEFAULT_QUERY, dbScale, mergeLayers, queryLayers, recipeForKeep, recommendedKeep, toggleKeep, toggleSort, type TableQuery } from './report-model';

interface UiState { query: TableQuery; selected?: string; kept?: string[]; target?: Target }

/** Mounts the report UI into `root`. */
export function mountReport(root: HTMLElement, b: WebviewBoot): void {
  const saved = vscode().getState() ?? (b.ui ? { kind: b.kind, model: b.model, ui: b.ui } : undefined);
  const ui = (saved?.ui ?? {}) as Partial<UiState>;
  let report: AnalysisReport | undefined;
  let layers: LayerReport[] = [];
  let query: TableQuery = { ...DEFAULT_QUERY, ...(ui.query ?? {}) };
  let selected = ui.selected;
  let kept = new Set<string>(ui.kept ?? []);
  let keptFromUser = ui.kept !== undefined;
  let status: { running: boolean; message?: string; percentage?: number; error?: string } = { running: false };
  let evaluation: EvaluationState | undefined;
  let evalSeq = 0;
  let notice: { text: string; error?: boolean; exported?: ExportResult } | undefined;
  let target: Target | undefined = ui.target;
  /** The layers and target of the export in flight (for its notice). */
  let exporting: { keep: string[]; target?: Target; recommended: boolean } | undefined;

  /** The recommendation for the current target, re-chosen from the measured points when the target changed. */
  const decision = (): Decision | undefined => (report?.recommendation ? decide(report.recommendation, target ?? report.recommendation.target, report.floatAccuracy) : undefined);
  const selectionCheck = () => {
    const d = decision();
    return report && d ? checkSelection(report, kept, d.target, evaluation?.result ? { keep: evaluation.keep, metrics: evaluation.result.metrics } : undefined, d.repaired.filter((n) => !kept.has(n))) : undefined;
  };
  const announceKept = () => send({ type: 'keptChanged', keep: [...kept] });

  const persist = () => vscode().setState({ kind: 'report', model: b.model, ui: { query, selected, kept: keptFromUser ? [...kept] : undefined, target } satisfies UiState });

  const statusEl = h('div', { class: 'status', role: 'status', 'aria-live': 'polite' });
  const summaryEl = h('section', { class: 'card summary', 'aria-label': 'Summary' });
  const targetEditor = new TargetEditor((t) => applyTarget(t, true));
  const cardEl = h('div', { class: 'decision-text' });
  const chartEl = h('div', { class: 'decision-chart' });
  // The decision (target, verdict, kept layers, chart) in one compact block above the table; the target editor is one
  // element for the panel's life (re-rendering the card never takes the user's typing away).
  const recEl = h('section', { class: 'card decision', 'aria-label': 'Decision' }, targetEditor.el, cardEl, chartEl);
  const folds: CardUi = { open: {}, onToggle: (fold, open) => { folds.open[fold] = open; } };
  const detailEl = h('div', { class: 'detail-host' });
  const noticeEl = h('div', { class: 'notice', 'aria-live': 'polite' });
  const table = new LayerTable({
    onSelect: (name) => { selected = name; persist(); renderTable(); renderDetail(); send({ type: 'selectLayer', layer: name }); },
    onToggleKeep: (name) => { kept = toggleKeep(kept, name); keptFromUser = true; persist(); announceKept(); renderTable(); evaluate(); },
    onSort: (key) => { query = toggleSort(query, key); persist(); renderTable(); },
  });
  const filter = h('vscode-textfield', { placeholder: 'Filter layers: name, op:Conv, kind:depthwise, keep:yes, diag:outliers, -word', 'aria-label': 'Filter layers', class: 'filter' }) as HTMLElement & { value: string };
  filter.value = query.filter;
  filter.addEventListener('input', () => { query = { ...query, filter: filter.value }; persist(); renderTable(); });
  const countEl = h('span', { class: 'count' });
  const analyzeBtn = button('Analyze', () => send({ type: 'analyze' }), { id: 'analyze' });
  const cancelBtn = button('Cancel', () => send({ type: 'cancel' }), { id: 'cancel', secondary: true });
  const currentRecipe = () => (report ? recipeForKeep(report, kept, decision()?.repaired.filter((n) => !kept.has(n))) : undefined);
  const saveBtn = button('Save Recipe', () => { const r = currentRecipe(); if (r) send({ type: 'saveRecipe', recipe: r }); }, { id: 'save-recipe', secondary: true });
  const exportBtn = button('Export QDQ Model', () => {
    const d = decision();
    const check = selectionCheck();
    exporting = { keep: [...kept], target: d?.target, recommended: !!d && sameSet(d.keep, [...kept]) };
    notice = { text: 'Exporting…' };
    renderNotice();
    // The export writes exactly the selection; when the user's own selection does not (or is not known to) meet the target,
    // or the recommendation itself misses it (no measured point meets it), the extension asks first.
    const isRecommendation = !!d && sameSet(d.keep, [...kept]);
    const misses = report && d && check && (isRecommendation ? check.state === 'misses' : check.state !== 'meets') ? check.text : undefined;
    send({ type: 'export', recipe: currentRecipe(), missesTarget: misses, recommendedRecipe: misses && !isRecommendation && report && d ? recipeForKeep(report, d.keep, d.repaired) : undefined });
  }, { id: 'export' });
  const qatBtn = button('Run QAT', () => send({ type: 'runQat', recipe: currentRecipe() }), { id: 'run-qat', secondary: true });
  const graphBtn = button('Open Graph', () => send({ type: 'openGraph', layer: selected }), { id: 'open-graph', secondary: true });

  // The report fills the window: toolbar, summary and decision on top, the layer table takes the remaining height and scrolls itself.
  root.classList.add('report-app');
  replace(root,
    h('header', { class: 'toolbar' }, h('h1', {}, `QuantLens report · ${b.modelName}`), h('div', { class: 'actions' }, analyzeBtn, cancelBtn, saveBtn, exportBtn, qatBtn, graphBtn)),
    statusEl, noticeEl, summaryEl, recEl,
    h('section', { class: 'layers-section', 'aria-label': 'Layers' },
      h('div', { class: 'table-tools' }, filter, countEl),
      h('p', { class: 'legend bars-legend' }, 'Bars: model output SQNR with only that layer quantized (longer is better) · ',
        h('span', { class: 'legend-item' }, h('span', { class: 'swatch sens-high', 'aria-hidden': 'true' }), '< 20 dB sensitive'),
        h('span', { class: 'legend-item' }, h('span', { class: 'swatch sens-medium', 'aria-hidden': 'true' }), '20–30 dB'),
        h('span', { class: 'legend-item' }, h('span', { class: 'swatch sens-low', 'aria-hidden': 'true' }), '≥ 30 dB robust'),
        ' · ★ recommended to keep · keep ✓ = higher precision'),
      h('div', { class: 'split' }, table.el, detailEl)),
  );

  function formats(): FormatCandidate[] {
    if (report?.formats.length) return report.formats;
    const ids = new Set<string>();
    for (const l of layers) for (const id of Object.keys(l.formats)) ids.add(id);
    return [...ids].map((id) => ({ id, weights: id, activations: '' }));
  }

  function renderStatus(): void {
    const pct = status.percentage !== undefined ? ` ${Math.round(status.percentage)}%` : '';
    replace(statusEl,
      status.running ? h('div', { class: 'running' }, h('span', { class: 'spinner', role: 'progressbar', 'aria-label': 'working' }), ` Analyzing…${pct} ${status.message ?? ''} · ${layers.length} layer${layers.length === 1 ? '' : 's'} so far`) : null,
      status.error ? h('div', { class: 'error-box', role: 'alert' }, h('h2', {}, report ? 'The last analysis failed (the report below is the previous one)' : 'The analysis failed'), h('p', { class: 'error-message' }, status.error), !report ? h('p', { class: 'meta' }, 'Fix the file or the settings named above, then press Analyze.') : null) : null,
      !status.running && !report && !layers.length && !status.error ? h('p', { class: 'hint' }, 'No analysis yet. Press Analyze (or run "QuantLens: Analyze Model").') : null);
    (cancelBtn as HTMLElement & { disabled: boolean }).disabled = !status.running;
    (analyzeBtn as HTMLElement & { disabled: boolean }).disabled = status.running;
    for (const btn of [saveBtn, exportBtn, qatBtn]) (btn as HTMLElement & { disabled: boolean }).disabled = !report;
  }

  function renderSummary(): void {
    if (!report) { replace(summaryEl); summaryEl.hidden = true; return; }
    summaryEl.hidden = false;
    const r = report;
    const many = r.warnings.length > 2;
    replace(summaryEl,
      h('p', { class: 'meta summary-line' },
        `${r.model.layerCount} quantizable layers · opset ${r.model.opset} · ${r.recommendation ? parameterText(Math.round(r.recommendation.floatSizeBytes / 4), r.model.params, formatCount) : `${formatCount(r.model.params)} parameters in quantizable layers' weights`}${r.model.macs ? ` · ${formatCount(r.model.macs)} MACs` : ''} · analysed in ${formatDuration(r.timings.totalMs / 1000)} `,
        h('span', { class: r.data.synthetic ? 'warning-text data-line' : 'data-line' }, `Data: ${r.data.samples} ${r.data.synthetic ? 'synthetic samples (no data folder set: results show numeric error, not accuracy)' : `samples from ${r.data.source}`}${r.floatAccuracy !== undefined ? ` · float accuracy ${formatPercent(r.floatAccuracy)}` : ''}`)),
      h('details', { class: 'all-quantized-details' }, h('summary', {}, `Every layer in one format: ${r.formats.map((f) => `${f.id} ${r.allQuantized[f.id] ? formatDb(r.allQuantized[f.id].sqnrDb) : r.allQuantizedEstimate?.[f.id] !== undefined ? `~${formatDb(r.allQuantizedEstimate[f.id])} (est.)` : '–'}`).join(' · ')} (formats explained)`),
      h('table', { class: 'metrics all-quantized' },
        h('thead', {}, h('tr', {}, h('th', {}, 'all layers in'), h('th', {}, 'meaning'), h('th', {}, 'output SQNR'), h('th', {}, 'cosine'), h('th', {}, 'top-1 agreement'), h('th', {}, 'accuracy'))),
        h('tbody', {}, ...r.formats.map((f) => {
          const m = r.allQuantized[f.id];
          const est = m ? undefined : r.allQuantizedEstimate?.[f.id];
          return h('tr', {}, h('th', { scope: 'row', title: `${f.weights} / ${f.activations}` }, f.id), h('td', { class: 'legend-text' }, formatLegend(f).slice(f.id.length + 2)), est !== undefined ? h('td', { title: 'first-order estimate, not measured' }, h('em', {}, `~${formatDb(est)} (est.)`)) : h('td', {}, formatDb(m?.sqnrDb)), h('td', {}, m ? m.cosine.toFixed(4) : '–'), h('td', {}, formatPercent(m?.top1Agreement)), h('td', {}, formatPercent(m?.accuracy)));
        })))),
      // Up to two warnings are shown as they are; more fold under a line that says how many (the first one shown).
      !r.warnings.length ? null : many
        ? h('details', { class: 'warnings-details' }, h('summary', {}, `${r.warnings.length} warnings: ${r.warnings[0]} …`), h('ul', { class: 'warnings' }, ...r.warnings.map((w) => h('li', {}, w))))
        : h('ul', { class: 'warnings' }, ...r.warnings.map((w) => h('li', {}, w))),
    );
  }

  function renderRec(): void {
    const d = decision();
    targetEditor.show(d?.target);
    const check = selectionCheck();
    const actions = {
      reset: () => { kept = new Set(d?.keep ?? recommendedKeep(report?.recommendation)); keptFromUser = false; evaluation = undefined; persist(); announceKept(); renderTable(); renderRec(); if (d?.rechosen) evaluate(); },
      useKept: (names: string[]) => { kept = new Set(names); keptFromUser = true; persist(); announceKept(); renderTable(); evaluate(); },
      select: (name: string) => { selected = name; query = { ...query, filter: '' }; filter.value = ''; persist(); renderTable(); renderDetail(); table.reveal(name, true); },
    };
    replace(cardEl, recommendationCard(report, kept, evaluation, d, check, actions, folds));
    const figure = paretoFigure(report, d, check, actions, { width: 360, height: 190 });
    replace(chartEl, figure);
    chartEl.hidden = !figure;
  }

  function renderTable(): void {
    const rows = queryLayers(layers, query, kept);
    const f = formats();
    table.primaryFormat = report?.primaryFormat ?? '';
    table.update(rows, f, dbScale(layers, f), kept, new Set(report?.recommendation?.keep ?? []), query, selected);
    countEl.textContent = rows.length === layers.length ? `${layers.length} layers` : `${rows.length} of ${layers.length} layers`;
  }

  function renderDetail(): void {
    const rec = report?.recommendation;
    replace(detailEl, layerDetail(layers.find((l) => l.name === selected), formats(), report?.primaryFormat, rec?.remedies?.find((r) => r.layer === selected), rec ? { base: rec.base.id, higher: rec.higher.id } : undefined));
  }

  function renderNotice(): void {
    replace(noticeEl, notice ? h('p', { class: notice.error ? 'error-text' : 'info-text' }, notice.text) : null, notice?.exported ? fidelityBlock(notice.exported) : null);
  }

  function evaluate(): void {
    if (!report) return;
    const requestId = ++evalSeq;
    evaluation = { keep: [...kept], pending: true };
    renderRec();
    send({ type: 'evaluate', requestId, keep: [...kept], recipe: currentRecipe()! });
  }

  /** A new target: the recommendation is re-chosen at once; an untouched selection follows it and is verified in the background. */
  function applyTarget(t: Target, fromPanel: boolean): void {
    target = t;
    if (fromPanel) send({ type: 'setTarget', target: t });
    const d = decision();
    if (d && !keptFromUser) { kept = new Set(d.keep); announceKept(); }
    persist();
    renderTable();
    renderRec();
    if (d?.rechosen || keptFromUser) evaluate();
  }

  /** The export notice: the file, its sizes (labelled: QDQ file vs float model file), the layers written and the target verdict. */
  function exportText(r: ExportResult): string {
    const e = exporting;
    const higher = report?.recommendation?.higher.id ?? 'higher precision';
    const which = e ? `${e.keep.length} layer${e.keep.length === 1 ? '' : 's'} in ${higher} (${e.recommended ? 'the recommendation' : 'your selection'})` : '';
    const verdict = e?.target ? ` · ${meetsTarget(e.target, r.metrics, (report && selectionBytes(report, new Set(e.keep))) ?? r.sizeBytes, report?.floatAccuracy) ? 'meets' : 'misses'} ${targetText(e.target)}` : '';
    return `Exported ${r.output} · ${which} · QDQ file ${formatBytes(r.sizeBytes)} (float model file ${formatBytes(r.floatSizeBytes)}) · output SQNR ${formatDb(r.metrics.sqnrDb)}${verdict}`;
  }

  function renderAll(): void { renderStatus(); renderSummary(); renderRec(); renderTable(); renderDetail(); renderNotice(); }

  onMessage((m: ToWebviewMessage) => {
    switch (m.type) {
      case 'report':
        report = m.report;
        layers = m.report.layers.slice().sort((a, c) => a.nodeIndex - c.nodeIndex);
        if (!keptFromUser) kept = new Set(decision()?.keep ?? recommendedKeep(report.recommendation));
        else kept = new Set([...kept].filter((k) => layers.some((l) => l.name === k)));
        renderAll();
        announceKept();
        if (selected) table.reveal(selected);
        // A target changed since the analysis: verify the re-chosen configuration in the background.
        if (m.final && !keptFromUser && decision()?.rechosen && !evaluation) evaluate();
        // A selection restored from an earlier session is measured again so its numbers are on screen.
        if (keptFromUser && m.final && !evaluation) evaluate();
        break;
      case 'layers': layers = mergeLayers(layers, m.layers); renderTable(); renderStatus(); if (selected && m.layers.some((l) => l.name === selected)) renderDetail(); break;
      case 'status':
        if (m.running && !status.running) { report = undefined; layers = []; evaluation = undefined; renderAll(); }
        status = { running: m.running, message: m.message, percentage: m.percentage, error: m.error };
        renderStatus();
        break;
      case 'evaluation':
        if (m.requestId !== evalSeq) break;
        evaluation = { keep: m.keep, pending: false, result: m.result, error: m.error };
        renderRec();
        break;
      case 'revealLayer':
        selected = m.layer;
        if (!queryLayers(layers, query, kept).some((l) => l.name === m.layer)) { query = { ...query, filter: '' }; filter.value = ''; }
        persist(); renderTable(); renderDetail(); table.reveal(m.layer, true);
        break;
      case 'exportDone':
        notice = m.result ? { text: exportText(m.result), exported: m.result } : { text: m.error ?? 'Export failed.', error: true };
        exporting = undefined;
        renderNotice();
        break;
      case 'target': if (!target || target.kind !== m.target.kind || target.value !== m.target.value) applyTarget(m.target, false); break;
      case 'recipeSaved': notice = { text: `Recipe saved to ${m.path}` }; renderNotice(); break;
      default: break;
    }
  });
  renderAll();
  send({ type: 'ready' });
}
