/** The QuantLens commands and how they find their model from whatever invoked them (palette, menus, code lenses, tree). */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { CancelJobNotification, type JobInfo } from '../shared/protocol';
import { errorText, type Actions } from './actions';
import type { EngineClient } from './engine-client';
import { jobLabel } from './job-status';
import type { ModelEditorProvider } from './model-editor';
import type { ModelStore } from './model-store';
import { asLayerRef, exportPathFor, isModelPath, isRecipePath, modelFromRecipeText } from './paths';
import type { QatPanels } from './qat-panel';
import type { ReportPanels } from './report-panel';
import type { SelectionHub } from './selection';
import type { ComparePanel } from './compare-panel';
import { GraphEditorProvider } from './graph-editor';

/** What the commands need. */
export interface CommandDeps {
  engine: EngineClient;
  store: ModelStore;
  actions: Actions;
  reports: ReportPanels;
  qat: QatPanels;
  editor: ModelEditorProvider;
  selection: SelectionHub;
  compare: ComparePanel;
}

/** Resolves a command argument to a model path; asks the user when nothing names one. */
export async function resolveModel(arg: unknown, deps: Pick<CommandDeps, 'editor'>): Promise<string | undefined> {
  let p: string | undefined;
  if (arg instanceof vscode.Uri) p = arg.fsPath;
  else if (typeof arg === 'string') p = arg.startsWith('file:') ? vscode.Uri.parse(arg).fsPath : arg;
  else if (arg && typeof arg === 'object' && typeof (arg as { model?: unknown }).model === 'string') p = (arg as { model: string }).model;
  else if (arg && typeof arg === 'object' && (arg as { model?: unknown }).model instanceof vscode.Uri) p = ((arg as { model: vscode.Uri }).model).fsPath;
  if (p && isRecipePath(p)) {
    const text = await fs.promises.readFile(p, 'utf8').catch(() => '');
    const m = modelFromRecipeText(p, text);
    if (!m) { void vscode.window.showErrorMessage(`QuantLens: ${path.basename(p)} names no model.`); return undefined; }
    return m;
  }
  if (p) return p;
  if (deps.editor.activeModel) return deps.editor.activeModel;
  const doc = vscode.window.activeTextEditor?.document.uri;
  if (doc?.scheme === 'file' && (isModelPath(doc.fsPath) || isRecipePath(doc.fsPath))) return resolveModel(doc, deps);
  const files = await vscode.workspace.findFiles('**/*.onnx', '**/node_modules/**', 200);
  if (files.length === 1) return files[0].fsPath;
  if (!files.length) {
    const pick = await vscode.window.showOpenDialog({ canSelectMany: false, filters: { 'ONNX models': ['onnx'] }, title: 'QuantLens: choose a model' });
    return pick?.[0]?.fsPath;
  }
  const picked = await vscode.window.showQuickPick(files.map((f) => ({ label: vscode.workspace.asRelativePath(f), uri: f })), { placeHolder: 'Choose a model' });
  return picked?.uri.fsPath;
}

/** The recipe file a command argument names (a recipe URI or path from a code lens or the explorer), if any. */
export function recipeFromArg(arg: unknown): string | undefined {
  let p: string | undefined;
  if (arg instanceof vscode.Uri) p = arg.fsPath;
  else if (typeof arg === 'string') p = arg.startsWith('file:') ? vscode.Uri.parse(arg).fsPath : arg;
  else {
    const doc = vscode.window.activeTextEditor?.document.uri;
    if (arg === undefined && doc?.scheme === 'file' && isRecipePath(doc.fsPath)) p = doc.fsPath;
  }
  return p && isRecipePath(p) ? p : undefined;
}

