/** The report panel: header and actions, status, summary, recommendation, layer table and detail; persists its UI state. */
import type { AnalysisReport, FormatCandidate, LayerReport } from '../src/shared/report';
import type { ToWebviewMessage, WebviewBoot } from '../src/shared/webview-messages';
import { button, h, onMessage, replace, send, vscode } from './dom';
import { formatBytes, formatCount, formatDb, formatDuration, formatPercent } from './format';
import { layerDetail } from './layer-detail';
import { LayerTable } from './layer-table';
import { fidelityBlock, recommendationCard, type EvaluationState } from './recommendation-view';
import type { ExportResult } from '../src/shared/protocol';
import { DEFAULT_QUERY, dbScale, mergeLayers, queryLayers, recipeForKeep, recommendedKeep, toggleKeep, toggleSort, type TableQuery } from './report-model';

interface UiState { query: TableQuery; selected?: string; kept?: string[] }

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

  const persist = () => vscode().setState({ kind: 'report', model: b.model, ui: { query, selected, kept: keptFromUser ? [...kept] : undefined } satisfies UiState });

  const statusEl = h('div', { class: 'status', role: 'status', 'aria-live': 'polite' });
  const summaryEl = h('section', { class: 'card summary', 'aria-label': 'Summary' });
  const recEl = h('div', {});
  const detailEl = h('div', { class: 'detail-host' });
  const noticeEl = h('div', { class: 'notice', 'aria-live': 'polite' });
  const table = new LayerTable({
    onSelect: (name) => { selected = name; persist(); renderTable(); renderDetail(); send({ type: 'selectLayer', layer: name }); },
    onToggleKeep: (name) => { kept = toggleKeep(kept, name); keptFromUser = true; persist(); renderTable(); evaluate(); },
    onSort: (key) => { query = toggleSort(query, key); persist(); renderTable(); },
  });
  const filter = h('vscode-textfield', { placeholder: 'Filter layers: name, op:Conv, kind:depthwise, keep:yes, diag:outliers, -word', 'aria-label': 'Filter layers', class: 'filter' }) as HTMLElement & { value: string };
  filter.value = query.filter;
  filter.addEventListener('input', () => { query = { ...query, filter: filter.value }; persist(); renderTable(); });
  const countEl = h('span', { class: 'count' });
  const analyzeBtn = button('Analyze', () => send({ type: 'analyze' }), { id: 'analyze' });
  const cancelBtn = button('Cancel', () => send({ type: 'cancel' }), { id: 'cancel', secondary: true });
  const currentRecipe = () => (report ? recipeForKeep(report, kept) : undefined);
  const saveBtn = button('Save Recipe', () => { const r = currentRecipe(); if (r) send({ type: 'saveRecipe', recipe: r }); }, { id: 'save-recipe', secondary: true });
  const exportBtn = button('Export QDQ Model', () => { notice = { text: 'Exporting…' }; renderNotice(); send({ type: 'export', recipe: currentRecipe() }); }, { id: 'export' });
  const qatBtn = button('Run QAT', () => send({ type: 'runQat', recipe: currentRecipe() }), { id: 'run-qat', secondary: true });

  replace(root,
    h('header', { class: 'toolbar' }, h('h1', {}, `QuantLens report · ${b.modelName}`), h('div', { class: 'actions' }, analyzeBtn, cancelBtn, saveBtn, exportBtn, qatBtn)),
    statusEl, noticeEl, summaryEl, recEl,
    h('section', { class: 'layers-section', 'aria-label': 'Layers' },
      h('div', { class: 'table-tools' }, filter, countEl),
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
      status.error ? h('div', { class: 'error-text' }, status.error) : null,
      !status.running && !report && !layers.length && !status.error ? h('p', { class: 'hint' }, 'No analysis yet. Press Analyze (or run "QuantLens: Analyze Model").') : null);
    (cancelBtn as HTMLElement & { disabled: boolean }).disabled = !status.running;
    (analyzeBtn as HTMLElement & { disabled: boolean }).disabled = status.running;
    for (const btn of [saveBtn, exportBtn, qatBtn]) (btn as HTMLElement & { disabled: boolean }).disabled = !report;
  }

  function renderSummary(): void {
    if (!report) { replace(summaryEl); summaryEl.hidden = true; return; }
    summaryEl.hidden = false;
    const r = report;
    replace(summaryEl,
      h('p', { class: 'meta' }, `${r.model.layerCount} quantizable layers · opset ${r.model.opset} · ${formatCount(r.model.params)} params${r.model.macs ? ` · ${formatCount(r.model.macs)} MACs` : ''} · analysed in ${formatDuration(r.timings.totalMs / 1000)}`),
      h('p', { class: r.data.synthetic ? 'warning-text' : 'meta' }, `Data: ${r.data.samples} ${r.data.synthetic ? 'synthetic samples (no data folder set: results show numeric error, not accuracy)' : `samples from ${r.data.source}`}${r.floatAccuracy !== undefined ? ` · float accuracy ${formatPercent(r.floatAccuracy)}` : ''}`),
      h('table', { class: 'metrics all-quantized' },
        h('thead', {}, h('tr', {}, h('th', {}, 'all layers in'), h('th', {}, 'output SQNR'), h('th', {}, 'cosine'), h('th', {}, 'top-1 agreement'), h('th', {}, 'accuracy'))),
        h('tbody', {}, ...r.formats.map((f) => {
          const m = r.allQuantized[f.id];
          return h('tr', {}, h('th', { scope: 'row', title: `${f.weights} / ${f.activations}` }, f.id), h('td', {}, formatDb(m?.sqnrDb)), h('td', {}, m ? m.cosine.toFixed(4) : '–'), h('td', {}, formatPercent(m?.top1Agreement)), h('td', {}, formatPercent(m?.accuracy)));
        }))),
      r.warnings.length ? h('ul', { class: 'warnings' }, ...r.warnings.map((w) => h('li', {}, w))) : null,
    );
  }

  function renderRec(): void {
    replace(recEl, recommendationCard(report, kept, evaluation, {
      reset: () => { kept = new Set(recommendedKeep(report?.recommendation)); keptFromUser = false; evaluation = undefined; persist(); renderTable(); renderRec(); },
      useKept: (names) => { kept = new Set(names); keptFromUser = true; persist(); renderTable(); evaluate(); },
      select: (name) => { selected = name; query = { ...query, filter: '' }; filter.value = ''; persist(); renderTable(); renderDetail(); table.reveal(name, true); },
    }));
  }

  function renderTable(): void {
    const rows = queryLayers(layers, query, kept);
    const f = formats();
    table.update(rows, f, dbScale(layers, f), kept, new Set(report?.recommendation?.keep ?? []), query, selected);
    countEl.textContent = rows.length === layers.length ? `${layers.length} layers` : `${rows.length} of ${layers.length} layers`;
  }

  function renderDetail(): void {
    replace(detailEl, layerDetail(layers.find((l) => l.name === selected), formats()));
  }

  function renderNotice(): void {
    replace(noticeEl, notice ? h('p', { class: notice.error ? 'error-text' : 'info-text' }, notice.text) : null, notice?.exported ? fidelityBlock(notice.exported) : null);
  }

  function evaluate(): void {
    if (!report) return;
    const requestId = ++evalSeq;
    evaluation = { keep: [...kept], pending: true };
    renderRec();
    send({ type: 'evaluate', requestId, keep: [...kept], recipe: recipeForKeep(report, kept) });
  }

  function renderAll(): void { renderStatus(); renderSummary(); renderRec(); renderTable(); renderDetail(); renderNotice(); }

  onMessage((m: ToWebviewMessage) => {
    switch (m.type) {
      case 'report':
        report = m.report;
        layers = m.report.layers.slice().sort((a, c) => a.nodeIndex - c.nodeIndex);
        if (!keptFromUser) kept = new Set(recommendedKeep(report.recommendation));
        else kept = new Set([...kept].filter((k) => layers.some((l) => l.name === k)));
        renderAll();
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
        notice = m.result ? { text: `Exported ${m.result.output} · ${formatBytes(m.result.sizeBytes)} (float ${formatBytes(m.result.floatSizeBytes)}) · output SQNR ${formatDb(m.result.metrics.sqnrDb)}`, exported: m.result } : { text: m.error ?? 'Export failed.', error: true };
        renderNotice();
        break;
      case 'recipeSaved': notice = { text: `Recipe saved to ${m.path}` }; renderNotice(); break;
      default: break;
    }
  });
  renderAll();
  send({ type: 'ready' });
}
