/** The QAT panel: live loss and accuracy curves (uPlot), step and ETA, cancel, before/after. */
import uPlot from 'uplot';
import uplotCss from 'uplot/dist/uPlot.min.css';
import type { QatProgress, QatResult } from '../src/shared/protocol';
import type { ToWebviewMessage, WebviewBoot } from '../src/shared/webview-messages';
import { button, h, onMessage, replace, send, vscode } from './dom';
import { formatDb, formatDuration, formatNumber, formatPercent } from './format';
import { curveData, epochText, type CurvePoint } from './qat-model';

/** Mounts the QAT UI into `root`. */
export function mountQat(root: HTMLElement, b: WebviewBoot, nonce: string | undefined): void {
  const style = h('style', { nonce });
  style.textContent = uplotCss;
  document.head.append(style);
  // The curves and result survive a reload through the webview state (a run in flight does not: the engine job ends with the window).
  const saved = (vscode().getState()?.ui ?? b.ui ?? {}) as { points?: CurvePoint[]; result?: QatResult; last?: QatProgress; error?: string };
  let points: CurvePoint[] = saved.points ?? [];
  let running = false;
  let totalSteps: number | undefined;
  let last: QatProgress | undefined = saved.last;
  let result: QatResult | undefined = saved.result;
  let error: string | undefined = saved.error;
  let output: string | undefined;
  const persist = () => vscode().setState({ kind: 'qat', model: b.model, ui: { points, result, last, error } });
  persist();

  const stepEl = h('div', { class: 'qat-step', role: 'status', 'aria-live': 'polite' });
  const lossHost = h('div', { class: 'curve', id: 'loss-curve' });
  const accHost = h('div', { class: 'curve', id: 'acc-curve' });
  const resultEl = h('div', {});
  const startBtn = button('Run QAT', () => send({ type: 'runQat' }), { id: 'run-qat' });
  const cancelBtn = button('Cancel', () => send({ type: 'cancel' }), { id: 'cancel-qat', secondary: true });
  replace(root,
    h('header', { class: 'toolbar' }, h('h1', {}, `QAT · ${b.modelName}`), h('div', { class: 'actions' }, startBtn, cancelBtn)),
    stepEl,
    h('div', { class: 'curves' }, h('figure', {}, lossHost, h('figcaption', {}, 'training loss')), h('figure', {}, accHost, h('figcaption', {}, 'accuracy / agreement with the float model'))),
    resultEl);

  const css = getComputedStyle(document.body);
  const color = (v: string, fb: string) => css.getPropertyValue(v).trim() || fb;
  const axis = { stroke: color('--vscode-foreground', '#888'), grid: { stroke: color('--vscode-editorWidget-border', '#4444'), width: 1 }, ticks: { stroke: color('--vscode-editorWidget-border', '#4444') } };
  const width = () => Math.max(240, Math.min(560, (root.clientWidth || 600) / 2 - 24));
  const lossPlot = new uPlot({ width: width(), height: 200, legend: { show: false }, scales: { x: { time: false } }, axes: [axis, axis],
    series: [{}, { label: 'loss', stroke: color('--vscode-charts-blue', '#3794ff'), width: 2 }] }, [[], []], lossHost);
  const accPlot = new uPlot({ width: width(), height: 200, legend: { show: false }, scales: { x: { time: false }, y: { range: [0, 1] } }, axes: [axis, axis],
    series: [{}, { label: 'accuracy', stroke: color('--vscode-charts-green', '#89d185'), width: 2 }, { label: 'agreement', stroke: color('--vscode-charts-purple', '#b180d7'), width: 2, dash: [4, 3] }] }, [[], [], []], accHost);
  new ResizeObserver(() => { lossPlot.setSize({ width: width(), height: 200 }); accPlot.setSize({ width: width(), height: 200 }); }).observe(root);

  function render(): void {
    const d = curveData(points);
    lossPlot.setData([d.steps, d.loss]);
    lossHost.dataset.points = String(d.steps.length);
    lossHost.dataset.lastStep = String(d.steps[d.steps.length - 1] ?? '');
    accPlot.setData([d.steps, d.accuracy, d.agreement]);
    const total = last?.totalSteps ?? totalSteps;
    replace(stepEl,
      running ? h('span', { class: 'spinner', role: 'progressbar', 'aria-label': 'working' }) : null,
      last ? ` Step ${last.step}${total ? ` / ${total}` : ''} · ${epochText(last.epoch, last.step)} · loss ${formatNumber(last.loss)}${last.accuracy !== undefined ? ` · accuracy ${formatPercent(last.accuracy)}` : ''}${last.agreement !== undefined ? ` · agreement ${formatPercent(last.agreement)}` : ''} · lr ${formatNumber(last.lr)}${running && last.etaSeconds !== undefined ? ` · ETA ${formatDuration(last.etaSeconds)}` : ''}`
        : running ? ' Starting QAT…' : ' Not running.',
      error ? h('div', { class: 'error-text' }, error) : null);
    (cancelBtn as HTMLElement & { disabled: boolean }).disabled = !running;
    (startBtn as HTMLElement & { disabled: boolean }).disabled = running;
    replace(resultEl, result ? h('section', { class: 'card before-after', 'aria-label': 'Before and after' },
      h('h2', {}, 'Before / after fine-tuning'),
      versusPtq(result),
      h('table', { class: 'metrics' },
        h('thead', {}, h('tr', {}, h('th', {}, ''), h('th', {}, 'output SQNR'), h('th', {}, 'cosine'), h('th', {}, 'top-1 agreement'), h('th', {}, 'accuracy'))),
        h('tbody', {}, ...(['before', 'after'] as const).map((k) => {
          const m = result![k];
          return h('tr', {}, h('th', { scope: 'row' }, k), h('td', {}, formatDb(m.sqnrDb)), h('td', {}, m.cosine.toFixed(4)), h('td', {}, formatPercent(m.top1Agreement)), h('td', {}, formatPercent(m.accuracy)));
        }))),
      h('p', { class: 'meta' }, `${result.steps} steps · model written to ${result.output}${result.recipe ? ` · recipe ${result.recipe}` : ''}`)) : output && running ? h('p', { class: 'meta' }, `Output: ${output}`) : null);
  }

  onMessage((m: ToWebviewMessage) => {
    if (m.type === 'qatStarted') { points = []; running = true; result = undefined; error = undefined; last = undefined; totalSteps = m.totalSteps; output = m.output; }
    else if (m.type === 'qatPoint') { points.push({ step: m.point.step, loss: m.point.loss, accuracy: m.point.accuracy, agreement: m.point.agreement }); last = m.point; }
    else if (m.type === 'qatDone') {
      running = false; result = m.result;
      // The result carries the whole curve: the finished run is drawn in full even when progress messages were missed.
      if (m.result.curve?.length) points = m.result.curve.map((p) => ({ ...p }));
    }
    else if (m.type === 'qatError') { running = false; error = m.message; }
    else return;
    persist();
    render();
  });
  render();
  send({ type: 'ready' });
}

