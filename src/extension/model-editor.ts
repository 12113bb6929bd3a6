/** The model view: a custom read-only editor for `.onnx` files (summary, layer table, actions); errors shown in the view. */
import * as vscode from 'vscode';
import { InspectRequest } from '../shared/protocol';
import type { FromWebviewMessage } from '../shared/webview-messages';
import { errorText, type Actions } from './actions';
import type { EngineClient } from './engine-client';
import type { ModelStore } from './model-store';
import { bootFor, post, setWebviewHtml } from './webview-setup';

/** Opens `.onnx` files in the model view. */
export class ModelEditorProvider implements vscode.CustomReadonlyEditorProvider {
  /** The custom editor's view type. */
  static readonly viewType = 'quantlens.modelView';
  private active: string | undefined;
  private readonly openPanels = new Map<string, Set<vscode.WebviewPanel>>();

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly engine: EngineClient,
    private readonly store: ModelStore,
    private readonly actions: Actions,
    private readonly ui: { openReport: (model: string, layer?: string) => void; openQat: (model: string) => void; export: (model: string) => void },
  ) {}

  /** The model of the focused model view, if any. */
  get activeModel(): string | undefined { return this.active; }

  openCustomDocument(uri: vscode.Uri): vscode.CustomDocument {
    return { uri, dispose: () => undefined };
  }

  async resolveCustomEditor(document: vscode.CustomDocument, panel: vscode.WebviewPanel): Promise<void> {
    const model = document.uri.fsPath;
    setWebviewHtml(panel.webview, this.extensionUri, bootFor('model', model), document.uri.path.split('/').pop() ?? 'model');
    let set = this.openPanels.get(model);
    if (!set) { set = new Set(); this.openPanels.set(model, set); }
    set.add(panel);
    if (panel.active) this.active = model;
    const subs = [
      panel.onDidChangeViewState((e) => { if (e.webviewPanel.active) this.active = model; else if (this.active === model) this.active = undefined; }),
      panel.webview.onDidReceiveMessage((m: FromWebviewMessage) => this.onMessage(panel, model, m)),
      panel.onDidDispose(() => {
        set!.delete(panel);
        if (this.active === model) this.active = undefined;
        subs.forEach((d) => d.dispose());
      }),
    ];
  }

  private onMessage(panel: vscode.WebviewPanel, model: string, m: FromWebviewMessage): void {
    switch (m.type) {
      case 'ready': void this.inspect(panel, model); break;
      case 'analyze': this.ui.openReport(model); void this.actions.analyze(model); break;
      case 'runQat': this.ui.openQat(model); void this.actions.runQat(model, { steps: m.steps }); break;
      case 'export': this.ui.export(model); break;
      case 'openReport': this.ui.openReport(model, m.layer); break;
      case 'selectLayer': this.ui.openReport(model, m.layer); break;
      case 'openGraph': void vscode.commands.executeCommand('quantlens.openGraph', vscode.Uri.file(model)); break;
      default: break;
    }
  }

  private async inspect(panel: vscode.WebviewPanel, model: string): Promise<void> {
    try {
      const info = await this.engine.request(InspectRequest, { model });
      this.store.setInfo(model, info);
      post(panel.webview, { type: 'modelInfo', info });
    } catch (e) {
      this.store.setInfo(model, undefined, errorText(e));
      post(panel.webview, { type: 'modelError', file: model, message: errorText(e) });
    }
  }
}
