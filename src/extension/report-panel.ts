/** The report panel: one webview per model showing its analysis; restores after reload via a serializer. */
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { FromWebviewMessage } from '../shared/webview-messages';
import type { Recipe } from '../shared/recipe';
import { errorText, type Actions } from './actions';
import type { ModelStore } from './model-store';
import { recipePathFor } from './paths';
import { bootFor, post, registerPanelRestore, setWebviewHtml, webviewOptions } from './webview-setup';

/** Opens and keeps the report panels. */
export class ReportPanels implements vscode.Disposable {
  /** The panel's view type (also the serializer's). */
  static readonly viewType = 'quantlens.report';
  private readonly panels = new Map<string, vscode.WebviewPanel>();
  private readonly selectEmitter = new vscode.EventEmitter<{ model: string; layer: string }>();
  /** The user selected a layer in a panel. */
  readonly onSelectLayer = this.selectEmitter.event;
  private readonly disposables: vscode.Disposable[] = [];

  constructor(private readonly extensionUri: vscode.Uri, private readonly store: ModelStore, private readonly actions: Actions, private readonly openQat: (model: string) => void) {
    this.disposables.push(registerPanelRestore(ReportPanels.viewType, (model, column, ui) => this.create(model, column, ui)));
    this.disposables.push(store.onDidChange((c) => {
      const panel = this.panels.get(c.model);
      if (!panel) return;
      const s = store.get(c.model);
      if (c.what === 'layers' && c.layers) post(panel.webview, { type: 'layers', layers: c.layers });
      else if (c.what === 'report' && s.report) post(panel.webview, { type: 'report', report: s.report, final: true });
      else if (c.what === 'status') {
        post(panel.webview, { type: 'status', running: s.analyzing, message: s.progress?.message, percentage: s.progress?.percentage, error: s.error });
        // A cancelled or failed run leaves the previous report in place.
        if (!s.analyzing && s.error && s.report) post(panel.webview, { type: 'report', report: s.report, final: true });
      }
    }));
  }

  /** The panel of a model, if open. */
  panel(model: string): vscode.WebviewPanel | undefined { return this.panels.get(model); }

  /** Opens (or reveals) the report of a model, optionally revealing a layer. */
  show(model: string, layer?: string): vscode.WebviewPanel {
    let panel = this.panels.get(model);
    if (panel) panel.reveal(undefined, false);
    else panel = this.create(model, vscode.ViewColumn.Active);
    if (layer) post(panel.webview, { type: 'revealLayer', layer });
    return panel;
  }

  private create(model: string, column: vscode.ViewColumn | undefined, ui?: Record<string, unknown>): vscode.WebviewPanel {
    const existing = this.panels.get(model);
    if (existing) return existing;
    const panel = vscode.window.createWebviewPanel(ReportPanels.viewType, `Report: ${path.basename(model)}`, { viewColumn: column ?? vscode.ViewColumn.Active, preserveFocus: false }, { ...webviewOptions(this.extensionUri), enableFindWidget: true });
    this.panels.set(model, panel);
    panel.iconPath = vscode.Uri.joinPath(this.extensionUri, 'media', 'quantlens.svg');
    setWebviewHtml(panel.webview, this.extensionUri, bootFor('report', model, ui), panel.title);
    const subs = [
      panel.webview.onDidReceiveMessage((m: FromWebviewMessage) => void this.onMessage(panel, model, m)),
      panel.onDidDispose(() => { if (this.panels.get(model) === panel) this.panels.delete(model); subs.forEach((d) => d.dispose()); }),
    ];
    return panel;
  }

  private async onMessage(panel: vscode.WebviewPanel, model: string, m: FromWebviewMessage): Promise<void> {
    const w = panel.webview;
    switch (m.type) {
      case 'ready': {
        const s = this.store.get(model);
        const report = await this.store.report(model);
        if (report) post(w, { type: 'report', report, final: !s.analyzing });
        if (s.partial.length) post(w, { type: 'layers', layers: s.partial });
        post(w, { type: 'status', running: s.analyzing, message: s.progress?.message, percentage: s.progress?.percentage, error: s.error });
        break;
      }
      case 'analyze': void this.actions.analyze(model); break;
      case 'cancel': this.actions.cancel(`analyze:${model}`); break;
      case 'evaluate':
        try {
          const result = await this.actions.evaluate(model, m.recipe);
          post(w, { type: 'evaluation', requestId: m.requestId, keep: m.keep, result });
        } catch (e) {
          post(w, { type: 'evaluation', requestId: m.requestId, keep: m.keep, error: errorText(e) });
        }
        break;
      case 'export':
        try {
          const result = await this.actions.export(model, m.recipe);
          post(w, result ? { type: 'exportDone', result } : { type: 'exportDone', error: 'Export cancelled.' });
        } catch (e) {
          post(w, { type: 'exportDone', error: errorText(e) });
          void vscode.window.showErrorMessage(`QuantLens: export failed: ${errorText(e)}`);
        }
        break;
      case 'saveRecipe': {
        const file = await writeRecipe(model, m.recipe);
        post(w, { type: 'recipeSaved', path: file });
        void vscode.window.showTextDocument(vscode.Uri.file(file), { viewColumn: vscode.ViewColumn.Beside, preview: true, preserveFocus: true });
        break;
      }
      case 'runQat':
        this.openQat(model);
        void this.actions.runQat(model, { steps: m.steps, recipe: m.recipe });
        break;
      case 'selectLayer': this.selectEmitter.fire({ model, layer: m.layer }); break;
      case 'openReport': break;
    }
  }

  dispose(): void {
    for (const p of this.panels.values()) p.dispose();
    this.disposables.forEach((d) => d.dispose());
    this.selectEmitter.dispose();
  }
}

/** Writes a recipe beside the model (`model.qrecipe.json`), atomically, with the model path made relative. */
export async function writeRecipe(model: string, recipe: Recipe): Promise<string> {
  const file = recipePathFor(model);
  const out: Recipe = { ...recipe, model: path.basename(model) };
  const tmp = vscode.Uri.file(`${file}.tmp-${process.pid}`);
  await vscode.workspace.fs.writeFile(tmp, Buffer.from(JSON.stringify(out, null, 2) + '\n'));
  await vscode.workspace.fs.rename(tmp, vscode.Uri.file(file), { overwrite: true });
  return file;
}
