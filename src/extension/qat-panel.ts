/** The QAT panel: live loss/accuracy curves, step and ETA, cancel, before/after. One per model; restores after reload. */
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { QatProgress } from '../shared/protocol';
import type { FromWebviewMessage, ToWebviewMessage } from '../shared/webview-messages';
import type { Actions, QatEvent } from './actions';
import type { EngineClient } from './engine-client';
import { bootFor, post, registerPanelRestore, setWebviewHtml, webviewOptions } from './webview-setup';

function samePath(a: string, b: string): boolean {
  return path.resolve(a) === path.resolve(b);
}

/** Opens and feeds the QAT panels. */
export class QatPanels implements vscode.Disposable {
  /** The panel's view type (also the serializer's). */
  static readonly viewType = 'quantlens.qat';
  private readonly panels = new Map<string, vscode.WebviewPanel>();
  /** Messages kept per model so a panel opened or restored mid-run catches up. */
  private readonly history = new Map<string, ToWebviewMessage[]>();
  private readonly disposables: vscode.Disposable[] = [];
  private readonly jobModel = new Map<string, string>();

  constructor(private readonly extensionUri: vscode.Uri, private readonly actions: Actions, engine: EngineClient) {
    this.disposables.push(
      registerPanelRestore(QatPanels.viewType, (model, column, ui) => this.create(model, column, ui)),
      actions.onQat((e) => this.onQat(e)),
      engine.onJobs((jobs) => { for (const j of jobs) if (j.kind === 'qat') this.jobModel.set(j.id, j.model); }),
      engine.onQatProgress((p) => this.onPoint(p)),
    );
  }

  /** Opens (or reveals) the QAT panel of a model. */
  show(model: string): vscode.WebviewPanel {
    const panel = this.panels.get(model);
    if (panel) { panel.reveal(undefined, true); return panel; }
    return this.create(model, vscode.ViewColumn.Beside);
  }

  private create(model: string, column: vscode.ViewColumn | undefined, ui?: Record<string, unknown>): vscode.WebviewPanel {
    const existing = this.panels.get(model);
    if (existing) return existing;
    const panel = vscode.window.createWebviewPanel(QatPanels.viewType, `QAT: ${path.basename(model)}`, { viewColumn: column ?? vscode.ViewColumn.Beside, preserveFocus: true }, webviewOptions(this.extensionUri));
    this.attach(panel, model, ui);
    return panel;
  }

  private record(model: string, m: ToWebviewMessage): void {
    let h = this.history.get(model);
    if (!h || m.type === 'qatStarted') { h = []; this.history.set(model, h); }
    h.push(m);
    if (h.length > 20000) h.splice(1, h.length - 20000);
    const panel = this.panels.get(model);
    if (panel) post(panel.webview, m);
  }

  private onQat(e: QatEvent): void {
    if (e.kind === 'started') { this.show(e.model); this.record(e.model, { type: 'qatStarted', output: e.output, totalSteps: e.totalSteps }); }
    else if (e.kind === 'done') this.record(e.model, { type: 'qatDone', result: e.result });
    else this.record(e.model, { type: 'qatError', message: e.message, cancelled: e.cancelled });
  }

  private onPoint(p: QatProgress): void {
    let model: string | undefined = p.model || this.jobModel.get(p.jobId);
    if (model && !this.history.has(model)) model = [...this.history.keys()].find((m) => samePath(m, model!)) ?? model;
    if (!model) {
      const running = [...this.history.keys()].filter((m) => this.actions.isRunning(`qat:${m}`));
      if (running.length === 1) model = running[0];
    }
    if (model) this.record(model, { type: 'qatPoint', point: p });
  }

  private attach(panel: vscode.WebviewPanel, model: string, ui?: Record<string, unknown>): void {
    this.panels.set(model, panel);
    panel.iconPath = vscode.Uri.joinPath(this.extensionUri, 'media', 'quantlens.svg');
    setWebviewHtml(panel.webview, this.extensionUri, bootFor('qat', model, ui), panel.title);
    const subs = [
      panel.webview.onDidReceiveMessage((m: FromWebviewMessage) => {
        if (m.type === 'ready') for (const h of this.history.get(model) ?? []) post(panel.webview, h);
        else if (m.type === 'cancel') this.actions.cancel(`qat:${model}`);
        else if (m.type === 'runQat') void this.actions.runQat(model, { steps: m.steps, recipe: m.recipe });
      }),
      panel.onDidDispose(() => { if (this.panels.get(model) === panel) this.panels.delete(model); subs.forEach((d) => d.dispose()); }),
    ];
  }

  dispose(): void {
    for (const p of this.panels.values()) p.dispose();
    this.disposables.forEach((d) => d.dispose());
  }
}
