/** The QuantLens commands and how they find their model from whatever invoked them (palette, menus, code lenses, tree). */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { CancelJobNotification, type JobInfo, type TensorComparison } from '../shared/protocol';
import type { EndToEndMetrics } from '../shared/report';
import { errorText, type Actions } from './actions';
import type { EngineClient } from './engine-client';
import { jobLabel } from './job-status';
import type { ModelEditorProvider } from './model-editor';
import type { ModelStore } from './model-store';
import { asLayerRef, exportPathFor, isModelPath, isRecipePath, modelFromRecipeText } from './paths';
import type { QatPanels } from './qat-panel';
import type { ReportPanels } from './report-panel';

/** What the commands need. */
export interface CommandDeps {
  engine: EngineClient;
  store: ModelStore;
  actions: Actions;
  reports: ReportPanels;
  qat: QatPanels;
  editor: ModelEditorProvider;
  revealLayerInTree: (model: string, layer: string) => void;
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
    reports.show(ref.model, ref.layer);
    deps.revealLayerInTree(ref.model, ref.layer);
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
    const quantized = fs.existsSync(guess) ? guess : (await vscode.window.showOpenDialog({ canSelectMany: false, filters: { 'ONNX models': ['onnx'] }, title: 'Quantized model to compare with' }))?.[0]?.fsPath;
    if (!quantized) return;
    const r = await actions.compare({ float, quantized });
    if (!r) return;
    const doc = await vscode.workspace.openTextDocument({ language: 'markdown', content: compareMarkdown(float, quantized, r.tensors, r.outputs) });
    await vscode.window.showTextDocument(doc, { preview: true });
  });
}

/** A comparison as a Markdown table, worst tensors first. */
export function compareMarkdown(float: string, quantized: string, tensors: TensorComparison[], outputs: EndToEndMetrics): string {
  const rows = tensors.slice().sort((a, b) => a.sqnrDb - b.sqnrDb)
    .map((t) => `| \`${t.tensor}\` | ${t.producer} | ${t.sqnrDb.toFixed(1)} | ${t.cosine.toFixed(4)} | ${t.maxAbsDiff.toPrecision(3)} |`);
  return [
    `# ${path.basename(float)} vs ${path.basename(quantized)}`,
    '',
    `Outputs: SQNR ${outputs.sqnrDb.toFixed(1)} dB, cosine ${outputs.cosine.toFixed(4)}${outputs.top1Agreement !== undefined ? `, top-1 agreement ${(outputs.top1Agreement * 100).toFixed(1)}%` : ''}`,
    '',
    '| tensor | producer | SQNR dB | cosine | max abs diff |',
    '|---|---|---:|---:|---:|',
    ...rows,
    '',
  ].join('\n');
}
