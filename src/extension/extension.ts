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

let engine: EngineClient | undefined;

/** Called by VS Code on the first QuantLens command, model view or recipe file. */
export function activate(context: vscode.ExtensionContext): { engine: EngineClient; store: ModelStore } {
  const settings = () => readSettings((key) => vscode.workspace.getConfiguration('quantlens').get(key));
  const output = vscode.window.createOutputChannel('QuantLens', { log: true });
  engine = new EngineClient(context, settings, output);
  const store = new ModelStore((context.storageUri ?? context.globalStorageUri).fsPath);
  const actions = new Actions(engine, store, settings);
  const qat = new QatPanels(context.extensionUri, actions, engine);
  const reports = new ReportPanels(context.extensionUri, store, actions, (m) => qat.show(m));
  const editor = new ModelEditorProvider(context.extensionUri, engine, store, actions, {
    openReport: (m, layer) => reports.show(m, layer),
    openQat: (m) => qat.show(m),
    export: (m) => void vscode.commands.executeCommand('quantlens.export', vscode.Uri.file(m)),
  });
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
    output, engine, store, actions, qat, reports, models, modelsView, jobs, status,
    vscode.window.registerCustomEditorProvider(ModelEditorProvider.viewType, editor, { webviewOptions: { enableFindWidget: true }, supportsMultipleEditorsPerDocument: true }),
    vscode.window.registerTreeDataProvider('quantlens.jobs', jobs),
    engine.onJobs(updateStatus),
    actions.onDidChangeRunning(updateStatus),
    reports.onSelectLayer(({ model, layer }) => revealLayerInTree(model, layer)),
    store.onDidChange((c) => { if (c.what === 'info' || c.what === 'report') void vscode.commands.executeCommand('setContext', 'quantlens.hasModels', store.all().length > 0); }),
  );

  function revealLayerInTree(model: string, layer: string): void {
    if (!modelsView.visible) return;
    const node = models.layerNode(model, layer);
    if (node) void Promise.resolve(modelsView.reveal(node, { select: true, focus: false, expand: true })).catch(() => undefined);
  }

  registerCommands(context, { engine, store, actions, reports, qat, editor, revealLayerInTree });
  // Recipe files get language features from the engine: start it when one is open.
  if (vscode.workspace.textDocuments.some((d) => d.fileName.endsWith('.qrecipe.json'))) void engine.ready().catch(() => undefined);
  context.subscriptions.push(vscode.workspace.onDidOpenTextDocument((d) => { if (d.fileName.endsWith('.qrecipe.json')) void engine!.ready().catch(() => undefined); }));
  return { engine, store };
}

/** Stops the engine. */
export async function deactivate(): Promise<void> {
  await engine?.stop();
}
