/** Compare Models: one webview, the two models chosen from the workspace's `.onnx` files, per-layer differences side by side. */
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { FromWebviewMessage, ToWebviewMessage } from '../shared/webview-messages';
import { errorText, type Actions } from './actions';
import { bootFor, post, setWebviewHtml, webviewOptions } from './webview-setup';

/** The compare panel (one at a time; a new pair re-uses it). */
export class ComparePanel implements vscode.Disposable {
  /** The panel's view type. */
  static readonly viewType = 'quantlens.compare';
  private panel: vscode.WebviewPanel | undefined;
  private state: { float?: string; quantized?: string } = {};

  constructor(private readonly extensionUri: vscode.Uri, private readonly actions: Actions) {}

  /** Opens the panel with a pair (either may be missing: the user picks in the panel); compares when both are given. */
  async show(float?: string, quantized?: string): Promise<void> {
    this.state = { float, quantized };
    if (!this.panel) {
      const panel = vscode.window.createWebviewPanel(ComparePanel.viewType, 'Compare Models', vscode.ViewColumn.Active, { ...webviewOptions(this.extensionUri), retainContextWhenHidden: true });
      panel.iconPath = vscode.Uri.joinPath(this.extensionUri, 'media', 'quantlens.svg');
      setWebviewHtml(panel.webview, this.extensionUri, bootFor('compare', float ?? '', undefined), 'Compare Models');
      panel.webview.onDidReceiveMessage((m: FromWebviewMessage) => void this.onMessage(m));
      panel.onDidDispose(() => { this.panel = undefined; });
      this.panel = panel;
    } else {
      this.panel.reveal();
      await this.sendModels();
      if (float && quantized) await this.compare(float, quantized);
    }
  }

  private async models(): Promise<string[]> {
    const files = await vscode.workspace.findFiles('**/*.onnx', '**/node_modules/**', 500);
    const all = new Set(files.map((f) => f.fsPath));
    for (const m of [this.state.float, this.state.quantized]) if (m) all.add(m);
    return [...all].sort();
  }

  private send(m: ToWebviewMessage): void { if (this.panel) post(this.panel.webview, m); }

  private async sendModels(extra: Partial<Extract<ToWebviewMessage, { type: 'compareData' }>> = {}): Promise<void> {
    this.send({ type: 'compareData', models: await this.models(), float: this.state.float, quantized: this.state.quantized, ...extra });
  }

  private async compare(float: string, quantized: string): Promise<void> {
    this.state = { float, quantized };
    if (this.panel) this.panel.title = `Compare: ${path.basename(float)} vs ${path.basename(quantized)}`;
    await this.sendModels({ running: true });
    try {
      const result = await this.actions.compare({ float, quantized });
      await this.sendModels(result ? { result } : { error: 'Comparison cancelled.' });
    } catch (e) {
      await this.sendModels({ error: errorText(e) });
    }
  }

  private async onMessage(m: FromWebviewMessage): Promise<void> {
    if (m.type === 'ready') {
      await this.sendModels();
      if (this.state.float && this.state.quantized) await this.compare(this.state.float, this.state.quantized);
    } else if (m.type === 'compareModels') {
      if (m.float === m.quantized) { await this.sendModels({ error: 'Choose two different models.' }); return; }
      await this.compare(m.float, m.quantized);
    }
  }

  dispose(): void { this.panel?.dispose(); }
}
