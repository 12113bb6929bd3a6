/** Compare Models: choose the float and the quantized model, then every matched tensor side by side, worst first. */
import type { TensorComparison } from '../src/shared/protocol';
import type { CompareDataMessage, ToWebviewMessage, WebviewBoot } from '../src/shared/webview-messages';
import { button, h, onMessage, replace, send } from './dom';
import { formatDb, formatNumber, formatPercent } from './format';
import { baseName, sensitivity } from './report-model';

/** Mounts the compare view. */
export function mountCompare(root: HTMLElement, _b: WebviewBoot): void {
  let data: CompareDataMessage | undefined;
  let filter = '';
  const floatSel = h('select', { id: 'compare-float', class: 'metric-select', 'aria-label': 'Float model' }) as HTMLSelectElement;
  const quantSel = h('select', { id: 'compare-quantized', class: 'metric-select', 'aria-label': 'Quantized model' }) as HTMLSelectElement;
  const runBtn = button('Compare', () => send({ type: 'compareModels', float: floatSel.value, quantized: quantSel.value }), { id: 'compare-run' });
  const filterEl = h('input', { class: 'target-value compare-filter', type: 'search', placeholder: 'Filter tensors or layers', 'aria-label': 'Filter tensors or layers', oninput: () => { filter = filterEl.value.toLowerCase(); renderResult(); } }) as HTMLInputElement;
  const statusEl = h('div', { role: 'status', 'aria-live': 'polite' });
  const resultEl = h('div', {});
  replace(root,
    h('header', { class: 'toolbar' }, h('h1', {}, 'Compare Models')),
    h('div', { class: 'target-editor' }, h('label', { for: 'compare-float' }, 'Float: '), floatSel, h('label', { for: 'compare-quantized' }, ' Quantized: '), quantSel, runBtn),
    statusEl, resultEl);

  function fill(sel: HTMLSelectElement, models: string[], value?: string): void {
    replace(sel, ...models.map((m) => h('option', { value: m }, baseName(m))));
    if (value) sel.value = value;
  }

  function renderResult(): void {
    const r = data?.result;
    if (!r) { replace(resultEl, data && !data.running && !data.error ? h('p', { class: 'hint' }, 'Choose the float model and its quantized version, then Compare.') : null); return; }
    const rows = r.tensors.slice().sort((a, b) => a.sqnrDb - b.sqnrDb).filter((t) => !filter || t.tensor.toLowerCase().includes(filter) || t.producer.toLowerCase().includes(filter));
    const o = r.outputs;
    replace(resultEl,
      h('section', { class: 'card' }, h('h2', {}, `${baseName(data!.float ?? '')} vs ${baseName(data!.quantized ?? '')}`),
        h('p', { id: 'compare-outputs' }, `Outputs: SQNR ${formatDb(o.sqnrDb)} · cosine ${o.cosine.toFixed(4)}${o.top1Agreement !== undefined ? ` · top-1 agreement ${formatPercent(o.top1Agreement)}` : ''} (ONNX Runtime, fused kernels)`),
        h('p', { class: 'meta' }, `${r.tensors.length} tensors matched by name; intermediate tensors follow the exact Q/DQ arithmetic. Worst first.`)),
      h('div', { class: 'table-tools' }, filterEl, h('span', { class: 'count' }, `${rows.length} of ${r.tensors.length} tensors`)),
      h('div', { class: 'scroll-table' }, h('table', { class: 'layers compare-table' },
        h('thead', {}, h('tr', {}, h('th', {}, 'tensor'), h('th', {}, 'produced by'), h('th', {}, 'SQNR (quantized vs float)'), h('th', {}, 'cosine'), h('th', {}, 'max |difference|'))),
        h('tbody', {}, ...rows.map(row)))));
  }

  function row(t: TensorComparison): HTMLElement {
    return h('tr', {},
      h('td', { class: 'name', title: t.tensor }, t.tensor),
      h('td', { title: t.producer }, t.producer),
      h('td', { class: 'num' }, h('span', { class: `swatch sens-${sensitivity(t.sqnrDb)}`, 'aria-hidden': 'true' }), ' ', formatDb(t.sqnrDb)),
      h('td', { class: 'num' }, t.cosine.toFixed(4)),
      h('td', { class: 'num' }, formatNumber(t.maxAbsDiff)));
  }

  onMessage((m: ToWebviewMessage) => {
    if (m.type !== 'compareData') return;
    data = m;
    fill(floatSel, m.models, m.float ?? m.models.find((x) => !/\.(qdq|qat)\.onnx$/.test(x)));
    fill(quantSel, m.models, m.quantized ?? m.models.find((x) => /\.(qdq|qat)\.onnx$/.test(x)) ?? m.models[1]);
    replace(statusEl,
      m.running ? h('p', {}, h('span', { class: 'spinner', role: 'progressbar', 'aria-label': 'working' }), ' Comparing…') : null,
      m.error ? h('div', { class: 'error-box', role: 'alert' }, h('p', { class: 'error-message' }, m.error)) : null,
      m.models.length < 2 ? h('p', { class: 'hint' }, 'The workspace needs two .onnx models: export a quantized model first.') : null);
    (runBtn as HTMLElement & { disabled: boolean }).disabled = !!m.running || m.models.length < 2;
    renderResult();
  });
  send({ type: 'ready' });
}