/** Registers every command. */
export function registerCommands(context: vscode.ExtensionContext, deps: CommandDeps): void {
  const { actions, reports, qat, store, engine } = deps;
  const reg = (id: string, fn: (...args: unknown[]) => unknown) => context.subscriptions.push(vscode.commands.registerCommand(id, async (...args: unknown[]) => {
    try { return await fn(...args); } catch (e) { void vscode.window.showErrorMessage(`QuantLens: ${errorText(e)}`); return undefined; }
  }));

  reg('quantlens.analyze', async (arg) => {
    const model = await resolveModel(arg, deps);
    if (!model) return;
    reports.show(model);
    await actions.analyze(model, recipeFromArg(arg));
  });
  reg('quantlens.openReport', async (arg) => {
    const model = await resolveModel(arg, deps);
    if (!model) return;
    const ref = asLayerRef(arg);
    reports.show(model, ref?.layer);
    if (!(await store.report(model)) && !store.get(model).analyzing) {
      const a = await vscode.window.showInformationMessage(`No analysis of ${path.basename(model)} yet.`, 'Analyze Model');
      if (a) await actions.analyze(model);
    }
  });
  reg('quantlens.runQat', async (arg) => {
    const model = await resolveModel(arg, deps);
    if (!model) return;
    qat.show(model);
    return actions.runQat(model, { recipe: recipeFromArg(arg) });
  });
  reg('quantlens.export', async (arg) => {
    const model = await resolveModel(arg, deps);
    if (!model) return;
    const recipe = recipeFromArg(arg) ?? actions.recipeFor(model) ?? store.get(model).report?.recommendation?.recipe;
    return actions.export(model, recipe);
  });
  reg('quantlens.showLayer', async (arg) => {
    const ref = asLayerRef(arg) ?? (arg && typeof arg === 'object' && 'name' in arg && 'model' in arg ? { model: String((arg as { model: string }).model), layer: String((arg as { name: string }).name) } : undefined);
    if (!ref) { void vscode.window.showWarningMessage('QuantLens: Show Layer needs a model and a layer name.'); return; }
    reports.show(ref.model);
    deps.selection.select({ model: ref.model, layer: ref.layer, source: 'command' });
  });
  reg('quantlens.openGraph', async (arg) => {
    const model = await resolveModel(arg, deps);
    if (!model) return;
    await vscode.commands.executeCommand('vscode.openWith', vscode.Uri.file(model), GraphEditorProvider.viewType, vscode.ViewColumn.Beside);
    const ref = asLayerRef(arg);
    if (ref) setTimeout(() => deps.selection.select({ model, layer: ref.layer, source: 'command' }), 500);
  });
  reg('quantlens.cancelJob', async (arg) => {
    const job = arg && typeof arg === 'object' && 'id' in arg ? (arg as JobInfo) : undefined;
    if (job) { await engine.notify(CancelJobNotification, { id: job.id }); return; }
    type JobPick = vscode.QuickPickItem & { key?: string; id?: string };
    const local: JobPick[] = actions.runningKeys().map((k) => ({ label: `${k.slice(0, k.indexOf(':'))} ${path.basename(k.slice(k.indexOf(':') + 1))}`, key: k }));
    const remote: JobPick[] = engine.jobs.map((j) => ({ label: jobLabel(j), id: j.id }));
    const items = local.length ? local : remote;
    if (!items.length) { void vscode.window.showInformationMessage('QuantLens: no job is running.'); return; }
    const pick = items.length === 1 ? items[0] : await vscode.window.showQuickPick<JobPick>(items, { placeHolder: 'Cancel which job?' });
    if (!pick) return;
    if (pick.key) actions.cancel(pick.key);
    else if (pick.id) await engine.notify(CancelJobNotification, { id: pick.id });
  });
  reg('quantlens.compareModels', async (arg) => {
    const float = await resolveModel(arg, deps);
    if (!float) return;
    const guess = exportPathFor(float);
    // The panel lists the workspace's models to choose from; with the export beside the model it compares at once.
    await deps.compare.show(float, fs.existsSync(guess) ? guess : undefined);
  });
}
