/** The report panel: one webview per model showing its analysis; restores after reload via a serializer. */
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { FromWebviewMessage } from '../shared/webview-messages';
import type { Recipe } from '../shared/recipe';
import { errorText, type Actions } from './actions';
import type { ModelStore } from './model-store';
import { recipePathFor } from './paths';
import type { SelectionHub } from './selection';
import type { Target } from '../shared/report';
import type { QuantLensSettings } from './settings';
import { bootFor, post, registerPanelRestore, setWebviewHtml, webviewOptions } from './webview-setup';

/** Opens and keeps the report panels. */
export class ReportPanels implements vscode.Disposable {
  /** The panel's view type (also the serializer's). */
  static readonly viewType = 'quantlens.report';
  private readonly panels = new Map<string, vscode.WebviewPanel>();
  private readonly disposables: vscode.Disposable[] = [];
  /** The last layer selected anywhere, per model: a page (re)loaded while hidden selects it on `ready`. */
  private readonly lastSelected = new Map<string, string>();
  /** A panel is writing the target to the settings (kind, then value): the half-written setting is not posted back. */
  private savingTarget = 0;

  constructor(private readonly extensionUri: vscode.Uri, private readonly store: ModelStore, private readonly actions: Actions, private readonly openQat: (model: string) => void, private readonly selection: SelectionHub, private readonly settings: () => QuantLensSettings) {
    // Kind and value change in two updates: tell the panels once both have landed.
    let timer: ReturnType<typeof setTimeout> | undefined;
    this.disposables.push(vscode.workspace.onDidChangeConfiguration((e) => {
      if (!e.affectsConfiguration('quantlens.recommendation') || this.savingTarget) return;
      if (timer) clearTimeout(timer);
      timer = setTimeout(() => { for (const p of this.panels.values()) post(p.webview, { type: 'target', target: this.settings().target }); }, 300);
    }), { dispose: () => { if (timer) clearTimeout(timer); } });
    this.disposables.push(selection.onSelect((e) => {
      this.lastSelected.set(e.model, e.layer);
      const p = this.panels.get(e.model);
      if (p && e.source !== 'report') post(p.webview, { type: 'revealLayer', layer: e.layer });
    }));
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
    if (panel) { panel.reveal(undefined, false); if (layer) post(panel.webview, { type: 'revealLayer', layer }); }
    // A new page cannot take messages yet: the layer to select goes into its boot data.
    else panel = this.create(model, vscode.ViewColumn.Active, layer ? { selected: layer } : undefined);
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
        post(w, { type: 'target', target: this.settings().target });
        const last = this.lastSelected.get(model);
        if (last) post(w, { type: 'revealLayer', layer: last });
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
          let recipe = m.recipe;
          if (m.missesTarget) {
            const choice = m.recommendedRecipe
              ? await vscode.window.showWarningMessage(`${m.missesTarget} Export it anyway?`, { modal: true, detail: 'The export writes exactly the selected layers. Export the recommendation instead to meet the target.' }, 'Export Selection', 'Export Recommendation')
              : await vscode.window.showWarningMessage(`${m.missesTarget} Export it anyway?`, { modal: true, detail: 'No measured configuration of these formats meets the target: this is the best reachable point. Change the target, or analyze with a more precise higher format.' }, 'Export Selection');
            if (!choice) { post(w, { type: 'exportDone', error: `Export cancelled: ${m.missesTarget}` }); break; }
            if (choice === 'Export Recommendation' && m.recommendedRecipe) recipe = m.recommendedRecipe;
          }
          const result = await this.actions.export(model, recipe);
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
      case 'selectLayer': this.selection.select({ model, layer: m.layer, source: 'report' }); break;
      case 'keptChanged': this.selection.setKept(model, m.keep); break;
      case 'setTarget':
        this.savingTarget++;
        try { await saveTarget(m.target); } finally { this.savingTarget--; }
        for (const p of this.panels.values()) if (p !== panel) post(p.webview, { type: 'target', target: this.settings().target });
        break;
      case 'openGraph': void vscode.commands.executeCommand('quantlens.openGraph', m.layer ? { model, layer: m.layer } : vscode.Uri.file(model)); break;
      case 'openReport': break;
    }
  }

  dispose(): void {
    for (const p of this.panels.values()) p.dispose();
    this.disposables.forEach((d) => d.dispose());
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

/** Stores a target set in the report panel in the settings (workspace when one is open), so the next analysis uses it. */
export async function saveTarget(t: Target): Promise<void> {
  const cfg = vscode.workspace.getConfiguration('quantlens');
  const where = vscode.workspace.workspaceFolders?.length ? vscode.ConfigurationTarget.Workspace : vscode.ConfigurationTarget.Global;
  await cfg.update('recommendation.target', t.kind, where);
  await cfg.update('recommendation.targetValue', t.value, where);
}
