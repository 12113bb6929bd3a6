/**
 * The QuantLens engine process: a language server for recipe files plus the `quant/*` requests, jobs and caches.
 * Started by the extension over IPC, or standalone with `node dist/engine.js --stdio`.
 */
import { createConnection, ProposedFeatures, TextDocuments, TextDocumentSyncKind, DidChangeConfigurationNotification } from 'vscode-languageserver/node';
import type { InitializeResult } from 'vscode-languageserver/node';
import { TextDocument } from 'vscode-languageserver-textdocument';
import type { EngineInitOptions } from '../shared/protocol';
import { Engine } from './engine';
import { registerRecipeFeatures } from './recipe-features';
import { registerQuantRequests } from './requests';

const connection = createConnection(ProposedFeatures.all);
const documents = new TextDocuments(TextDocument);
const engine = new Engine(connection);
registerQuantRequests(connection, engine);
// Recipe language features (diagnostics, completion, hover, actions) on `*.qrecipe.json` documents.
const recipeCapabilities = registerRecipeFeatures(connection, documents, engine);

connection.onInitialize((params): InitializeResult => {
  const options = (params.initializationOptions ?? {}) as EngineInitOptions;
  const env = process.env;
  engine.configure({
    ...options,
    memoryBudgetMB: options.memoryBudgetMB ?? numberOrUndefined(env.QUANTLENS_MEMORY_BUDGET_MB),
    threads: options.threads ?? numberOrUndefined(env.QUANTLENS_THREADS),
    stepFile: options.stepFile ?? env.QUANTLENS_STEP_FILE,
  });
  return {
    capabilities: { textDocumentSync: TextDocumentSyncKind.Incremental, ...recipeCapabilities },
    serverInfo: { name: 'quantlens-engine', version: '0.1.0' },
  };
});

connection.onInitialized(() => {
  // Ask for the `quantlens` settings when the client supports pulling them.
  void connection.workspace.getConfiguration('quantlens').then((s) => engine.applySettings(s), () => {});
  void connection.client.register(DidChangeConfigurationNotification.type, { section: 'quantlens' }).catch(() => {});
});

connection.onDidChangeConfiguration((change) => {
  const s = (change.settings as { quantlens?: EngineInitOptions } | undefined)?.quantlens;
  if (s) engine.applySettings(s);
  else void connection.workspace.getConfiguration('quantlens').then((c) => engine.applySettings(c), () => {});
});

connection.onShutdown(async () => {
  await engine.dispose();
});

process.on('uncaughtException', (e) => {
  connection.console.error(`engine uncaught exception: ${e?.stack ?? e}`);
});
process.on('unhandledRejection', (e) => {
  connection.console.error(`engine unhandled rejection: ${(e as Error)?.stack ?? e}`);
});

documents.listen(connection);
connection.listen();

function numberOrUndefined(v: string | undefined): number | undefined {
  const n = Number(v);
  return v && Number.isFinite(n) && n > 0 ? n : undefined;
}
