/** QuantLens extension entry: starts the engine client and wires commands, the model view, sidebar, panels and status bar. */
import * as vscode from 'vscode';
import { Actions } from './actions';
import { registerCommands } from './commands';
import { EngineClient } from './engine-client';
import { statusText } from './job-status';
import { ModelEditorProvider } from './model-editor';
import { ModelStore } from './model-store';
import { QatPanels } from './qat-panel';
import { ReportPanels } from './report-panel';
import { readSettings } from './settings';
import { JobsTree, ModelsTree, type ModelNode } from './sidebar';
import { GraphEditorProvider } from './graph-editor';
import { recipePathFor } from './paths';
import { revealInRecipeEditors, SelectionHub } from './selection';
import { trackWorkspaceModels } from './workspace-models';
import { ComparePanel } from './compare-panel';

let engine: EngineClient | undefined;

/** Called by VS Code on the first QuantLens command, model view or recipe file. */
export function activate(context: vscode.ExtensionContext): { engine: EngineClient; store: ModelStore } {
  const settings = () => readSettings((key) => vscode.workspace.getConfiguration('quantlens').get(key));
  const output = vscode.window.createOutputChannel('QuantLens', { log: true });
  engine = new EngineClient(context, settings, output);
  const store = new ModelStore((context.storageUri ?? context.globalStorageUri).fsPath);
  const actions = new Actions(engine, store, settings);
  const qat = new QatPanels(context.extensionUri, actions, engine);
  const selection = new SelectionHub();
  const reports = new ReportPanels(context.extensionUri, store, actions, (m) => qat.show(m), selection, settings);
  const graphs = new GraphEditorProvider(context.extensionUri, engine, store, selection, (m, layer) => reports.show(m, layer));
  const editor = new ModelEditorProvider(context.extensionUri, engine, store, actions, {
    openReport: (m, layer) => reports.show(m, layer),
    openQat: (m) => qat.show(m),
    export: (m) => void vscode.commands.executeCommand('quantlens.export', vscode.Uri.file(m)),
  });
  const compare = new ComparePanel(context.extensionUri, actions);
  const models = new ModelsTree(store);
  const modelsView = vscode.window.createTreeView<ModelNode>('quantlens.models', { treeDataProvider: models, showCollapseAll: true });
  const jobs = new JobsTree(engine);
  const status = vscode.window.createStatusBarItem('quantlens.jobs', vscode.StatusBarAlignment.Left, 10);
  status.name = 'QuantLens Jobs';
  status.command = 'quantlens.cancelJob';
  const updateStatus = () => {
    const local = actions.runningKeys();
    const text = statusText(engine!.jobs.filter((j) => j.kind !== 'inspect')) ?? (local.length ? `$(sync~spin) QuantLens: ${local.length === 1 ? local[0].split(':')[0] : `${local.length} jobs`}` : undefined);
    if (text) { status.text = text; status.tooltip = 'QuantLens jobs running — click to cancel one'; status.show(); } else status.hide();
  };

  context.subscriptions.push(
    trackWorkspaceModels(store),
    output, engine, store, selection, compare, graphs, actions, qat, reports, models, modelsView, jobs, status,
    vscode.window.registerCustomEditorProvider(ModelEditorProvider.viewType, editor, { webviewOptions: { enableFindWidget: true }, supportsMultipleEditorsPerDocument: true }),
    vscode.window.registerCustomEditorProvider(GraphEditorProvider.viewType, graphs, { webviewOptions: { retainContextWhenHidden: true }, supportsMultipleEditorsPerDocument: true }),
    vscode.window.registerTreeDataProvider('quantlens.jobs', jobs),
    engine.onJobs(updateStatus),
    actions.onDidChangeRunning(updateStatus),
    selection.onSelect(({ model, layer, source }) => { if (source !== 'sidebar') revealLayerInTree(model, layer); revealInRecipeEditors(recipePathFor(model), layer); }),
    store.onDidChange((c) => { if (c.what === 'info' || c.what === 'report') void vscode.commands.executeCommand('setContext', 'quantlens.hasModels', store.all().length > 0); }),
  );

  function revealLayerInTree(model: string, layer: string): void {
    if (!modelsView.visible) return;
    const node = models.layerNode(model, layer);
    if (node) void Promise.resolve(modelsView.reveal(node, { select: true, focus: false, expand: true })).catch(() => undefined);
  }

  registerCommands(context, { engine, store, actions, reports, qat, editor, selection, compare });
  // Recipe files get language features from the engine: start it when one is open.
  if (vscode.workspace.textDocuments.some((d) => d.fileName.endsWith('.qrecipe.json'))) void engine.ready().catch(() => undefined);
  context.subscriptions.push(vscode.workspace.onDidOpenTextDocument((d) => { if (d.fileName.endsWith('.qrecipe.json')) void engine!.ready().catch(() => undefined); }));
  return { engine, store };
}

/** Stops the engine. */
export async function deactivate(): Promise<void> {
  await engine?.stop();
}
