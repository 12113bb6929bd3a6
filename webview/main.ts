/** Webview entry: reads the boot data and mounts the model view, report panel or QAT panel. */
import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-textfield/index.js';
import { boot, h, replace } from './dom';
import { mountCompare } from './compare-view';
import { mountGraph } from './graph-view';
import { mountModelView } from './model-view';
import { mountQat } from './qat-view';
import { mountReport } from './report-view';

const nonce = (document.currentScript as HTMLScriptElement | null)?.nonce || undefined;
(window as unknown as { litNonce?: string }).litNonce = nonce;

const root = document.getElementById('app')!;
try {
  const b = boot();
  if (b.kind === 'model') mountModelView(root, b);
  else if (b.kind === 'report') mountReport(root, b);
  else if (b.kind === 'qat') mountQat(root, b, nonce);
  else if (b.kind === 'graph') mountGraph(root, b);
  else if (b.kind === 'compare') mountCompare(root, b);
  else replace(root, h('p', { class: 'error-text' }, `Unknown view ${String((b as { kind?: string }).kind)}`));
} catch (e) {
  replace(root, h('div', { class: 'error-box', role: 'alert' }, h('h2', {}, 'QuantLens view failed'), h('p', {}, e instanceof Error ? e.message : String(e))));
}
