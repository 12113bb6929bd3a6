/** The model view (custom editor for .onnx): summary, layer table, Analyze / Run QAT / Export; a readable error for bad files. */
import type { ModelInfo } from '../src/shared/protocol';
import type { ToWebviewMessage, WebviewBoot } from '../src/shared/webview-messages';
import { button, h, onMessage, replace, send } from './dom';
import { formatBytes, formatCount, formatShape } from './format';
import { ModelLayerTable } from './model-layer-table';
import { parameterText } from '../src/shared/sizes';

/** Mounts the model view into `root`. */
export function mountModelView(root: HTMLElement, b: WebviewBoot): void {
  replace(root, h('p', { class: 'hint loading' }, h('span', { class: 'spinner', role: 'progressbar', 'aria-label': 'working' }), ` Opening ${b.modelName}…`));
  onMessage((m: ToWebviewMessage) => {
    if (m.type === 'modelInfo') replace(root, ...renderInfo(m.info, b));
    else if (m.type === 'modelError') replace(root,
      h('h1', {}, b.modelName),
      h('div', { class: 'error-box', role: 'alert' }, h('h2', {}, 'This model cannot be opened'), h('p', { class: 'error-message' }, m.message), h('p', { class: 'meta' }, m.file)));
  });
  send({ type: 'ready' });
}

function renderInfo(info: ModelInfo, b: WebviewBoot): HTMLElement[] {
  const s = info.summary;
  const opset = s.opsets.map((o) => `${o.domain && o.domain !== 'ai.onnx' ? `${o.domain} ` : ''}${o.version}`).join(', ');
  const tensorRows = (label: string, list: typeof s.inputs) => list.map((t) => h('tr', {}, h('th', { scope: 'row' }, label), h('td', {}, t.name), h('td', {}, t.type), h('td', {}, formatShape(t.shape))));
  const table = new ModelLayerTable(info.layers, (layer) => send({ type: 'openReport', layer }));
  return [
    h('header', { class: 'toolbar' }, h('h1', {}, b.modelName),
      h('div', { class: 'actions' },
        button('Analyze', () => send({ type: 'analyze' }), { id: 'analyze' }),
        button('Run QAT', () => send({ type: 'runQat' }), { id: 'run-qat', secondary: true }),
        button('Export', () => send({ type: 'export' }), { id: 'export', secondary: true }),
        button('Open Report', () => send({ type: 'openReport' }), { id: 'open-report', secondary: true }),
        button('Open Graph', () => send({ type: 'openGraph' }), { id: 'open-graph', secondary: true }))),
    h('section', { class: 'card summary', 'aria-label': 'Model summary' },
      h('dl', { class: 'facts' },
        ...fact('opset', opset), ...fact('IR version', String(s.irVersion)), ...fact('producer', `${s.producer}${s.producerVersion ? ` ${s.producerVersion}` : ''}`),
        ...fact('file size', formatBytes(s.fileSize)), ...fact('nodes', String(s.nodeCount)), ...fact('parameters', parameterText(s.parameterCount, s.layerParams, formatCount)),
        ...fact('quantizable layers', `${s.layerCount} (${Object.entries(s.layersByKind).map(([k, v]) => `${v} ${k}`).join(', ')})`),
        ...fact('MACs', s.macs !== undefined ? formatCount(s.macs) : 'unknown (shapes not inferred)'),
        ...fact('ops', s.opHistogram.slice(0, 8).map((o) => `${o.op} ×${o.count}`).join(', '))),
      h('table', { class: 'metrics io' }, h('thead', {}, h('tr', {}, h('th', {}, ''), h('th', {}, 'name'), h('th', {}, 'type'), h('th', {}, 'shape'))),
        h('tbody', {}, ...tensorRows('input', s.inputs), ...tensorRows('output', s.outputs))),
      info.warnings.length ? h('ul', { class: 'warnings' }, ...info.warnings.map((w) => h('li', {}, w))) : null),
    h('section', { class: 'card', 'aria-label': 'Quantizable layers' },
      h('h2', {}, `Quantizable layers (${info.layers.length})`),
      info.layers.length ? table.filterEl : null,
      info.layers.length ? table.el : h('p', { class: 'hint' }, 'No quantizable layers (Conv, ConvTranspose, MatMul, Gemm) in this model.')),
  ];
}

function fact(k: string, v: string): HTMLElement[] {
  return [h('dt', {}, k), h('dd', {}, v)];
}
