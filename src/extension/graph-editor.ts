/** The graph view: a custom read-only editor for `.onnx` files drawing the model graph, coloured by the analysis. */
import * as vscode from 'vscode';
import { GraphRequest } from '../shared/protocol';
import type { FromWebviewMessage, ToWebviewMessage } from '../shared/webview-messages';
import { errorText } from './actions';
import type { EngineClient } from './engine-client';
import type { ModelStore } from './model-store';
import type { SelectionHub } from './selection';
import { bootFor, post, setWebviewHtml } from './webview-setup';

/** Opens `.onnx` files in the graph view ("Open With…" or QuantLens: Open Graph). */
export class GraphEditorProvider implements vscode.CustomReadonlyEditorProvider, vscode.Disposable {
  /** The custom editor's view type. */
  static readonly viewType = 'quantlens.graphView';
  private readonly panels = new Map<string, Set<vscode.WebviewPanel>>();
  private readonly subs: vscode.Disposable[] = [];

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly engine: EngineClient,
    private readonly store: ModelStore,
    private readonly selection: SelectionHub,
    private readonly openReport: (model: string, layer?: string) => void,
  ) {
    this.subs.push(
      store.onDidChange((c) => { const s = store.get(c.model); if (c.what === 'report' && s.report) this.postAll(c.model, { type: 'report', report: s.report, final: true }); }),
      selection.onSelect((e) => { if (e.source !== 'graph') this.postAll(e.model, { type: 'revealLayer', layer: e.layer }); }),
      selection.onKept((e) => this.postAll(e.model, { type: 'kept', keep: e.keep })),
    );
  }

  /** True when a graph view of the model is open. */
  isOpen(model: string): boolean { return (this.panels.get(model)?.size ?? 0) > 0; }

  private postAll(model: string, m: ToWebviewMessage): void {
    for (const p of this.panels.get(model) ?? []) post(p.webview, m);
  }

  openCustomDocument(uri: vscode.Uri): vscode.CustomDocument {
    return { uri, dispose: () => undefined };
  }

  resolveCustomEditor(document: vscode.CustomDocument, panel: vscode.WebviewPanel): void {
    const model = document.uri.fsPath;
    setWebviewHtml(panel.webview, this.extensionUri, bootFor('graph', model), `Graph: ${document.uri.path.split('/').pop() ?? 'model'}`);
    let set = this.panels.get(model);
    if (!set) { set = new Set(); this.panels.set(model, set); }
    set.add(panel);
    const subs = [
      panel.webview.onDidReceiveMessage((m: FromWebviewMessage) => void this.onMessage(panel, model, m)),
      panel.onDidDispose(() => { set!.delete(panel); subs.forEach((d) => d.dispose()); }),
    ];
  }

  private async onMessage(panel: vscode.WebviewPanel, model: string, m: FromWebviewMessage): Promise<void> {
    switch (m.type) {
      case 'ready':
        try {
          const graph = await this.engine.request(GraphRequest, { model });
          post(panel.webview, { type: 'graph', graph });
          const report = await this.store.report(model);
          if (report) post(panel.webview, { type: 'report', report, final: true });
          const kept = this.selection.kept(model);
          if (kept) post(panel.webview, { type: 'kept', keep: kept });
        } catch (e) {
          post(panel.webview, { type: 'modelError', file: model, message: errorText(e) });
        }
        break;
      case 'selectLayer': this.selection.select({ model, layer: m.layer, source: 'graph' }); break;
      case 'openReport': this.openReport(model, m.layer); break;
      default: break;
    }
  }

  dispose(): void { this.subs.forEach((d) => d.dispose()); }
}