/** QAT against plain PTQ of the same recipe: the formats trained, both SQNRs, and a warning when QAT came out worse. */
function versusPtq(r: QatResult): HTMLElement | null {
  const v = r.versusPtq;
  if (!v) return null;
  const formats = v.formats.map((f) => `${f.layers} layer${f.layers === 1 ? '' : 's'} at weights ${f.weights} / activations ${f.activations}`).join('; ');
  const agree = v.ptqAgreement !== undefined && v.qatAgreement !== undefined ? ` · top-1 agreement PTQ ${formatPercent(v.ptqAgreement)}, QAT ${formatPercent(v.qatAgreement)}` : '';
  return h('div', { class: 'versus-ptq' },
    h('p', {}, h('strong', {}, 'Formats trained: '), formats || 'none'),
    h('p', {}, `Output SQNR: PTQ ${formatDb(v.ptqSqnrDb)} → QAT ${formatDb(v.qatSqnrDb)}${agree} (${v.samples} ${v.synthetic ? 'synthetic samples' : 'samples'})`),
    v.qatWorse ? h('p', { class: 'warning-text qat-worse', role: 'alert' }, `QAT made the model worse than plain post-training quantization (${formatDb(v.ptqSqnrDb)} → ${formatDb(v.qatSqnrDb)}). Keep the PTQ export, or retry with a lower learning rate, more data or more steps.`) : null);
}
